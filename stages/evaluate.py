"""DVC stage `evaluate`: metrics/evaluate.json (prior, base models, ensemble; floor on synthetic
data), plots under reports/plots/ and reports/summary.md. Usage: python stages/evaluate.py"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from hms.errors import run_stage
from hms.logs import setup_logging
from hms.params import read_params
from hms.report.evaluate import evaluate

PARAMS = ("data.dir", "models")


def main() -> None:
    setup_logging()
    p = read_params(PARAMS)
    train = pd.read_parquet(Path("data/prepared/train.parquet"))
    evaluate(train, list(p["models"]), Path("predictions"), Path("models/ensemble/blender.json"),
             Path(p["data"]["dir"]), Path("submission.csv"))


if __name__ == "__main__":
    run_stage(main)

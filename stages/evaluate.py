"""DVC stage `evaluate`: metrics/evaluate.json (prior, base models, ensemble; floor on synthetic
data), plots under reports/plots/ and reports/summary.md. Usage: python stages/evaluate.py"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from hms.ensemble import stack_config
from hms.logs import setup_logging
from hms.params import load_params
from hms.report.evaluate import evaluate


def main() -> None:
    setup_logging()
    params = load_params()
    cfg = stack_config(params.get("stack"))
    train = pd.read_parquet(Path("data/prepared/train.parquet"))
    evaluate(train, ["prior", *cfg.models, "ensemble"], Path("predictions"), Path("models/ensemble/blender.json"),
             Path(params["data"]["dir"]), Path("submission.csv"))


if __name__ == "__main__":
    main()

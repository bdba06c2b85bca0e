"""DVC stage `stack`: nested-CV score of the blender on the base models' OOF predictions, then the
blender fitted on all OOF rows and applied to their test predictions. Usage: python stages/stack.py"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from hms.ensemble import blended_models, run_stack, stack_config, write_stack
from hms.errors import run_stage
from hms.logs import setup_logging
from hms.params import read_params

PARAMS = ("models", "stack")
PREPARED = Path("data/prepared")


def main() -> None:
    setup_logging()
    p = read_params(PARAMS)
    cfg = stack_config(p["stack"])
    models = blended_models(cfg, list(p["models"]))
    train = pd.read_parquet(PREPARED / "train.parquet")
    test = pd.read_parquet(PREPARED / "test.parquet")
    result = run_stack(cfg, models, train, test, Path("predictions/base"))
    write_stack(result, Path("predictions/ensemble"), Path("models/ensemble"), Path("metrics/ensemble.json"))


if __name__ == "__main__":
    run_stage(main)

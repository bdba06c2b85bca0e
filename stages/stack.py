"""DVC stage `stack`: nested-CV score of the blender on the base models' OOF predictions, then the
blender fitted on all OOF rows and applied to their test predictions. Usage: python stages/stack.py"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from hms.ensemble import run_stack, stack_config, write_stack
from hms.logs import setup_logging
from hms.params import load_params

PREPARED = Path("data/prepared")


def main() -> None:
    log = setup_logging()
    cfg = stack_config(load_params().get("stack"))
    train = pd.read_parquet(PREPARED / "train.parquet")
    test = pd.read_parquet(PREPARED / "test.parquet")
    result = run_stack(cfg, train, test, Path("predictions"))
    write_stack(result, Path("predictions/ensemble"), Path("models/ensemble"), Path("metrics/ensemble.json"))
    log.info("ensemble (%s): kl_all=%s kl_hq=%s (nested CV); weights %s", cfg.blender, result.metrics["kl_all"],
             result.metrics["kl_hq"], {k: round(v, 3) for k, v in result.metrics["weights"].items()})


if __name__ == "__main__":
    main()

"""DVC stage `baseline`: class-prior OOF and test predictions plus their CV metrics.
Usage: python stages/baseline.py"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from hms.errors import run_stage
from hms.io import write_json
from hms.logs import setup_logging
from hms.metrics import score_predictions
from hms.predictions import write_model_predictions
from hms.prior import prior_oof, prior_test

PARAMS: tuple[str, ...] = ()
PREPARED = Path("data/prepared")
PRED = Path("predictions/prior")


def main() -> None:
    log = setup_logging()
    train = pd.read_parquet(PREPARED / "train.parquet")
    test = pd.read_parquet(PREPARED / "test.parquet")
    oof = write_model_predictions(train, test, prior_oof(train), prior_test(train, len(test)), PRED)
    report = score_predictions(train, oof)
    write_json(report, Path("metrics/prior.json"))
    log.info("prior: kl_all=%s kl_hq=%s", report["kl_all"], report["kl_hq"])


if __name__ == "__main__":
    run_stage(main)

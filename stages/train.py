"""DVC stage `train@NAME`: fit one base model on the shared folds and write its OOF and test
predictions, fold models and metrics. Usage: python stages/train.py NAME"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pandas as pd

from hms.io import write_json
from hms.logs import setup_logging
from hms.metrics import score_predictions
from hms.models.registry import fitter, get_spec
from hms.params import load_params
from hms.predictions import oof_frame, test_frame, write_predictions

PREPARED = Path("data/prepared")


def main(name: str) -> None:
    log = setup_logging()
    spec = get_spec(name)
    params = load_params()
    train = pd.read_parquet(PREPARED / "train.parquet")
    test = pd.read_parquet(PREPARED / "test.parquet")
    start = time.perf_counter()
    result = fitter(name)(name, params, train, test, Path("features") / spec.features, Path("models") / name)
    seconds = time.perf_counter() - start
    oof = oof_frame(train, result.oof)
    write_predictions(oof, Path("predictions") / name / "oof.parquet")
    write_predictions(test_frame(test["eeg_id"].to_numpy(), result.test), Path("predictions") / name / "test.parquet")
    report = {**score_predictions(train, oof), "train_seconds": round(seconds, 1), **result.extra}
    write_json(report, Path("metrics") / f"{name}.json")
    log.info("%s: kl_all=%s kl_hq=%s (%.0f s)", name, report["kl_all"], report["kl_hq"], seconds)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python stages/train.py MODEL_NAME")
    main(sys.argv[1])

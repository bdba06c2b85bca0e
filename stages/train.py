"""DVC stage `train@NAME`: cross-validate base model NAME (hms/models/NAME.py) on the shared folds
and write its fold models, OOF and test predictions, metrics and curves.
Usage: python stages/train.py NAME"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pandas as pd

from hms.errors import run_stage
from hms.io import write_json
from hms.logs import setup_logging
from hms.metrics import score_predictions
from hms.models.registry import get_spec
from hms.params import read_params
from hms.predictions import oof_frame, test_frame, write_predictions
from hms.report.curves import write_curves
from hms.train.crossval import cross_validate

PREPARED = Path("data/prepared")
log = logging.getLogger("hms")


def params_keys(name: str) -> tuple[str, ...]:
    """The keys dvc.yaml declares for train@NAME: the seed, the model's family block and its own block."""
    return ("seed", get_spec(name).family, name)


def main(name: str) -> None:
    setup_logging()
    spec = get_spec(name)
    p = read_params(params_keys(name))
    cfg = spec.config(p[spec.family], p[name])
    train = pd.read_parquet(PREPARED / "train.parquet")
    test = pd.read_parquet(PREPARED / "test.parquet")
    result = cross_validate(spec, cfg, p["seed"], train, test, Path("features") / spec.features, Path("models") / name,
                            live_dir=Path("dvclive") / name)
    oof = oof_frame(train, result.oof)
    write_predictions(oof, Path("predictions/base") / name / "oof.parquet")
    write_predictions(test_frame(test["eeg_id"].to_numpy(), result.test), Path("predictions/base") / name / "test.parquet")
    report = score_predictions(train, oof)
    write_json(report, Path("metrics") / f"{name}.json")
    write_curves(result.curves, name, Path("reports/curves"))
    log.info("%s: kl_all=%s kl_hq=%s (folds reused from the cache: %s)", name, report["kl_all"], report["kl_hq"],
             result.resumed or "none")


if __name__ == "__main__":
    run_stage(main, sys.argv[1] if len(sys.argv) > 1 else "")

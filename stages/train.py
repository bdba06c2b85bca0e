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
from hms.metrics import score_predictions, warn_outlier_folds
from hms.models.registry import get_spec
from hms.params import read_params, to_dataclass
from hms.predictions import write_model_predictions
from hms.report.curves import write_curves
from hms.train.crossval import cross_validate
from hms.train.tracking import TrackingConfig

PREPARED = Path("data/prepared")
log = logging.getLogger("hms")


def params_keys(name: str) -> tuple[str, ...]:
    """The keys dvc.yaml declares for train@NAME: the seed, the model's family block and its own block,
    and `tracking` (how the run is watched; not part of the model's config)."""
    return ("seed", get_spec(name).family, name, "tracking")


def main(name: str) -> None:
    setup_logging()
    spec = get_spec(name)
    p = read_params(params_keys(name))
    cfg = spec.config(p[spec.family], p[name])
    tracking = to_dataclass(TrackingConfig, p["tracking"], "tracking")
    train = pd.read_parquet(PREPARED / "train.parquet")
    test = pd.read_parquet(PREPARED / "test.parquet")
    result = cross_validate(spec, cfg, p["seed"], train, test, Path("features") / spec.features, Path("models") / name,
                            live_dir=Path("dvclive") / name, tracking=tracking)
    oof = write_model_predictions(train, test, result.oof, result.test, Path("predictions/base") / name)
    report = score_predictions(train, oof)
    write_json(report, Path("metrics") / f"{name}.json")
    write_curves(result.curves, name, Path("reports/curves"))
    log.info("%s: kl_all=%s kl_hq=%s (folds reused from the cache: %s)", name, report["kl_all"], report["kl_hq"],
             result.resumed or "none")
    warn_outlier_folds(name, report)


if __name__ == "__main__":
    run_stage(main, sys.argv[1] if len(sys.argv) > 1 else "")

"""DVC stage `features@KIND`: build one feature representation (tabular, mosaic or waves) for the
train and test splits of the prepared tables. Usage: python stages/features.py KIND"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from hms.data.layout import DataDir
from hms.errors import ConfigError, run_stage
from hms.features.build import FEATURE_KINDS, build_features
from hms.logs import setup_logging
from hms.params import read_params

PREPARED = Path("data/prepared")


def params_keys(kind: str) -> tuple[str, ...]:
    return ("data.dir", "features.workers", "features.signal", f"features.{kind}")


def main(kind: str) -> None:
    setup_logging()
    if kind not in FEATURE_KINDS:
        raise ConfigError(f"unknown feature kind {kind!r}; usage: python stages/features.py {{{'|'.join(FEATURE_KINDS)}}}")
    p = read_params(params_keys(kind))
    feats = p["features"]
    data = DataDir(p["data"]["dir"])
    for split in ("train", "test"):
        samples = pd.read_parquet(PREPARED / f"{split}.parquet")
        build_features(kind, data, split, samples, feats, Path("features") / kind, workers=int(feats["workers"]))


if __name__ == "__main__":
    run_stage(main, sys.argv[1] if len(sys.argv) > 1 else "")

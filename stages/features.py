"""DVC stage `features@KIND`: build one feature representation (tabular, mosaic or waves) for the
train and test splits of the prepared tables. Usage: python stages/features.py KIND"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from hms.data.layout import DataDir
from hms.features.build import FEATURE_KINDS, build_features
from hms.logs import setup_logging
from hms.params import load_params

PREPARED = Path("data/prepared")


def main(kind: str) -> None:
    setup_logging()
    params = load_params()
    feats = params["features"]
    data = DataDir(params["data"]["dir"])
    for split in ("train", "test"):
        samples = pd.read_parquet(PREPARED / f"{split}.parquet")
        build_features(kind, data, split, samples, feats, Path("features") / kind, workers=int(feats.get("workers", 2)))


if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in FEATURE_KINDS:
        sys.exit(f"usage: python stages/features.py {{{'|'.join(FEATURE_KINDS)}}}")
    main(sys.argv[1])

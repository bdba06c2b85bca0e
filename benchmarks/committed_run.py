"""What the benchmarks that retrain base models on a finished run read from it (learning_curve.py,
seed_spread.py): its params, its prepared tables with their folds and its features, each path from
the command line."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pandas as pd

from hms.params import load_params

REPO = Path(__file__).resolve().parents[1]


def add_run_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--models", nargs="+", default=None, help="default: every model of params.yaml `models`")
    ap.add_argument("--params", type=Path, default=REPO / "params.yaml")
    ap.add_argument("--features-root", type=Path, default=Path("features"))
    ap.add_argument("--prepared", type=Path, default=Path("data/prepared"))


def read_run(args: argparse.Namespace) -> tuple[dict[str, Any], list[str], pd.DataFrame, pd.DataFrame]:
    """(params, the models asked for, prepared train, prepared test)."""
    params = load_params(args.params)
    models = args.models or list(params["models"])
    return (params, models, pd.read_parquet(args.prepared / "train.parquet"),
            pd.read_parquet(args.prepared / "test.parquet"))


def read_metrics(name: str) -> dict[str, Any]:
    """The run's metrics/<name>.json (a base model or the ensemble)."""
    return json.loads(Path(f"metrics/{name}.json").read_text())

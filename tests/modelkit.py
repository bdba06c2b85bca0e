"""Shared by the model tests: toy inputs in the feature-store format for every feature kind, and one
call that cross-validates a registered model on them through the driver (with its own fold cache)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hms.constants import VOTE_COLS
from hms.data.targets import TARGET_COLS
from hms.features import store
from hms.models.registry import get_spec
from hms.signal.montage import BIPOLAR_NAMES, PANELS
from hms.train.cache import FoldCache
from hms.train.crossval import CVResult, cross_validate
from hms.train.gbdt.toydata import toy_tables, write_toy_features

ARRAY_SHAPES = {"mosaic": (8, 16, 32), "waves": (36, 256)}


def _table(n: int, start: int, n_folds: int | None, rng: np.random.Generator) -> pd.DataFrame:
    votes = rng.integers(0, 3, size=(n, 6))
    votes[:, 5] += 1
    votes[: n // 3] *= 5  # a third of the eegs have >= 10 votes
    df = pd.DataFrame({"sample_id": np.arange(start, start + n), "eeg_id": np.arange(start, start + n),
                       "patient_id": np.arange(n) // 2})
    df[list(VOTE_COLS)] = votes
    df["n_votes"] = votes.sum(axis=1)
    df[list(TARGET_COLS)] = votes / votes.sum(axis=1, keepdims=True)
    if n_folds:
        df["fold"] = (np.arange(n) // 2) % n_folds  # patients never straddle folds
    return df


def toy_inputs(kind: str, root: Path, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame, Path]:
    """(prepared train with 3 folds, prepared test, features dir) with random inputs of `kind`."""
    if kind == "tabular":
        train, test, ftr, fte = toy_tables(150, 12, 20, 3, seed=3, n_informative=5)
        return train, test, write_toy_features(root / "tabular", ftr, fte)
    rng = np.random.default_rng(seed)
    train, test = _table(36, 100, 3, rng), _table(5, 900, None, rng)
    shape = ARRAY_SHAPES[kind]
    for split, df in (("train", train), ("test", test)):
        writer = store.ArrayWriter(root / kind, split, (len(df), *shape))
        writer[:] = rng.normal(size=(len(df), *shape)).astype(np.float16)
        writer.close()
        store.write_index(root / kind, split, df["sample_id"].to_numpy())
    layout = {"panels": list(PANELS)} if kind == "mosaic" else {"channels": list(BIPOLAR_NAMES)}
    store.write_config(root / kind, {"kind": kind, "layout": layout})
    return train, test, root / kind


def fit(name: str, params: dict[str, Any], data: tuple[pd.DataFrame, pd.DataFrame, Path], root: Path,
        cache: Path | None = None) -> CVResult:
    """Cross-validate `name` with its blocks of `params`; models under root/models, cache under `cache`."""
    train, test, features_dir = data
    spec = get_spec(name)
    cfg = spec.config(params[spec.family], params[name])
    return cross_validate(spec, cfg, params["seed"], train, test, features_dir, root / "models" / name,
                          live_dir=root / "dvclive" / name, cache=FoldCache(name, cache or root / "cache"))


def fit_and_stack(models: list[str], params: dict[str, Any], train: pd.DataFrame, test: pd.DataFrame,
                  features_root: Path, root: Path) -> Path:
    """What train@MODELS and stack leave behind, through the pipeline's own driver and stacking code:
    root/models/<name>, root/predictions/base/<name>/{oof,test}.parquet, root/models/ensemble/blender.json
    and root/predictions/ensemble. Returns root/models."""
    from hms.ensemble import run_stack, stack_config, write_stack
    from hms.predictions import write_model_predictions

    for name in models:
        r = fit(name, params, (train, test, features_root / get_spec(name).features), root)
        write_model_predictions(train, test, r.oof, r.test, root / "predictions/base" / name)
    cfg = stack_config(params["stack"])
    write_stack(run_stack(cfg, models, train, test, root / "predictions/base"), root / "predictions/ensemble",
                root / "models/ensemble", root / "metrics/ensemble.json")
    return root / "models"

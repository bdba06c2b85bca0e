"""The one cross-validation driver. For any base model (its ModelSpec) it trains one model per
fold of the prepared table's `fold` column (or one per seed of each fold, the spec's `seeds`,
whose probabilities are averaged), reusing finished fits from the fold cache, and returns
out-of-fold predictions and fold-averaged test predictions. It also writes the model dir
that prediction reads (hms.models.trained):

models/<name>/
  config.json       the one schema: name, family, features kind and config, params blocks, seed,
                    folds, input shape, feature columns (tabular), hms and library versions, fold keys
  fold<k><suffix>   native fold model (LightGBM text, CatBoost cbm, torch state dict); a fold's
                    further seeds: fold<k>-seed<j><suffix>
  fit.json          per fit: its info (best epoch / rounds, stage 2, the validation history)
Everything in the model dir is a function of the inputs, so two runs with the same params write the
same bytes, resumed or not. The run's record goes beside its curves: dvclive/<name>/ (`live_dir`)
holds the per-step curves and run.json (per fold: seconds, and whether it came from the cache). The
curves are also returned as a long table (fold, step, metric, value)."""

from __future__ import annotations

import hashlib
import logging
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from hms.data.targets import TARGET_COLS
from hms.features.store import array_path, index_path, open_array, read_config, read_table, table_path
from hms.imports import imported_files
from hms.io import write_json
from hms.metrics import cv_scores
from hms.models.registry import module_path
from hms.models.spec import FoldInputs, ModelConfig, ModelSpec
from hms.models.trained import CONFIG_FILE, FIT_FILE, fits, fold_file, load_trained
from hms.seed import derive_seed
from hms.train.cache import FoldCache, copy_into, digest, file_digest
from hms.train.processes import FoldJob, Workers, can_run, train_in_processes
from hms.train.tracking import TrackingConfig, log_summary, open_live

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]
RUN_FILE = "run.json"  # in live_dir: the run's record (per-fold seconds, resumed), not a model file
KILL_AFTER_FOLD = "HMS_KILL_AFTER_FOLD"  # test hook: SIGKILL this process once fold N is in the cache
LIBRARIES = ("hms", "numpy", "scipy", "torch", "timm", "lightgbm", "catboost", "albumentations", "sklearn")


@dataclass
class CVResult:
    oof: np.ndarray  # (n_train, 6) in the prepared train table's row order
    test: np.ndarray  # (n_test, 6) mean over the fold models, in the prepared test table's order
    folds: dict[str, dict[str, Any]]  # per fold: info, seconds, resumed
    curves: pd.DataFrame  # fold, step, metric, value
    resumed: list[int | str] = field(default_factory=list)  # fold k, or "k-seed<j>" for a fold's further seeds


@dataclass
class Inputs:
    x: np.ndarray  # train inputs (table as float32 matrix, or a memmap)
    x_test: np.ndarray
    columns: list[str] | None  # tabular feature columns, in x's order
    features: dict[str, Any]  # features/<kind>/config.json
    digest: str  # of the feature files and the prepared table columns the fit uses


def feature_matrix(df: pd.DataFrame, columns: list[str], where: str) -> np.ndarray:
    """float32 (n, n_features) in `columns` order; NaN is allowed (both GBDT libraries route missing
    values), infinities are not (they would silently become the largest bin)."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{where}: feature column(s) {missing[:5]}{'...' if len(missing) > 5 else ''} missing "
                         f"({len(missing)} of {len(columns)}); the features were built with another feature config "
                         "than the model: rebuild them (dvc repro) or retrain")
    x = df[columns].to_numpy(dtype=np.float32)
    bad = np.isinf(x)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise ValueError(f"{where}: infinite value in feature column {columns[c]!r}, sample_id "
                         f"{int(df['sample_id'].iloc[r])} ({int(bad.sum())} in all); fix the feature stage")
    return x


def load_inputs(kind: str, features_dir: Path, train: pd.DataFrame, test: pd.DataFrame) -> Inputs:
    features_dir = Path(features_dir)
    if not (features_dir / "config.json").is_file():
        raise FileNotFoundError(f"{features_dir / 'config.json'}: no features; run the feature stage (dvc repro features@{kind})")
    features = read_config(features_dir)
    if features.get("kind") != kind:
        raise ValueError(f"{features_dir}/config.json holds {features.get('kind')!r} features, the model needs {kind!r}")
    if kind == "tabular":
        table = read_table(features_dir, "train", expected_ids=train["sample_id"].to_numpy())
        columns = [c for c in table.columns if c != "sample_id"]
        if not columns:
            raise ValueError(f"{table_path(features_dir, 'train')}: no feature columns besides sample_id")
        x = feature_matrix(table, columns, str(table_path(features_dir, "train")))
        test_table = read_table(features_dir, "test", expected_ids=test["sample_id"].to_numpy())
        x_test = feature_matrix(test_table, columns, str(table_path(features_dir, "test")))
        files = [features_dir / "config.json", table_path(features_dir, "train")]
    else:
        x, _ = open_array(features_dir, "train", expected_ids=train["sample_id"].to_numpy())
        x_test, _ = open_array(features_dir, "test", expected_ids=test["sample_id"].to_numpy())
        columns = None
        files = [features_dir / "config.json", array_path(features_dir, "train"), index_path(features_dir, "train")]
    table = hashlib.sha256()
    for c in ("sample_id", "fold", "n_votes", *TARGET_COLS):
        table.update(np.ascontiguousarray(train[c].to_numpy()).tobytes())
    return Inputs(x, x_test, columns, features, digest([file_digest(files), table.hexdigest()]))


def code_digest(spec: ModelSpec) -> str:
    """sha256 of every project file the model's module and this driver import (transitively)."""
    files = sorted(imported_files([module_path(spec.name), Path(__file__)], REPO))
    return digest([[str(p.relative_to(REPO)), file_digest([p])] for p in files])


def library_versions() -> dict[str, str]:
    return {m: getattr(sys.modules[m], "__version__", "?") for m in LIBRARIES if m in sys.modules}


Tag = int | str  # a fit: its fold k, or "k-seed<j>" for seed j > 0 of fold k


def fit_tag(fold: int, seed: int) -> Tag:
    return fold if seed == 0 else f"{fold}-seed{seed}"


class Curves:
    """Collects (fold, step, metric, value) rows and mirrors them to dvclive (`fold` is the fit's tag)."""

    def __init__(self, live: Any) -> None:
        self.live, self.rows = live, []

    def logger(self, fold: Tag):
        def log_step(step: int, values: dict[str, float]) -> None:
            for metric, value in values.items():
                self.rows.append((fold, int(step), metric, float(value)))
                if self.live is not None:
                    self.live.step = int(step)
                    self.live.log_metric(f"fold{fold}/{metric}", float(value))
        return log_step

    def replay(self, fold: Tag, rows: list[list[Any]]) -> None:
        log_step = self.logger(fold)
        for step, metric, value in rows:
            log_step(step, {metric: value})

    def of_fold(self, fold: Tag) -> list[list[Any]]:
        return [[s, m, v] for f, s, m, v in self.rows if f == fold]

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=["fold", "step", "metric", "value"])


def cross_validate(spec: ModelSpec, cfg: ModelConfig, seed: int, train: pd.DataFrame, test: pd.DataFrame,
                   features_dir: Path, model_dir: Path, live_dir: Path | None = None,
                   cache: FoldCache | None = None, tracking: TrackingConfig | None = None,
                   on_fold: Callable[[int, np.ndarray, np.ndarray], None] | None = None) -> CVResult:
    """Train `spec` on every fold of train["fold"] (resuming cached fits); see the module docstring.
    `tracking`: system monitoring and the W&B mirror of the dvclive run (not part of the config).
    `on_fold(k, valid_rows, probs)` is called once fold k's OOF predictions exist (`hms tune` prunes there)."""
    model_dir = Path(model_dir)
    train, test = train.reset_index(drop=True), test.reset_index(drop=True)
    inputs = load_inputs(spec.features, features_dir, train, test)
    folds = sorted(int(k) for k in np.unique(train["fold"]))
    y = train[list(TARGET_COLS)].to_numpy(np.float64)
    if (np.abs(y.sum(axis=1) - 1) > 1e-6).any() or (y < 0).any():
        raise ValueError("data/prepared/train.parquet: targets are not distributions; rerun `dvc repro prepare`")
    n_votes = train["n_votes"].to_numpy()
    n_seeds = spec.n_seeds(cfg)
    plan = fits(folds, n_seeds)  # (fold, seed) pairs; seed 0 is the fold's one model without `seeds`
    config = {
        "name": spec.name, "family": spec.family, "kind": spec.features, "features": inputs.features,
        "params": spec.blocks(cfg), "seed": int(seed), "folds": folds,
        "input_shape": [int(v) for v in inputs.x.shape[1:]], "feature_columns": inputs.columns,
        "fold_files": [fold_file(k, spec.suffix, j) for k, j in plan], "versions": library_versions(),
    }
    base_key = digest([config, inputs.digest, code_digest(spec)])
    cache = cache or FoldCache(spec.name)
    for stale in model_dir.glob("fold*"):
        stale.unlink()  # a clean model dir: only this run's folds (DVC also clears it before a stage runs)
    model_dir.mkdir(parents=True, exist_ok=True)

    oof = np.full((len(train), 6), np.nan)
    fold_report: dict[str, dict[str, Any]] = {}
    resumed: list[Tag] = []
    ids = list(range(len(plan)))  # fit i trains plan[i]
    groups = spec.fold_groups(cfg, ids) if spec.fold_groups is not None else [[(i, cfg)] for i in ids]
    fit_cfg = {i: i_cfg for group in groups for i, i_cfg in group}
    tags = [fit_tag(k, j) for k, j in plan]
    # a fit's key holds its own config (e.g. its thread count), so a resumed fit is the one this run would train
    keys = [digest([base_key, k, spec.blocks(fit_cfg[i]), *([j] if j else [])])[:32] for i, (k, j) in enumerate(plan)]
    fold = train["fold"].to_numpy()

    def fit_inputs(i: int) -> FoldInputs:
        k, j = plan[i]
        fit_seed = derive_seed(seed, spec.name, k) if j == 0 else derive_seed(seed, spec.name, k, j)
        return FoldInputs(k, inputs.x, y, n_votes, np.flatnonzero(fold != k), np.flatnonzero(fold == k), fit_seed)

    fit_seconds = 0.0  # wall time of this run's fits (fits trained at once count once)
    seed_probs: dict[int, dict[int, np.ndarray]] = {}  # fold -> seed -> its OOF probabilities, until all are in
    unit = "folds" if len(plan) == len(folds) else "fits"
    with open_live(live_dir, tracking, spec.name, config) if live_dir else _null() as live, \
            tqdm(total=len(plan), desc=f"{spec.name} {unit}", leave=False) as bar, Workers() as workers:
        curves = Curves(live)
        for group in groups:
            hits = {i: cache.get(keys[i], spec.suffix) for i, _ in group}
            todo = [i for i, hit in hits.items() if hit is None]
            if len(todo) > 1 and can_run(spec):  # else one by one here, each with its own config
                start = time.perf_counter()
                train_in_processes(spec, [FoldJob(fit_cfg[i], fit_inputs(i), keys[i], str(tags[i])) for i in todo],
                                   cache, workers)
                fit_seconds += time.perf_counter() - start
                hits.update({i: cache.get(keys[i], spec.suffix) for i in todo})
            for i, i_cfg in group:
                (k, j), tag = plan[i], tags[i]
                key, hit, fresh = keys[i], hits[i], i in todo
                if hit is None:
                    start = time.perf_counter()
                    fit = spec.fit_fold(i_cfg, fit_inputs(i), curves.logger(tag))
                    record = {"fold": k, "info": fit.info, "seconds": round(time.perf_counter() - start, 2),
                              "curves": curves.of_fold(tag)}
                    fit_seconds += record["seconds"]
                    cached_file = cache.put(key, spec.suffix, spec.save, fit.model, record)
                else:
                    cached_file, record = hit
                    curves.replay(tag, record["curves"])
                    if not fresh:
                        resumed.append(tag)
                        log.info("%s fold %s: reused from the fold cache (%s)", spec.name, tag, cached_file)
                copy_into(cached_file, model_dir / fold_file(k, spec.suffix, j))
                # OOF through the saved fold file: a resumed fold predicts exactly as a fresh one
                model = spec.load(cfg, model_dir / fold_file(k, spec.suffix, j), tuple(config["input_shape"]))
                valid_rows = np.flatnonzero(fold == k)
                seed_probs.setdefault(k, {})[j] = spec.predict(cfg, model, inputs.x, valid_rows)
                fold_report[str(tag)] = {"info": record["info"], "seconds": record["seconds"], "resumed": not fresh}
                bar.update()
                if len(seed_probs[k]) < n_seeds:
                    continue
                # the mean of the seeds' probabilities, as the test predictions average every fold model;
                # one seed: its own probabilities, unchanged (x / 1 is exact)
                probs = [p for _, p in sorted(seed_probs.pop(k).items())]
                oof[valid_rows] = sum(probs[1:], probs[0]) / n_seeds
                if on_fold is not None:
                    on_fold(k, valid_rows, oof[valid_rows])
                if fresh and os.environ.get(KILL_AFTER_FOLD) == str(k):
                    log.warning("%s=%s: killing this process after fold %d (test hook)", KILL_AFTER_FOLD, k, k)
                    os.kill(os.getpid(), signal.SIGKILL)
        if live is not None:
            log_summary(live, cv_scores(y, oof, n_votes))
    config["fold_keys"] = {str(tag): key for tag, key in zip(tags, keys)}
    write_json(config, model_dir / CONFIG_FILE)
    write_json({"folds": {t: {"info": f["info"]} for t, f in fold_report.items()}}, model_dir / FIT_FILE)
    if live_dir is not None:
        run = {"seconds": round(fit_seconds, 2), "resumed_folds": resumed,
               "fold_groups": [[tags[i] for i, _ in group] for group in groups],
               "folds": {t: {"seconds": f["seconds"], "resumed": f["resumed"]} for t, f in fold_report.items()}}
        write_json(run, Path(live_dir) / RUN_FILE)
    trained = load_trained(model_dir.parent, spec.name)  # the prediction path of `hms predict`
    test_probs = trained.predict(inputs.x_test)
    if spec.report is not None:
        spec.report(cfg, trained.models, inputs.columns, model_dir)
    return CVResult(oof, test_probs, fold_report, curves.frame(), resumed)


class _null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> None:
        return None

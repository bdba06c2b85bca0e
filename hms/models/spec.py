"""The model unit. Each base model is one module `hms/models/<name>.py` that exports `SPEC`, a
ModelSpec: the feature kind it reads, its family (the shared params block: `gbdt` or `nn`), its
typed configs, and its fold functions. The one cross-validation driver (hms.train.crossval) and
the one prediction path (hms.models.trained) only ever talk to a model through its spec."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol

import numpy as np

from hms.params import to_dataclass

FEATURE_KINDS = ("tabular", "mosaic", "waves")


@dataclass(frozen=True)
class ModelConfig:
    """A model's typed configuration: its family's shared block and its own block."""

    shared: Any  # e.g. hms.train.nn.config.LoopConfig, hms.train.gbdt.config.GbdtConfig
    own: Any  # the model's dataclass, e.g. WaveConfig


@dataclass(frozen=True)
class FoldInputs:
    """What fit_fold gets for fold `fold`: rows index `x`, `y` and `n_votes`."""

    fold: int
    x: np.ndarray  # every training sample: (n, n_features) float32 table or (n, ...) feature memmap
    y: np.ndarray  # (n, 6) float32 targets (normalised votes)
    n_votes: np.ndarray  # (n,) votes of the sample's most-annotated row
    train_rows: np.ndarray
    valid_rows: np.ndarray
    seed: int  # the fold's own seed (derived from the params seed, the model name and the fold)


class CurveLogger(Protocol):
    def __call__(self, step: int, values: Mapping[str, float]) -> None: ...


@dataclass
class FoldFit:
    """A trained fold: the model save() writes and a JSON-able summary (best epoch, rounds, ...)."""

    model: Any
    info: dict[str, Any]


@dataclass(frozen=True)
class ModelSpec:
    name: str
    features: str  # the features/<kind> it reads: tabular | mosaic | waves
    family: str  # the shared params block it reads besides its own: gbdt | nn
    shared_config: type  # dataclass of the family block
    own_config: type  # dataclass of the model block
    fit_fold: Callable[[ModelConfig, FoldInputs, CurveLogger], FoldFit]
    # (cfg, model, x, rows) -> (len(rows), 6) float64 probabilities; rows None = every row of x
    predict: Callable[[ModelConfig, Any, np.ndarray, np.ndarray | None], np.ndarray]
    save: Callable[[Any, Path], None]  # atomic write of one fold model
    load: Callable[[ModelConfig, Path, tuple[int, ...]], Any]  # (cfg, file, input shape) -> model
    suffix: str  # fold file suffix: .txt (LightGBM), .cbm (CatBoost), .pt (torch state dict)
    # optional: (cfg, fold models, feature columns, model_dir) -> None, e.g. feature importance
    report: Callable[[ModelConfig, list[Any], list[str] | None, Path], None] | None = None
    # optional: (cfg, input shape) -> the untrained model (neural nets; benchmarks and tests build them)
    build: Callable[[ModelConfig, tuple[int, ...]], Any] | None = None
    # optional: (cfg, fold models, x) -> (len(x), 6) the mean of `predict` over the fold models, in one
    # pass that shares per-batch work across them (neural nets: the input transform, e.g. a spectrogram);
    # the prediction path (hms.models.trained) uses it when present
    predict_mean: Callable[[ModelConfig, list[Any], np.ndarray], np.ndarray] | None = None
    # optional: (optuna trial, current cfg) -> {dotted params key: value} of this model's block and/or its
    # family block, e.g. {"lgbm.num_leaves": trial.suggest_int("lgbm.num_leaves", 7, 63, log=True)}; `hms tune`
    search_space: Callable[[Any, ModelConfig], dict[str, Any]] | None = None
    # optional: (cfg, fits) -> groups of (fit, the config it trains with): the fits of a group train at
    # once, each in its own process (hms.train.processes), e.g. neural nets on CPU with a thread count per
    # fit. A fit is a fold, or a (fold, seed) pair when `seeds` gives more than one; the driver numbers them.
    # A fit's config is fixed by the plan, so its bytes do not depend on what else runs or on resuming.
    # None: one fit at a time with `cfg`
    fold_groups: Callable[[ModelConfig, list[int]], list[list[tuple[int, ModelConfig]]]] | None = None
    # optional: (cfg) -> models trained per fold, each from its own seed; the fold's predictions are the mean
    # of their probabilities (the driver's fits are then (fold, seed) pairs, and fold_groups plans those).
    # None: one
    seeds: Callable[[ModelConfig], int] | None = None

    def __post_init__(self) -> None:
        if self.features not in FEATURE_KINDS:
            raise ValueError(f"model {self.name}: features must be one of {FEATURE_KINDS}, not {self.features!r}")

    def config(self, shared: Mapping[str, Any] | None, own: Mapping[str, Any] | None) -> ModelConfig:
        """Typed config from the family block and the model block (unknown keys are an error)."""
        return ModelConfig(to_dataclass(self.shared_config, shared, self.family),
                           to_dataclass(self.own_config, own, self.name))

    def n_seeds(self, cfg: ModelConfig) -> int:
        """Models trained per fold (`seeds`; 1 without it)."""
        return 1 if self.seeds is None else int(self.seeds(cfg))

    def blocks(self, cfg: ModelConfig) -> dict[str, dict[str, Any]]:
        """The params blocks of `cfg`, as params.yaml and config.json hold them."""
        return {self.family: dataclasses.asdict(cfg.shared), self.name: dataclasses.asdict(cfg.own)}

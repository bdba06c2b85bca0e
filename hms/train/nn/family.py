"""The neural family: turns a net (a torch module builder, its config, its augmentation and its
left/right flip) into a ModelSpec whose fold functions run the shared loop. A neural model
module is then only its net: see hms/models/wave.py."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn as nn

from hms.errors import ConfigError
from hms.io import atomic_path
from hms.models.spec import CurveLogger, FoldFit, FoldInputs, ModelConfig, ModelSpec
from hms.train.nn import distributed
from hms.train.nn.config import LoopConfig, NetConfig, effective_loop
from hms.train.nn.data import Augment
from hms.train.nn.device import Runtime, available_cores, make_runtime, place
from hms.train.nn.loop import predict_rows, train_fold

log = logging.getLogger(__name__)

Build = Callable[[Any, tuple[int, ...]], nn.Module]  # (net config, input shape without batch) -> module
MakeAugment = Callable[[Any, tuple[int, ...]], Augment | None]  # (net config, input shape) -> augmentation


class UntrustedCheckpointError(ConfigError):
    """A fold checkpoint that torch refuses to load as plain tensors (weights_only=True) or cannot read."""


def _runtime(cfg: ModelConfig) -> Runtime:
    return make_runtime(effective_loop(cfg.shared, cfg.own))


def processes_at_once(loop: LoopConfig, n_folds: int) -> int:
    """How many folds train at once (`nn.fold_processes`; 0 = auto: every core busy on CPU, 1 on a GPU)."""
    gpu = loop.device == "cuda" or (loop.device == "auto" and torch.cuda.is_available())
    if loop.fold_processes > 1 and gpu:
        raise ConfigError(f"nn.fold_processes={loop.fold_processes} trains folds in CPU processes, but the nets train "
                          "on the GPU here; set nn.fold_processes to 0 (auto) or 1, or nn.device to cpu")
    if loop.fold_processes == 0:
        return 1 if gpu or loop.ddp_processes > 1 else max(1, min(n_folds, available_cores() // max(loop.threads, 1)))
    return min(loop.fold_processes, max(n_folds, 1))


Suggest = Callable[[Any, str], Any]  # (optuna trial, dotted params key) -> the suggested value


def uniform(low: float, high: float) -> Suggest:
    return lambda trial, key: trial.suggest_float(key, low, high)


def choice(values: list[Any]) -> Suggest:
    return lambda trial, key: trial.suggest_categorical(key, values)


def nn_search_space(name: str, **own: Suggest) -> Callable[[Any, ModelConfig], dict[str, Any]]:
    """`hms tune NAME` for a neural model: the keys every one tunes (its learning rate as lr_mult x nn.lr,
    weight decay through its `loop` overrides, dropout), then its own keys `own` ({key in its block:
    suggestion}; a dotted key as `**{"loop.ema_decay": ...}`), suggested in that order. Own block only:
    applying it changes no other model."""
    keys: dict[str, Suggest] = {
        "lr_mult": lambda trial, key: trial.suggest_float(key, 0.3, 10.0, log=True),
        "loop.weight_decay": lambda trial, key: trial.suggest_float(key, 1e-4, 0.1, log=True),
        "drop_rate": uniform(0.0, 0.5),
        **own,
    }

    def space(trial: Any, cfg: ModelConfig) -> dict[str, Any]:
        return {f"{name}.{k}": suggest(trial, f"{name}.{k}") for k, suggest in keys.items()}

    return space


def nn_spec(name: str, features: str, net_config: type, build: Build, augment: MakeAugment,
            flip_perm: list[int] | tuple[int, ...]) -> ModelSpec:
    """The ModelSpec of a neural model. `flip_perm` permutes axis 0 of one sample (axis 1 of a batch):
    the left/right flip used by the flip augmentation and by the flip TTA."""
    perm = [int(i) for i in flip_perm]
    if not issubclass(net_config, NetConfig):
        raise TypeError(f"{name}: the net config must extend hms.train.nn.config.NetConfig")

    def fit_fold(cfg: ModelConfig, inputs: FoldInputs, log: CurveLogger) -> FoldFit:
        shape = tuple(inputs.x.shape[1:])
        loop = effective_loop(cfg.shared, cfg.own)
        if loop.ddp_processes > 1 and distributed.world()[1] == 1:  # several GPUs: torchrun runs this fold
            return distributed.fit_fold(name, cfg, inputs, log, loop.ddp_processes)
        rt = _runtime(cfg)
        result = train_fold(lambda: build(cfg.own, shape), cfg.own, loop, rt, inputs, augment(cfg.own, shape), perm,
                            on_epoch=log, name=name)
        info = {"best_epoch": result.best_epoch, "best_score": result.best_score, "history": result.history,
                "device": str(rt.device)}
        return FoldFit(result.state, info)

    def fold_groups(cfg: ModelConfig, fits: list[int]) -> list[list[tuple[int, ModelConfig]]]:
        loop = effective_loop(cfg.shared, cfg.own)
        n = processes_at_once(loop, len(fits))
        if n == 1:
            return [[(i, cfg)] for i in fits]
        # Every fit gets the same threads, a last smaller group too: on the 2-core host of stop 31, fold 4 alone
        # trained faster on one thread than on two for efficientnet and sparcnet (docs/neural.md)
        threads = loop.threads or max(1, available_cores() // n)
        log.info("%s: %d fits at a time, each in its own process with %d torch thread(s)", name, n, threads)
        fit_cfg = ModelConfig(dataclasses.replace(cfg.shared, threads=threads), cfg.own)
        return [[(i, fit_cfg) for i in fits[at:at + n]] for at in range(0, len(fits), n)]

    def predict(cfg: ModelConfig, model: nn.Module, x: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        loop = effective_loop(cfg.shared, cfg.own)
        rows = np.arange(len(x)) if rows is None else np.asarray(rows)
        return predict_rows(model, x, rows, cfg.own, perm, _runtime(cfg), loop.eval_batch_size)

    def predict_mean(cfg: ModelConfig, models: list[nn.Module], x: np.ndarray) -> np.ndarray:
        loop = effective_loop(cfg.shared, cfg.own)
        return predict_rows(models, x, np.arange(len(x)), cfg.own, perm, _runtime(cfg), loop.eval_batch_size)

    def save(state: dict[str, torch.Tensor], path: Path) -> None:
        # a file object, not the path: torch names the archive's root folder after a path's file name,
        # here a random temporary one, and the same weights would not give the same bytes
        with atomic_path(path, suffix=".pt") as tmp, open(tmp, "wb") as f:
            torch.save(state, f)

    def load(cfg: ModelConfig, path: Path, input_shape: tuple[int, ...]) -> nn.Module:
        own = cfg.own
        if getattr(own, "pretrained", False):
            # the checkpoint holds every weight: never read (or download) pretrained weights to predict
            own = dataclasses.replace(own, pretrained=False, weights=None)
        model = build(own, tuple(input_shape))
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            model.load_state_dict(state)
        except Exception as exc:  # noqa: BLE001 - any failure here means the file is not a state dict we made
            # torch's own message suggests weights_only=False, which would run arbitrary code: never do that
            raise UntrustedCheckpointError(f"untrusted or corrupt checkpoint {path}: it is not a plain state dict "
                                           f"of the {name} net ({type(exc).__name__}); retrain the model "
                                           f"(dvc repro train@{name})") from None
        return place(model, _runtime(cfg)).eval()

    return ModelSpec(name=name, features=features, family="nn", shared_config=LoopConfig, own_config=net_config,
                     fit_fold=fit_fold, fold_groups=fold_groups,
                     seeds=lambda cfg: effective_loop(cfg.shared, cfg.own).seeds, predict=predict,
                     predict_mean=predict_mean, save=save, load=load, suffix=".pt",
                     build=lambda cfg, shape: build(cfg.own, tuple(shape)))

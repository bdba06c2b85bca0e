"""`wave`: the L/R-symmetric 1D CNN (hms/nets/wave.py) over the whole 50 s of the filtered bipolar
signals (features/waves). Its flip augmentation is off by default: a left/right flip does not
change the net's output."""

from __future__ import annotations

import dataclasses
from typing import Any

from hms.models.spec import ModelConfig
from hms.nets.augment import waves_augment
from hms.nets.wave import SymmetricWaveNet, WaveConfig
from hms.signal.montage import BIPOLAR_FLIP
from hms.train.nn.family import nn_spec


def search_space(trial: Any, cfg: ModelConfig) -> dict[str, Any]:
    """`hms tune wave`: learning rate (lr_mult x nn.lr), weight decay, dropout, mixup, time shift and
    the EMA decay. Own block only (loop knobs through its `loop` overrides): applying it changes no
    other model."""
    return {
        "wave.lr_mult": trial.suggest_float("wave.lr_mult", 0.3, 10.0, log=True),
        "wave.loop.weight_decay": trial.suggest_float("wave.loop.weight_decay", 1e-4, 0.1, log=True),
        "wave.drop_rate": trial.suggest_float("wave.drop_rate", 0.0, 0.5),
        "wave.mixup_alpha": trial.suggest_float("wave.mixup_alpha", 0.0, 1.0),
        "wave.shift_frac": trial.suggest_float("wave.shift_frac", 0.0, 0.2),
        "wave.loop.ema_decay": trial.suggest_categorical("wave.loop.ema_decay", [0.0, 0.99, 0.998]),
    }


SPEC = dataclasses.replace(nn_spec("wave", "waves", WaveConfig, SymmetricWaveNet, waves_augment, BIPOLAR_FLIP),
                           search_space=search_space)

"""`resnet`: a timm ResNet on log-mel spectrograms computed inside the model from the bipolar
signals (hms/nets/spectro.py, features/waves). The default `resnet10t` is sized for the 2-core
CPU budget; the `full` preset uses resnet18 (docs/neural.md)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from hms.models.spec import ModelConfig
from hms.nets.augment import waves_augment
from hms.nets.spectro import SpecConfig, SpecNet
from hms.signal.montage import BIPOLAR_FLIP
from hms.train.nn.family import nn_spec


@dataclass
class ResNetConfig(SpecConfig):
    backbone: str = "resnet10t"


def search_space(trial: Any, cfg: ModelConfig) -> dict[str, Any]:
    """`hms tune resnet`: learning rate (lr_mult x nn.lr), weight decay, dropout, mixup and masking, the
    knobs the top HMS image models tuned. Own block only (weight decay through its `loop` overrides):
    applying it changes no other neural model."""
    return {
        "resnet.lr_mult": trial.suggest_float("resnet.lr_mult", 0.3, 10.0, log=True),
        "resnet.loop.weight_decay": trial.suggest_float("resnet.loop.weight_decay", 1e-4, 0.1, log=True),
        "resnet.drop_rate": trial.suggest_float("resnet.drop_rate", 0.0, 0.5),
        "resnet.mixup_alpha": trial.suggest_float("resnet.mixup_alpha", 0.0, 1.0),
        "resnet.mask_prob": trial.suggest_float("resnet.mask_prob", 0.0, 0.8),
    }


SPEC = dataclasses.replace(nn_spec("resnet", "waves", ResNetConfig, SpecNet, waves_augment, BIPOLAR_FLIP),
                           search_space=search_space)

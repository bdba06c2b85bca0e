"""`resnet`: a timm ResNet on log-mel spectrograms computed inside the model from the bipolar
signals (hms/nets/spectro.py, features/waves). The default `resnet10t` is sized for the 2-core
CPU budget; the `full` preset uses resnet18 (docs/neural.md)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from hms.nets.augment import waves_augment
from hms.nets.spectro import SpecConfig, SpecNet
from hms.signal.montage import WAVES_FLIP
from hms.train.nn.family import nn_search_space, nn_spec, uniform


@dataclass
class ResNetConfig(SpecConfig):
    backbone: str = "resnet10t"


SPEC = dataclasses.replace(nn_spec("resnet", "waves", ResNetConfig, SpecNet, waves_augment, WAVES_FLIP),
                           search_space=nn_search_space("resnet", mixup_alpha=uniform(0.0, 1.0), mask_prob=uniform(0.0, 0.8)))

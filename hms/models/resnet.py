"""`resnet`: a timm ResNet on the spectrogram mosaic (features/mosaic). The default `resnet10t`
is sized for the 2-core CPU budget; the `full` preset uses resnet18 with ImageNet weights at
512 x 512 (docs/neural.md)."""

from __future__ import annotations

from dataclasses import dataclass, field

from hms.nets.mosaic import MOSAIC_FLIP, ImageConfig, MosaicNet, mosaic_augment
from hms.train.nn.family import nn_spec


@dataclass
class ResNetConfig(ImageConfig):
    backbone: str = "resnet10t"
    image_size: list[int] | None = field(default_factory=lambda: [64, 64])  # the 256 x 256 tiled mosaic, shrunk


SPEC = nn_spec("resnet", "mosaic", ResNetConfig, MosaicNet, mosaic_augment, MOSAIC_FLIP)

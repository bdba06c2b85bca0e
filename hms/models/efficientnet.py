"""`efficientnet`: a timm EfficientNet on the spectrogram mosaic (features/mosaic). The default
`tinynet_e` is an EfficientNet scaled down for the 2-core CPU budget; the `full` preset uses
efficientnet_b0 with ImageNet weights at 512 x 512 (docs/neural.md)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from hms.nets.mosaic import MOSAIC_FLIP, ImageConfig, MosaicNet, mosaic_augment
from hms.train.nn.family import nn_search_space, nn_spec, uniform


@dataclass
class EfficientNetConfig(ImageConfig):
    backbone: str = "tinynet_e"
    image_size: list[int] | None = field(default_factory=lambda: [64, 64])  # the 256 x 256 tiled mosaic, shrunk


SPEC = dataclasses.replace(nn_spec("efficientnet", "mosaic", EfficientNetConfig, MosaicNet, mosaic_augment, MOSAIC_FLIP),
                           search_space=nn_search_space("efficientnet", mixup_alpha=uniform(0.0, 1.0),
                                                          mask_prob=uniform(0.0, 0.8)))

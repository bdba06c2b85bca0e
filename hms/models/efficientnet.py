"""`efficientnet`: a timm EfficientNet on the spectrogram mosaic (features/mosaic). The default
`tinynet_e` is an EfficientNet scaled down for the 2-core CPU budget; the `full` preset uses
efficientnet_b0 with ImageNet weights at 512 x 512 (docs/neural.md)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from hms.nets.mosaic import MOSAIC_FLIP, ImageConfig, MosaicNet, mosaic_augment
from hms.train.nn.config import ema_recipe
from hms.train.nn.family import choice, nn_search_space, nn_spec, uniform


@dataclass
class EfficientNetConfig(ImageConfig):
    backbone: str = "tinynet_e"
    image_size: list[int] | None = field(default_factory=lambda: [64, 64])  # the 256 x 256 tiled mosaic, shrunk
    # From scratch an EfficientNet (depthwise convolutions, squeeze-excite) learns slowly: the shared
    # 3 + 1 epochs left it at kl_hq 0.46, the EMA recipe at 2.5x the learning rate reaches 0.33 (docs/neural.md)
    lr_mult: float = 5.0
    # its kl_hq still falls through 4 stage-2 epochs on the >= 10-vote eegs (-0.015 and -0.016 on two seeds, stop 24)
    loop: dict[str, Any] = ema_recipe(stage2_epochs=4)


SPEC = dataclasses.replace(nn_spec("efficientnet", "mosaic", EfficientNetConfig, MosaicNet, mosaic_augment, MOSAIC_FLIP),
                           search_space=nn_search_space("efficientnet", mixup_alpha=uniform(0.0, 1.0),
                                                          mask_prob=uniform(0.0, 0.8),
                                                          **{"loop.ema_decay": choice([0.0, 0.99, 0.998])}))

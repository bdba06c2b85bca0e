"""The timm backbone shared by the 2D nets (mosaic.py, spectro.py): its config keys and its
construction. Pretrained weights come only from a local file (`weights`); nothing is downloaded."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import timm
import torch.nn as nn

from hms.constants import N_CLASSES
from hms.errors import ConfigError
from hms.nets.heads import small_init_head
from hms.train.nn.config import NetConfig


@dataclass
class BackboneConfig(NetConfig):
    backbone: str = "resnet10t"  # a timm model name (no hub prefixes: nothing is downloaded)
    pretrained: bool = False  # true: initialise from ImageNet weights in the local file `weights`
    weights: str | None = None  # local timm weights file (.safetensors / .pth / .bin), see docs/weights.md
    drop_rate: float = 0.2
    # stochastic depth: each residual block is skipped with a probability rising to this value in the
    # last block (timm); the 3rd place HMS solution trained its 2D nets with 0.2. 0 = off
    drop_path_rate: float = 0.0
    global_pool: str = "avg"

    def __post_init__(self) -> None:
        super().__post_init__()
        if ":" in self.backbone or "/" in self.backbone:
            raise ConfigError(f"backbone {self.backbone!r}: hub names are refused (nothing is downloaded); "
                              "use a plain timm name and, for pretrained weights, a local file in `weights`")
        if self.weights is not None and not self.pretrained:
            raise ConfigError("weights is set but pretrained is false: set pretrained: true to load it")
        if not 0 <= self.drop_path_rate < 1 or not 0 <= self.drop_rate < 1:
            raise ConfigError(f"drop_rate and drop_path_rate must be in [0, 1), got {self.drop_rate}, {self.drop_path_rate}")
        if self.pretrained and not self.weights:
            raise ConfigError("pretrained: true needs `weights`, a local timm weights file (nothing is downloaded); "
                              "see docs/weights.md, or set pretrained: false")


def create_backbone(cfg: BackboneConfig, in_chans: int) -> nn.Module:
    """A timm classifier with a 6-class head (near-zero init). With `pretrained`, the local file's
    weights (timm adapts the stem to `in_chans`)."""
    kwargs = {}
    if cfg.pretrained:
        path = Path(cfg.weights)  # type: ignore[arg-type]
        if not path.is_file():
            raise FileNotFoundError(f"{cfg.weights}: pretrained weights file not found (see docs/weights.md)")
        kwargs["pretrained_cfg_overlay"] = dict(file=str(path))
    # belt and braces: even a misconfigured timm must not reach the Hugging Face hub
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    net = timm.create_model(cfg.backbone, pretrained=cfg.pretrained, in_chans=in_chans, num_classes=N_CLASSES,
                            drop_rate=cfg.drop_rate, drop_path_rate=cfg.drop_path_rate, global_pool=cfg.global_pool,
                            **kwargs)
    small_init_head(net.get_classifier())
    return net

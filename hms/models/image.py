"""Image models on spectrogram mosaics via timm (`efficientnet`, `resnet`).

Input: (B, 8, F, T) panels ordered [K_LL, K_RL, K_LP, K_RP, E_LL, E_RL, E_LP, E_RP] (K = Kaggle
10-min spectrogram, E = spectrogram of the 50 s EEG). The module tiles them into one image
(`layout`), resizes it (`image_size`), repeats it to `channels` and runs a timm backbone, so the
saved state dict plus config.json is all `predict` needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import timm
import torch
import torch.nn as nn
import torch.nn.functional as F

from hms.constants import N_CLASSES
from hms.models.nets import NetConfig, NetSpec, register

LAYOUTS = ("split", "stack", "kaggle", "eeg")
N_PANELS = 8


@dataclass
class ImageConfig(NetConfig):
    backbone: str = "efficientnet_b0"  # any timm model name
    pretrained: bool = False  # true: timm loads ImageNet weights (from `weights` if set, else the HF hub)
    weights: str | None = None  # local weights file for pretrained=true (no download)
    drop_rate: float = 0.2
    global_pool: str = "avg"
    channels: int = 1  # 1 (grey) or 3 (grey repeated, for 3-channel pretrained weights)
    # split: Kaggle panels stacked vertically in the left half, EEG panels in the right half;
    # stack: all 8 panels stacked vertically; kaggle / eeg: only those 4 panels.
    layout: str = "split"
    image_size: list[int] | None = None  # [height, width] to resize the tiled image to; null = as tiled
    # Training-only masking (albumentations XYMasking on the panel stack): up to n masks per axis.
    mask_prob: float = 0.5
    time_masks: int = 2
    time_mask_frac: float = 0.1  # longest time mask, as a share of T
    freq_masks: int = 2
    freq_mask_frac: float = 0.1  # longest frequency mask, as a share of F

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {LAYOUTS}, not {self.layout!r}")
        if self.channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, not {self.channels}")
        if self.image_size is not None and (len(self.image_size) != 2 or min(self.image_size) < 8):
            raise ValueError(f"image_size must be [height, width] (>= 8) or null, got {self.image_size}")
        if self.weights is not None and not self.pretrained:
            raise ValueError("weights is set but pretrained is false: set pretrained: true to load it")


def small_init_head(head: nn.Module) -> None:
    """Near-zero init of the new 6-class head: predictions start near uniform (KL about 1.2).
    timm's EfficientNet init gives this head logits of std ~5, an initial KL of 3+ that costs epochs."""
    if isinstance(head, nn.Linear):
        nn.init.normal_(head.weight, std=0.01)
        nn.init.zeros_(head.bias)


def tile(panels: torch.Tensor, layout: str) -> torch.Tensor:
    """(B, 8, F, T) -> (B, 1, H, W) image in `layout`."""
    b, n, f, t = panels.shape
    if n != N_PANELS:
        raise ValueError(f"mosaic input must have {N_PANELS} panels, got {n}")
    kaggle, eeg = panels[:, :4].reshape(b, 4 * f, t), panels[:, 4:].reshape(b, 4 * f, t)
    if layout == "split":
        img = torch.cat([kaggle, eeg], dim=2)
    elif layout == "stack":
        img = torch.cat([kaggle, eeg], dim=1)
    elif layout == "kaggle":
        img = kaggle
    elif layout == "eeg":
        img = eeg
    else:
        raise ValueError(f"unknown layout {layout!r}; one of {LAYOUTS}")
    return img.unsqueeze(1)


class MosaicNet(nn.Module):
    def __init__(self, cfg: ImageConfig, input_shape: tuple[int, ...]) -> None:
        super().__init__()
        if len(input_shape) != 3 or input_shape[0] != N_PANELS:
            raise ValueError(f"mosaic models expect inputs (8, F, T), got {input_shape}")
        self.layout = cfg.layout
        self.image_size = tuple(cfg.image_size) if cfg.image_size else None
        self.channels = cfg.channels
        kwargs = {}
        if cfg.pretrained and cfg.weights:
            path = Path(cfg.weights)
            if not path.is_file():
                raise FileNotFoundError(f"{cfg.weights}: weights file not found (params `weights` of the image model)")
            kwargs["pretrained_cfg_overlay"] = dict(file=str(path))
        self.backbone = timm.create_model(cfg.backbone, pretrained=cfg.pretrained, in_chans=cfg.channels,
                                          num_classes=N_CLASSES, drop_rate=cfg.drop_rate,
                                          global_pool=cfg.global_pool, **kwargs)
        small_init_head(self.backbone.get_classifier())

    def image(self, panels: torch.Tensor) -> torch.Tensor:
        img = tile(panels, self.layout)
        if self.image_size and tuple(img.shape[-2:]) != self.image_size:
            # antialias when shrinking so that narrow events are averaged, not skipped
            shrink = self.image_size[0] < img.shape[-2] or self.image_size[1] < img.shape[-1]
            img = F.interpolate(img, size=self.image_size, mode="bilinear", align_corners=False, antialias=shrink)
        if self.channels == 3:
            img = img.expand(-1, 3, -1, -1)
        return img

    def forward(self, panels: torch.Tensor) -> torch.Tensor:
        return self.backbone(self.image(panels))


def _build(cfg: ImageConfig, input_shape: tuple[int, ...]) -> nn.Module:
    return MosaicNet(cfg, input_shape)


register(NetSpec("efficientnet", ImageConfig, _build, "mosaic", {"backbone": "efficientnet_b0"}))
register(NetSpec("resnet", ImageConfig, _build, "mosaic", {"backbone": "resnet18"}))

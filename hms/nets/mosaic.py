"""Image nets on spectrogram mosaics via timm: the net of `efficientnet`.

Input: (B, 8, F, T) panels ordered [K_LL, K_RL, K_LP, K_RP, E_LL, E_RL, E_LP, E_RP] (K = Kaggle
10-min spectrogram, E = spectrogram of the 50 s EEG). The module tiles them into one image
(`layout`), resizes it (`image_size`), repeats it to `channels` and runs a timm backbone, so the
saved state dict plus config.json is all prediction needs. Pretrained weights come only from a
local file (`weights`); nothing is ever downloaded.
"""

from __future__ import annotations

from dataclasses import dataclass

import albumentations as A
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from hms.errors import ConfigError
from hms.nets.backbone import BackboneConfig, create_backbone
from hms.signal.montage import PANELS, panel_flip_index
from hms.train.nn.data import Augment, shift_time

LAYOUTS = ("split", "stack", "kaggle", "eeg")
N_PANELS = len(PANELS)
# [K_LL, K_RL, K_LP, K_RP, E_LL, ...] -> [K_RL, K_LL, K_RP, K_LP, E_RL, ...]: swap LL<->RL and LP<->RP in both halves
MOSAIC_FLIP: tuple[int, ...] = tuple(int(i) for i in panel_flip_index(PANELS))


@dataclass
class ImageConfig(BackboneConfig):
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
            raise ConfigError(f"layout must be one of {LAYOUTS}, not {self.layout!r}")
        if self.channels not in (1, 3):
            raise ConfigError(f"channels must be 1 or 3, not {self.channels}")
        if self.image_size is not None and (len(self.image_size) != 2 or min(self.image_size) < 8):
            raise ConfigError(f"image_size must be [height, width] (>= 8) or null, got {self.image_size}")


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
        raise ConfigError(f"unknown layout {layout!r}; one of {LAYOUTS}")
    return img.unsqueeze(1)


class MosaicNet(nn.Module):
    def __init__(self, cfg: ImageConfig, input_shape: tuple[int, ...]) -> None:
        super().__init__()
        if len(input_shape) != 3 or input_shape[0] != N_PANELS:
            raise ValueError(f"mosaic models expect inputs (8, F, T), got {tuple(input_shape)}")
        self.layout = cfg.layout
        self.image_size = tuple(cfg.image_size) if cfg.image_size else None
        self.channels = cfg.channels
        self.backbone = create_backbone(cfg, cfg.channels)

    def image(self, panels: torch.Tensor) -> torch.Tensor:
        img = tile(panels, self.layout)
        if self.image_size and tuple(img.shape[-2:]) != self.image_size:
            # antialias when shrinking so that narrow events are averaged, not skipped
            shrink = self.image_size[0] < img.shape[-2] or self.image_size[1] < img.shape[-1]
            img = F.interpolate(img, size=self.image_size, mode="bilinear", align_corners=False, antialias=shrink)
        if self.channels == 3:
            img = img.expand(-1, 3, -1, -1)
        return img

    def shared_input(self, panels: torch.Tensor) -> torch.Tensor:
        """The parameter-free part of the net (tiling and resizing): prediction computes it once per batch
        for every fold model (hms.train.nn.loop.predict_rows)."""
        with torch.no_grad():
            return self.image(panels)

    def forward_shared(self, img: torch.Tensor) -> torch.Tensor:
        return self.backbone(img)

    def forward(self, panels: torch.Tensor) -> torch.Tensor:
        return self.forward_shared(self.shared_input(panels))


def mosaic_augment(cfg: ImageConfig, sample_shape: tuple[int, ...]) -> Augment:
    """Training augmentation of one (8, F, T) sample: left/right flip, then albumentations XYMasking
    (time / frequency masks) on the (F, T, 8) panel stack, then an integer time shift (zero fill)."""
    n_freq, n_time = sample_shape[-2], sample_shape[-1]
    transforms: list[A.BasicTransform] = []
    if cfg.mask_prob > 0 and (cfg.time_masks > 0 or cfg.freq_masks > 0):
        # albumentations sees the panel stack as an (F, T, 8) image: x = time, y = frequency
        transforms.append(A.XYMasking(
            num_masks_x=(0, cfg.time_masks), num_masks_y=(0, cfg.freq_masks),
            mask_x_length=(1, max(1, int(cfg.time_mask_frac * n_time))),
            mask_y_length=(1, max(1, int(cfg.freq_mask_frac * n_freq))), fill=0.0, p=cfg.mask_prob))
    # the shift is a slice copy (shift_time, as for the waves): albumentations' Affine warps the
    # whole stack for it and took most of the augmentation's time (0.70 vs 0.21 ms per sample)
    shift = int(round(cfg.shift_frac * n_time))
    compose = A.Compose(transforms) if transforms else None
    flip = list(MOSAIC_FLIP)

    def augment(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if rng.random() < cfg.flip_prob:
            x = x[flip]
        if compose is not None:
            compose.set_random_seed(int(rng.integers(2**31)))
            x = np.ascontiguousarray(compose(image=np.ascontiguousarray(x.transpose(1, 2, 0)))["image"].transpose(2, 0, 1))
        if shift > 0:
            x = shift_time(x, int(rng.integers(-shift, shift + 1)))
        return x

    return augment

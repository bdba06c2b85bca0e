"""Inputs of the neural models: normalisation, the left/right flip, training augmentations and
the torch Dataset over a feature array (a memmap from hms.features.store.open_array).

Randomness is drawn per sample from (epoch seed, row), so a sample's augmentation does not
depend on batch order or on the number of DataLoader workers.
"""

from __future__ import annotations

from typing import Any

import albumentations as A
import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from hms.models.image import ImageConfig
from hms.models.nets import NetConfig
from hms.signal.montage import BIPOLAR_FLIP, PANELS, panel_flip_index

# The montage module is the one home of these permutations (tests pin their values):
# mosaic [K_LL, K_RL, K_LP, K_RP, E_LL, E_RL, E_LP, E_RP]: swap LL<->RL and LP<->RP in both halves;
# waves LL(0-3) <-> RL(4-7), LP(8-11) <-> RP(12-15) pair by pair; Fz-Cz, Cz-Pz stay.
MOSAIC_FLIP: tuple[int, ...] = tuple(int(i) for i in panel_flip_index(PANELS))
WAVE_FLIP: tuple[int, ...] = tuple(int(i) for i in BIPOLAR_FLIP)
FLIPS = {"mosaic": MOSAIC_FLIP, "waves": WAVE_FLIP}


def flip(x: np.ndarray | torch.Tensor, features: str, batched: bool = False) -> Any:
    """Left/right flip of one sample (or a batch when `batched`): permute panels / pairs."""
    perm = list(FLIPS[features])
    return x[:, perm] if batched else x[perm]


def normalize(x: np.ndarray, cfg: NetConfig) -> np.ndarray:
    """float32, NaN -> 0, then per-sample standardisation (or a fixed scale) and clipping."""
    x = np.nan_to_num(np.asarray(x, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    if cfg.normalize == "sample":
        # one mean/std over the whole sample keeps the left/right and panel-to-panel contrasts
        x = (x - x.mean()) / (x.std() + 1e-6)
    elif cfg.normalize == "fixed":
        x = x / cfg.scale
    if cfg.clip is not None:
        np.clip(x, -cfg.clip, cfg.clip, out=x)
    return x


def shift_time(x: np.ndarray, steps: int) -> np.ndarray:
    """Shift along the last (time) axis by `steps`, filling with 0 (the normalised mean)."""
    if steps == 0:
        return x
    out = np.zeros_like(x)
    if steps > 0:
        out[..., steps:] = x[..., :-steps]
    else:
        out[..., :steps] = x[..., -steps:]
    return out


class Augmenter:
    """Training-only augmentations of one normalised sample: flip, time shift, masking (mosaic)."""

    def __init__(self, cfg: NetConfig, features: str, sample_shape: tuple[int, ...]) -> None:
        self.cfg, self.features = cfg, features
        self.n_time = sample_shape[-1]
        self.compose: A.Compose | None = None
        if features == "mosaic":
            assert isinstance(cfg, ImageConfig)
            n_freq = sample_shape[-2]
            transforms: list[A.BasicTransform] = []
            if cfg.mask_prob > 0 and (cfg.time_masks > 0 or cfg.freq_masks > 0):
                # albumentations sees the panel stack as an (F, T, 8) image: x = time, y = frequency
                transforms.append(A.XYMasking(
                    num_masks_x=(0, cfg.time_masks), num_masks_y=(0, cfg.freq_masks),
                    mask_x_length=(1, max(1, int(cfg.time_mask_frac * self.n_time))),
                    mask_y_length=(1, max(1, int(cfg.freq_mask_frac * n_freq))), fill=0.0, p=cfg.mask_prob))
            shift = int(round(cfg.shift_frac * self.n_time))
            if shift > 0:
                transforms.append(A.Affine(translate_px={"x": (-shift, shift), "y": (0, 0)},
                                           border_mode=cv2.BORDER_CONSTANT, fill=0.0, p=1.0))
            self.compose = A.Compose(transforms) if transforms else None

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if rng.random() < self.cfg.flip_prob:
            x = flip(x, self.features)
        if self.compose is not None:
            self.compose.set_random_seed(int(rng.integers(2**31)))
            x = np.ascontiguousarray(self.compose(image=np.ascontiguousarray(x.transpose(1, 2, 0)))["image"].transpose(2, 0, 1))
        elif self.features == "waves":
            shift = int(round(self.cfg.shift_frac * self.n_time))
            if shift > 0:
                x = shift_time(x, int(rng.integers(-shift, shift + 1)))
        return x


class FeatureDataset(Dataset):
    """Rows `rows` of a feature array, normalised, augmented when `augment` is given."""

    def __init__(self, array: np.ndarray, rows: np.ndarray, cfg: NetConfig, targets: np.ndarray | None = None,
                 weights: np.ndarray | None = None, augment: Augmenter | None = None) -> None:
        self.array, self.rows, self.cfg = array, np.asarray(rows, dtype=np.int64), cfg
        n = len(self.rows)
        self.targets = np.zeros((n, 6), np.float32) if targets is None else np.asarray(targets, np.float32)
        self.weights = np.ones(n, np.float32) if weights is None else np.asarray(weights, np.float32)
        if len(self.targets) != n or len(self.weights) != n:
            raise ValueError("FeatureDataset: rows, targets and weights differ in length")
        self.augment = augment
        self.epoch_seed = 0

    def __getstate__(self) -> dict[str, Any]:
        # DataLoader workers started by spawn/forkserver pickle the dataset: send the memmap's
        # file name, not its contents (gigabytes on the real data).
        state = self.__dict__.copy()
        if isinstance(self.array, np.memmap) and self.array.filename:
            state["array"] = ("npy-memmap", str(self.array.filename))
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        if isinstance(state["array"], tuple):
            state["array"] = np.load(state["array"][1], mmap_mode="r")
        self.__dict__.update(state)

    def set_epoch_seed(self, seed: int) -> None:
        self.epoch_seed = seed

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = normalize(self.array[self.rows[i]], self.cfg)
        if self.augment is not None:
            x = self.augment(x, np.random.default_rng([self.epoch_seed, int(self.rows[i])]))
        return torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(self.targets[i]), torch.tensor(self.weights[i])

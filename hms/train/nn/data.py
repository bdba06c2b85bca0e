"""Inputs of the neural models: normalisation and the torch Dataset over a feature array (a memmap
from hms.features.store.open_array). Augmentations are the model's (its module builds them); the
loop only calls them.

Randomness is drawn per sample from (epoch seed, row), so a sample's augmentation does not
depend on batch order or on the number of DataLoader workers. The epoch seed travels with each index
(EpochOrder), so workers kept alive across epochs need no message besides the indices.
"""

from __future__ import annotations

from typing import Any, Callable, TypeVar

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from hms.train.nn.config import NetConfig

Augment = Callable[[np.ndarray, np.random.Generator], np.ndarray]
Array = TypeVar("Array", np.ndarray, torch.Tensor)


def normalize(x: np.ndarray, cfg: NetConfig) -> np.ndarray:
    """float32, NaN -> 0, then per-sample centering or standardisation (or a fixed scale) and clipping."""
    x = np.nan_to_num(np.asarray(x, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    if cfg.normalize == "center":
        x = x - x.mean()
    elif cfg.normalize == "sample":
        # one mean/std over the whole sample keeps the left/right and panel-to-panel contrasts
        x = (x - x.mean()) / (x.std() + 1e-6)
    elif cfg.normalize == "fixed":
        x = x / cfg.scale
    if cfg.clip is not None:
        np.clip(x, -cfg.clip, cfg.clip, out=x)
    return x


def shift_time(x: Array, steps: int) -> Array:
    """Shift a numpy array or a tensor along the last (time) axis by `steps`, filling with 0 (the
    normalised mean)."""
    if steps == 0:
        return x
    out = x.new_zeros(x.shape) if isinstance(x, torch.Tensor) else np.zeros_like(x)
    if steps > 0:
        out[..., steps:] = x[..., :-steps]
    else:
        out[..., :steps] = x[..., -steps:]
    return out


class FeatureDataset(Dataset):
    """Rows `rows` of a feature array, normalised, augmented when `augment` is given."""

    def __init__(self, array: np.ndarray, rows: np.ndarray, cfg: NetConfig, targets: np.ndarray | None = None,
                 weights: np.ndarray | None = None, augment: Augment | None = None) -> None:
        self.array, self.rows, self.cfg = array, np.asarray(rows, dtype=np.int64), cfg
        n = len(self.rows)
        self.targets = np.zeros((n, 6), np.float32) if targets is None else np.asarray(targets, np.float32)
        self.weights = np.ones(n, np.float32) if weights is None else np.asarray(weights, np.float32)
        if len(self.targets) != n or len(self.weights) != n:
            raise ValueError("FeatureDataset: rows, targets and weights differ in length")
        self.augment = augment

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

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """`key`: a position, or (position, epoch seed) as EpochOrder sends it (a bare position: seed 0)."""
        i, seed = key if isinstance(key, tuple) else (key, 0)
        x = normalize(self.array[self.rows[i]], self.cfg)
        if self.augment is not None:
            x = self.augment(x, np.random.default_rng([seed, int(self.rows[i])]))
        return torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(self.targets[i]), torch.tensor(self.weights[i])


class EpochOrder(Sampler):
    """The sampler of a training stage's one DataLoader: before each epoch, `set` gives the epoch's order
    of positions and its seed, and iterating yields (position, seed) keys. The loader's workers can then
    stay alive for the whole stage (a GPU run forked them twice per epoch before) and still draw each
    epoch's augmentations."""

    def __init__(self) -> None:
        self.keys: list[tuple[int, int]] = []

    def set(self, order: np.ndarray, seed: int) -> None:
        self.keys = [(int(i), seed) for i in order]

    def __iter__(self):  # noqa: ANN204 - an iterator of keys
        return iter(self.keys)

    def __len__(self) -> int:
        return len(self.keys)

"""The 1D waveform model (`wave`) on the filtered bipolar signals.

Input: (B, 18, T) pairs ordered LL(4), RL(4), LP(4), RP(4), Fz-Cz, Cz-Pz. One dilated residual
conv encoder is shared by all 18 pairs (each pair is a 1-channel signal, so the encoder learns
one notion of "a discharge" for every electrode pair); its feature maps are averaged within each
chain (LL, RL, LP, RP, central), stacked, mixed by a GRU over time (or pooled) and classified.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn as nn

from hms.constants import N_CLASSES
from hms.nets.heads import small_init_head
from hms.signal.montage import BIPOLAR_FLIP, CHAIN_INDEX, N_BIPOLAR
from hms.train.nn.config import NetConfig
from hms.train.nn.data import Augment, shift_time
from hms.train.nn.family import nn_spec

N_PAIRS = N_BIPOLAR
# pairs of each chain: LL, RL, LP, RP (4 pairs each), then the 2 central pairs
CHAINS: tuple[tuple[int, ...], ...] = tuple(CHAIN_INDEX[c] for c in ("LL", "RL", "LP", "RP", "C"))


@dataclass
class WaveConfig(NetConfig):
    widths: list[int] = field(default_factory=lambda: [16, 32])  # channels of each encoder stage
    pools: list[int] = field(default_factory=lambda: [4, 4])  # average-pool factor after each stage
    dilations: list[int] = field(default_factory=lambda: [1, 3])  # one residual conv per dilation, per stage
    kernel_size: int = 5
    stem_stride: int = 4  # the stem conv's stride (T=2000 at 40 Hz -> 500 steps)
    crop: int | None = 600  # only the central `crop` time steps (15 s at 40 Hz; experts labelled the central 10 s); null = all
    head: str = "gru"  # gru: bidirectional GRU over time, then mean+max pool | pool: mean+max pool
    gru_hidden: int = 64
    drop_rate: float = 0.2

    def __post_init__(self) -> None:
        super().__post_init__()
        if len(self.widths) != len(self.pools) or not self.widths:
            raise ValueError(f"wave: widths {self.widths} and pools {self.pools} must have the same, non-zero length")
        if self.head not in ("gru", "pool"):
            raise ValueError(f"wave.head must be gru or pool, not {self.head!r}")
        if self.crop is not None and self.crop < 16:
            raise ValueError(f"wave.crop must be >= 16 time steps or null, got {self.crop}")
        if self.kernel_size % 2 == 0:
            raise ValueError("wave.kernel_size must be odd (same-length convolutions)")


class ResBlock(nn.Module):
    """Pre-activation residual block: one BN-SiLU-dilated conv per dilation."""

    def __init__(self, c_in: int, c_out: int, kernel_size: int, dilations: list[int]) -> None:
        super().__init__()
        self.proj = nn.Conv1d(c_in, c_out, 1, bias=False) if c_in != c_out else nn.Identity()
        layers: list[nn.Module] = []
        for d in dilations:
            layers += [nn.BatchNorm1d(c_out), nn.SiLU(),
                       nn.Conv1d(c_out, c_out, kernel_size, padding=d * (kernel_size // 2), dilation=d, bias=False)]
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.proj(x)
        return x + self.body(x)


class WaveNet(nn.Module):
    def __init__(self, cfg: WaveConfig, input_shape: tuple[int, ...]) -> None:
        super().__init__()
        if len(input_shape) != 2 or input_shape[0] != N_PAIRS:
            raise ValueError(f"wave model expects inputs ({N_PAIRS}, T), got {input_shape}")
        if cfg.crop is not None and cfg.crop > input_shape[1]:
            raise ValueError(f"wave.crop={cfg.crop} exceeds the {input_shape[1]} time steps of the waves features")
        self.crop = cfg.crop
        w0 = cfg.widths[0]
        self.stem = nn.Conv1d(1, w0, 7, stride=cfg.stem_stride, padding=3, bias=False)
        stages: list[nn.Module] = []
        c_in = w0
        for width, pool in zip(cfg.widths, cfg.pools):
            stages.append(ResBlock(c_in, width, cfg.kernel_size, cfg.dilations))
            stages.append(nn.AvgPool1d(pool) if pool > 1 else nn.Identity())
            c_in = width
        self.encoder = nn.Sequential(*stages, nn.BatchNorm1d(c_in), nn.SiLU())
        n_chains = len(CHAINS)
        self.head_kind = cfg.head
        if cfg.head == "gru":
            self.gru = nn.GRU(n_chains * c_in, cfg.gru_hidden, batch_first=True, bidirectional=True)
            n_feat = 2 * 2 * cfg.gru_hidden
        else:
            n_feat = 2 * n_chains * c_in
        self.dropout = nn.Dropout(cfg.drop_rate)
        self.fc = nn.Linear(n_feat, N_CLASSES)
        small_init_head(self.fc)
        self.register_buffer("chain_weights", _chain_matrix(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.crop is not None:
            start = (x.shape[-1] - self.crop) // 2
            x = x[..., start:start + self.crop]
        b, n, t = x.shape
        feats = self.encoder(self.stem(x.reshape(b * n, 1, t)))  # (B*18, C, T')
        c, t2 = feats.shape[1:]
        # average the pairs of each chain: (B, 18, C*T') x (5, 18)^T -> (B, 5, C, T')
        chains = torch.einsum("kn,bnf->bkf", self.chain_weights.to(feats.dtype), feats.reshape(b, n, c * t2))
        seq = chains.reshape(b, -1, t2)  # (B, 5*C, T')
        if self.head_kind == "gru":
            seq, _ = self.gru(seq.transpose(1, 2))  # (B, T', 2H)
            pooled = torch.cat([seq.mean(dim=1), seq.amax(dim=1)], dim=1)
        else:
            pooled = torch.cat([seq.mean(dim=2), seq.amax(dim=2)], dim=1)
        return self.fc(self.dropout(pooled))


def _chain_matrix() -> torch.Tensor:
    m = torch.zeros(len(CHAINS), N_PAIRS)
    for k, pairs in enumerate(CHAINS):
        m[k, list(pairs)] = 1.0 / len(pairs)
    return m


def wave_augment(cfg: WaveConfig, sample_shape: tuple[int, ...]) -> Augment:
    """Training augmentation of one (18, T) sample: left/right flip, then a zero-filled time shift."""
    flip, shift = list(BIPOLAR_FLIP), int(round(cfg.shift_frac * sample_shape[-1]))

    def augment(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if rng.random() < cfg.flip_prob:
            x = x[flip]
        if shift > 0:
            x = shift_time(x, int(rng.integers(-shift, shift + 1)))
        return x

    return augment


SPEC = nn_spec("wave", "waves", WaveConfig, WaveNet, wave_augment, BIPOLAR_FLIP)

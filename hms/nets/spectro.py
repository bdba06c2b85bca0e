"""The net of `resnet`: a timm backbone on log-mel spectrograms computed inside
the model from the bipolar signals (the 3rd place HMS solution's on-the-fly mel spectrograms).

Input: the `waves` features (B, 18, T) at `fs` Hz. Per chain pair (and the central pairs with
`central`): |STFT|^2 (torch.stft, periodic Hann window) -> the project's mel filter bank
(hms.signal.spectrogram.filterbank) -> log. Two views of one window: the whole window at hop
`full_hop`, and a zoom on the central `zoom_seconds` (the span the experts labelled) at the finer
`zoom_hop`, spliced in place of the full view's frames of that span, so the time axis stays in
order. Each mel band is normalised by a BatchNorm (EEG power falls about as 1/f).

`layout` turns the (pairs, mel, frames) stack into the image:
  channels: each pair one input channel of the stem (pairs x mel x frames): cheap, and the stem
            sees every pair at the same (frequency, time) pixel;
  stack:    the pairs stacked vertically into one grey image ((pairs x mel) x frames), the 3rd
            place's layout: the backbone sees each pair at full resolution, at pairs times the cost.

Because the spectrogram is part of the model, the augmentations act on the signal (left/right
flip, time shift; hms/nets/augment.py) and the training-only SpecAugment masks here act on the
spectrogram after it (torch's generator, seeded per fold by the loop).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from hms.errors import ConfigError
from hms.nets.backbone import BackboneConfig, create_backbone
from hms.signal.montage import CHAIN_INDEX, CHAINS, WAVES_NAMES, check_montages, montage_channels
from hms.signal.spectrogram import filterbank, needed_bins

LAYOUTS = ("channels", "stack")


@dataclass
class SpecConfig(BackboneConfig):
    fs: float = 40.0  # sampling rate of the waves features (features.waves.fs_out)
    central: bool = False  # also Fz-Cz and Cz-Pz (the 16 chain pairs otherwise, as the 3rd place)
    montage: str = "bipolar"  # bipolar | average: which montage of the waves features it reads
    n_mels: int = 32
    fmin_hz: float = 0.5
    fmax_hz: float = 20.0
    n_fft: int = 64  # DFT length of both views (win zero-padded): 0.625 Hz bins
    full_win: int = 64  # samples: 1.6 s at 40 Hz
    full_hop: int = 16  # 0.4 s
    zoom_seconds: float = 10.0  # 0 = no zoom view
    zoom_win: int = 16  # 0.4 s
    zoom_hop: int = 4  # 0.1 s
    layout: str = "channels"
    # SpecAugment (the 4th place's XYMasking), training only: per sample, with mask_prob, up to
    # time_masks spans of <= time_mask_frac of the frames and freq_masks bands of <= freq_mask_frac
    # of the mel bins, set to the band mean (0 after the band norm)
    mask_prob: float = 0.5
    time_masks: int = 2
    time_mask_frac: float = 0.1
    freq_masks: int = 1
    freq_mask_frac: float = 0.15

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.layout not in LAYOUTS:
            raise ConfigError(f"layout must be one of {LAYOUTS}, not {self.layout!r}")
        check_montages([self.montage], "montage")
        for key in ("full_win", "zoom_win"):
            if not 0 < getattr(self, key) <= self.n_fft:
                raise ConfigError(f"{key}={getattr(self, key)} must be in 1..n_fft={self.n_fft}")
        if self.full_hop < 1 or self.zoom_hop < 1 or self.n_mels < 2 or self.zoom_seconds < 0:
            raise ConfigError("full_hop and zoom_hop must be >= 1, n_mels >= 2, zoom_seconds >= 0")
        if not 0 <= self.mask_prob <= 1:
            raise ConfigError(f"mask_prob must be in [0, 1], got {self.mask_prob}")


class LogMel(nn.Module):
    """(N, T) signals -> (N, n_mels, 1 + T // hop) log mel power of centred, zero-padded frames."""

    def __init__(self, cfg: SpecConfig, win: int, hop: int) -> None:
        super().__init__()
        fb = filterbank(cfg.n_mels, cfg.n_fft, cfg.fs, cfg.fmin_hz, cfg.fmax_hz, "mel")
        self.n_bins = needed_bins(fb)
        self.n_fft, self.win, self.hop = cfg.n_fft, win, hop
        self.register_buffer("fb", torch.from_numpy(fb[:, : self.n_bins].copy()), persistent=False)
        self.register_buffer("window", torch.hann_window(win, periodic=True), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        spec = torch.stft(x.float(), self.n_fft, self.hop, self.win, self.window, center=True,
                          pad_mode="constant", return_complex=True)[:, : self.n_bins]
        power = spec.real.square() + spec.imag.square()
        # the waves are µV / 32: 1e-4 is far below any EEG band power, so a zeroed channel is quiet, not -inf
        return torch.log(torch.matmul(self.fb, power) + 1e-4)


class SpecNet(nn.Module):
    def __init__(self, cfg: SpecConfig, input_shape: tuple[int, ...]) -> None:
        super().__init__()
        if len(input_shape) != 2 or input_shape[0] != len(WAVES_NAMES):
            raise ValueError(f"spectrogram nets expect waves inputs ({len(WAVES_NAMES)}, T), got {tuple(input_shape)}")
        n_time = input_shape[1]
        self.cfg = cfg
        slots = [i for c in CHAINS for i in CHAIN_INDEX[c]] + (list(CHAIN_INDEX["C"]) if cfg.central else [])
        pairs = montage_channels(cfg.montage, slots)
        self.register_buffer("pairs", torch.tensor(pairs), persistent=False)
        self.full = LogMel(cfg, cfg.full_win, cfg.full_hop)
        self.zoom_len = int(round(cfg.zoom_seconds * cfg.fs))
        if self.zoom_len > n_time:
            raise ConfigError(f"zoom_seconds={cfg.zoom_seconds} exceeds the {n_time / cfg.fs:g} s of the waves")
        self.zoom = LogMel(cfg, cfg.zoom_win, cfg.zoom_hop) if self.zoom_len > 0 else None
        self.band_norm = nn.BatchNorm2d(cfg.n_mels)
        self.backbone = create_backbone(cfg, len(pairs) if cfg.layout == "channels" else 1)

    def spectrogram(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 36, T) waves -> (B, pairs, n_mels, frames) log mel: the full view with the zoom spliced in."""
        b, _, t = x.shape
        sig = x.index_select(1, self.pairs)
        c = sig.shape[1]
        spec = self.full(sig.reshape(b * c, t))
        if self.zoom is not None:
            start = (t - self.zoom_len) // 2
            zoom = self.zoom(sig[..., start:start + self.zoom_len].reshape(b * c, self.zoom_len))
            hop = self.cfg.full_hop
            first, last = -(-start // hop), (start + self.zoom_len - 1) // hop + 1  # full frames centred in the span
            spec = torch.cat([spec[..., :first], zoom, spec[..., last:]], dim=-1)
        return spec.reshape(b, c, spec.shape[-2], spec.shape[-1])

    def shared_input(self, x: torch.Tensor) -> torch.Tensor:
        """The parameter-free part of the net (the log-mel spectrogram): prediction computes it once per
        batch for every fold model (hms.train.nn.loop.predict_rows)."""
        with torch.no_grad():
            return self.spectrogram(x)

    def forward_shared(self, spec: torch.Tensor) -> torch.Tensor:
        spec = self.band_norm(spec.transpose(1, 2)).transpose(1, 2)
        if self.training and self.cfg.mask_prob > 0:
            spec = spec * self._keep(spec)
        if self.cfg.layout == "stack":
            b, c, f, w = spec.shape
            spec = spec.reshape(b, 1, c * f, w)
        return self.backbone(spec)

    def _keep(self, spec: torch.Tensor) -> torch.Tensor:
        """(B, 1, F, W) 0/1 SpecAugment masks, the same for every pair of a sample."""
        b, _, f, w = spec.shape
        keep = torch.ones(b, 1, f, w)
        on = torch.rand(b) < self.cfg.mask_prob
        for n_masks, frac, axis, size in ((self.cfg.time_masks, self.cfg.time_mask_frac, 3, w),
                                          (self.cfg.freq_masks, self.cfg.freq_mask_frac, 2, f)):
            if n_masks < 1:
                continue
            lengths = torch.randint(0, max(int(frac * size), 1) + 1, (b, n_masks))
            starts = (torch.rand(b, n_masks) * (size - lengths + 1)).long()
            pos = torch.arange(size)
            hit = ((pos >= starts[..., None]) & (pos < (starts + lengths)[..., None])).any(dim=1) & on[:, None]
            shape = [b, 1, 1, 1]
            shape[axis] = size
            keep = keep * (~hit).float().reshape(shape)
        return keep.to(spec.device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_shared(self.shared_input(x))

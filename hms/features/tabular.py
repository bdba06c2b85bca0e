"""Handcrafted features for the gradient-boosted trees (one float32 row per window).

Groups (see `feature_manifest` for every column):
- spec_{region}_{band}_{W}s_{stat}: Kaggle spectrogram, per region (LL, RL, LP, RP) and band
  (delta 0.5-4, theta 4-8, alpha 8-13, beta 13-20 Hz): ln of the band-mean power per 2 s row
  (clipped to [1e-4, 1e6]), then mean/min/max/std over the central W seconds of the 600 s window.
- eeg_{chain}_{feat}: EEG features of the central `eeg_seconds` (default 30) of the preprocessed bipolar
  window, computed per bipolar pair and averaged over the chain's pairs (LL, RL, LP, RP, C);
  the chain's discharge rate is that of its most periodic pair (highest acf_peak).
- asym_{LL_RL|LP_RP}_{feat}: left-right asymmetry. Sign convention: POSITIVE = LEFT LARGER.
  For non-negative quantities (band powers, line length, amplitude, sharp rate) it is the index
  (L - R) / (L + R) in [-1, 1] of the chain means; for the other features it is L - R.
- corr_LL_RL, corr_LP_RP: mean Pearson correlation of mirrored pairs (high = bisynchronous,
  generalized; low = lateralized or unrelated).
- ch_{pair}_{feat}: the per-pair features themselves (only with per_channel: true).
- avg_*: the same EEG, asymmetry, correlation and per-slot (ch_{electrode}) groups computed on the
  average-reference montage, whose 18 slots follow the bipolar layout (hms.signal.montage).
  `montages` says which of the two montages give EEG columns (the Kaggle spectrogram columns are
  the bipolar chains' in any case).
- eeg_nan_frac, spec_nan_frac: share of gap samples / values in the raw windows (NaN, or impossible
  values that preprocessing masks as gaps).
Everything is finite: NaN spectrogram windows give 0 (their share is in spec_nan_frac).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import fft as sfft
from scipy.signal import get_window

from hms.constants import EEG_WINDOW, FS, SCALP_CHANNELS, SPEC_FREQS, SPEC_REGIONS, SPEC_STEP_S, SPEC_WINDOW_ROWS
from hms.errors import ConfigError
from hms.signal.artifacts import eeg_artifact_mask
from hms.signal.montage import AVERAGE_SLOTS, BIPOLAR_NAMES, CHAIN_INDEX, check_montages, in_order, split_montages
from hms.signal.preprocess import SignalConfig, preprocess

BANDS: dict[str, tuple[float, float]] = {"delta": (0.5, 4.0), "theta": (4.0, 8.0), "alpha": (8.0, 13.0), "beta": (13.0, 20.0)}
SPEC_STATS = ("mean", "min", "max", "std")

# Per-pair EEG features: name -> (description, non-negative quantity?)
EEG_FEATURES: dict[str, tuple[str, bool]] = {
    **{f"pow_{b}": (f"{b} band power {lo:g}-{hi:g} Hz, µV² (Welch, 2 s segments)", True) for b, (lo, hi) in BANDS.items()},
    "lr_delta_theta": ("log10 ratio delta / theta power", False),
    "lr_theta_alpha": ("log10 ratio theta / alpha power", False),
    "lr_slow_fast": ("log10 ratio (delta + theta) / (alpha + beta) power", False),
    "dom_freq": ("dominant frequency in 0.5-20 Hz, Hz", False),
    "peak_frac": ("rhythmicity: share of 0.5-20 Hz power within ±0.5 Hz of the dominant frequency", False),
    "spec_entropy": ("normalised spectral entropy over 0.5-20 Hz (1 = flat, 0 = one line)", False),
    "acf_peak": ("periodicity: highest local maximum of the autocorrelation at lags 0.22-2.5 s", False),
    "discharge_hz": ("discharge rate: 1 / lag of that autocorrelation peak, Hz (0 if none)", False),
    "line_length": ("line length: mean |dx/dt|, µV/s", True),
    "kurtosis": ("excess kurtosis of the signal (peaky discharges > 0)", False),
    "std": ("amplitude: standard deviation, µV", True),
    "p2p": ("amplitude: 95th minus 5th percentile, µV", True),
    "sharp_rate": ("sharp transients per second: local maxima of |dx/dt| above sharp_k x its median", True),
}
AGG_CHAINS = ("LL", "RL", "LP", "RP", "C")
FILTER_MARGIN_S = 10  # seconds of context filtered on each side of the central EEG segment
ASYM_PAIRS = (("LL", "RL"), ("LP", "RP"))
WELCH_SEG = 2 * FS  # Welch's method: Hann-windowed 2 s segments every 1 s, their periodograms averaged
WELCH_HOP = WELCH_SEG // 2
WELCH_FREQS = sfft.rfftfreq(WELCH_SEG, 1.0 / FS)
_HANN = get_window("hann", WELCH_SEG)
_DENSITY = 1.0 / (FS * (_HANN ** 2).sum())  # periodogram scaling to µV²/Hz
# Per montage: the prefix of its EEG columns and the names of its 18 slots.
MONTAGE_COLUMNS: dict[str, tuple[str, tuple[str, ...]]] = {"bipolar": ("", BIPOLAR_NAMES), "average": ("avg_", AVERAGE_SLOTS)}


@dataclass
class TabularConfig:
    """params.yaml `features.tabular`."""

    # central part of the window for the EEG features. The experts labelled the central 10 s but read it in
    # the 50 s context, and a discharge rate of 0.5-1 Hz needs many cycles to be measured: the whole 50 s
    # measured best (docs/gbdt.md). Above 30 s the segment reaches into the band-pass transient at the
    # window's ends, so `hms scan` computes these columns window by window (slower, docs/scan.md).
    eeg_seconds: float = 50.0
    spec_windows_s: list[int] = field(default_factory=lambda: [600, 60, 20, 10])
    per_channel: bool = True  # emit the 18 x 17 per-pair features (false: chain means and asymmetries only)
    sharp_k: float = 5.0
    # montages whose EEG columns are computed. The average reference is what the tabular models
    # measured best on (docs/gbdt.md); [bipolar, average] gives both, [bipolar] the classic double banana
    montages: list[str] = field(default_factory=lambda: ["average"])

    def __post_init__(self) -> None:
        check_montages(self.montages, "features.tabular.montages")
        if not 2 <= self.eeg_seconds <= EEG_WINDOW // FS:
            raise ConfigError(f"features.tabular.eeg_seconds must be in [2, 50], got {self.eeg_seconds}")
        bad = [w for w in self.spec_windows_s if not SPEC_STEP_S <= w <= SPEC_WINDOW_ROWS * SPEC_STEP_S]
        if bad or not self.spec_windows_s:
            raise ConfigError(f"features.tabular.spec_windows_s: {bad or 'empty'}; each must be in [2, 600] seconds")


def feature_manifest(cfg: TabularConfig) -> pd.DataFrame:
    """column, group, description: one row per feature column, in column order."""
    rows: list[tuple[str, str, str]] = []
    for r in SPEC_REGIONS:
        for b, (lo, hi) in BANDS.items():
            for w in cfg.spec_windows_s:
                for s in SPEC_STATS:
                    rows.append((f"spec_{r}_{b}_{w}s_{s}", "kaggle_spectrogram",
                                 f"Kaggle spectrogram {r}, {b} {lo:g}-{hi:g} Hz, ln band power: {s} over the central {w} s"))
    for montage in in_order(cfg.montages):
        pre, slots = MONTAGE_COLUMNS[montage]
        what, unit = ("", "pair") if montage == "bipolar" else ("average reference: ", "slot")
        for c in AGG_CHAINS:
            for f, (desc, _) in EEG_FEATURES.items():
                how = f"at its {unit} with the highest acf_peak" if f == "discharge_hz" else f"mean over its {unit}s"
                rows.append((f"{pre}eeg_{c}_{f}", f"{pre}eeg_chain", f"{what}chain {c} {how} of: {desc}"))
        for left, right in ASYM_PAIRS:
            for f, (desc, positive) in EEG_FEATURES.items():
                how = "(L - R) / (L + R)" if positive else "L - R"
                rows.append((f"{pre}asym_{left}_{right}_{f}", f"{pre}asymmetry",
                             f"{what}{left} vs {right} {how} (positive = left larger) of: {desc}"))
        for left, right in ASYM_PAIRS:
            rows.append((f"{pre}corr_{left}_{right}", f"{pre}asymmetry",
                         f"{what}mean Pearson correlation of the 4 mirrored {unit}s {left} / {right}"))
        if cfg.per_channel:
            for name in slots:
                for f, (desc, _) in EEG_FEATURES.items():
                    rows.append((f"{pre}ch_{name}_{f}", f"{pre}eeg_{unit}", f"{what}{unit} {name}: {desc}"))
    rows.append(("eeg_nan_frac", "quality", "share of gap samples (NaN or impossible values) in the raw 50 s window (19 scalp channels)"))
    rows.append(("spec_nan_frac", "quality", "share of NaN values in the 600 s Kaggle spectrogram window"))
    return pd.DataFrame(rows, columns=["column", "group", "description"])


def _masked_stats(x: np.ndarray, axis: int) -> dict[str, np.ndarray]:
    """mean, min, max, std over `axis` ignoring NaN; 0 where nothing is finite (no warnings)."""
    ok = np.isfinite(x)
    n = ok.sum(axis=axis)
    xs = np.where(ok, x, 0.0)
    mean = xs.sum(axis=axis) / np.maximum(n, 1)
    var = np.where(ok, (x - np.expand_dims(mean, axis)) ** 2, 0.0).sum(axis=axis) / np.maximum(n, 1)
    mn = np.where(ok, x, np.inf).min(axis=axis)
    mx = np.where(ok, x, -np.inf).max(axis=axis)
    empty = n == 0
    return {"mean": np.where(empty, 0.0, mean), "min": np.where(empty, 0.0, mn),
            "max": np.where(empty, 0.0, mx), "std": np.where(empty, 0.0, np.sqrt(var))}


def spec_features(spec: np.ndarray, cfg: TabularConfig) -> list[np.ndarray]:
    """(batch, 300, 400) -> columns in manifest order (region, band, window, stat)."""
    freqs = np.asarray(SPEC_FREQS)
    x = spec.reshape(spec.shape[0], spec.shape[1], len(SPEC_REGIONS), len(freqs))
    cols = []
    for ri in range(len(SPEC_REGIONS)):
        for lo, hi in BANDS.values():
            sel = (freqs >= lo) & (freqs < hi)
            with np.errstate(all="ignore"):
                band = np.log(np.clip(x[:, :, ri, sel].mean(axis=-1), 1e-4, 1e6))  # NaN rows stay NaN
            t = band.shape[1]
            for w in cfg.spec_windows_s:
                n = max(1, int(w // SPEC_STEP_S))
                start = (t - n) // 2
                stats = _masked_stats(band[:, start:start + n], axis=1)
                cols.extend(stats[s] for s in SPEC_STATS)
    return cols


def segment_periodograms(x: np.ndarray) -> np.ndarray:
    """(..., n) -> (..., segments, 201) float64: the one-sided power density (µV²/Hz) of each mean-removed,
    Hann-windowed 2 s segment starting every 1 s, i.e. scipy.signal.welch's periodograms before
    their mean. Windows whose segments fall on one 1 s grid share them: `hms scan` computes them
    once per chunk of the recording (hms.recording.shared)."""
    x = np.asarray(x, dtype=np.float64)
    seg = np.lib.stride_tricks.sliding_window_view(x, WELCH_SEG, axis=-1)[..., ::WELCH_HOP, :]
    seg = (seg - seg.mean(axis=-1, keepdims=True)) * _HANN
    spec = sfft.rfft(seg, axis=-1)
    p = spec.real ** 2 + spec.imag ** 2
    p *= _DENSITY
    p[..., 1:-1] *= 2.0  # one-sided: every bin but DC and Nyquist holds its negative twin
    return p


def welch_mean(p: np.ndarray, first: np.ndarray | None = None, count: int | None = None) -> np.ndarray:
    """Welch's spectra from (..., segments, F) periodograms: the mean over all segments, or with
    `first` (windows,) the mean over segments first_i ... first_i + count - 1 per window, as
    (windows, ..., F). Summed in segment order, so the result does not depend on how many other
    segments `p` holds (a recording chunk's grid and a window's own segments give the same bits)."""
    if first is None:
        parts = (p[..., j, :] for j in range(p.shape[-2]))
        count = p.shape[-2]
    else:
        parts = (np.moveaxis(p[..., np.asarray(first) + j, :], -2, 0) for j in range(count))
    acc = next(parts).copy()
    for part in parts:
        acc += part
    return acc / count


def welch_segments(n: int) -> int:
    """Number of Welch segments in n samples."""
    return (n - WELCH_SEG) // WELCH_HOP + 1


def eeg_pair_features(x: np.ndarray, cfg: TabularConfig, psd: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """(batch, 18, n) preprocessed segment of one montage -> {feature: (batch, 18)} in EEG_FEATURES order.
    `psd`: its Welch spectra (batch, 18, 201) if already known (welch_mean of segment_periodograms)."""
    n = x.shape[-1]
    out: dict[str, np.ndarray] = {}
    psd = welch_mean(segment_periodograms(x)) if psd is None else psd
    freqs = WELCH_FREQS
    df = freqs[1] - freqs[0]
    bp = {b: psd[..., (freqs >= lo) & (freqs < hi)].sum(axis=-1) * df for b, (lo, hi) in BANDS.items()}
    out.update({f"pow_{b}": v for b, v in bp.items()})
    eps = 1e-6
    out["lr_delta_theta"] = np.log10((bp["delta"] + eps) / (bp["theta"] + eps))
    out["lr_theta_alpha"] = np.log10((bp["theta"] + eps) / (bp["alpha"] + eps))
    out["lr_slow_fast"] = np.log10((bp["delta"] + bp["theta"] + eps) / (bp["alpha"] + bp["beta"] + eps))
    band = (freqs >= 0.5) & (freqs <= 20.0)
    p, f = psd[..., band], freqs[band]
    total = p.sum(axis=-1)
    k = p.argmax(axis=-1)
    out["dom_freq"] = np.where(total > 0, f[k], 0.0)
    near = np.abs(f[None, None, :] - out["dom_freq"][..., None]) <= 0.5 + 1e-9
    out["peak_frac"] = np.where(total > 0, (p * near).sum(axis=-1) / np.maximum(total, 1e-30), 0.0)
    q = p / np.maximum(total[..., None], 1e-30)
    ent = -(q * np.log(np.where(q > 0, q, 1.0))).sum(axis=-1) / np.log(len(f))
    out["spec_entropy"] = np.where(total > 0, ent, 0.0)
    # Autocorrelation (biased, so the first of equal peaks wins) through the FFT, zero-padded just
    # enough that the lags used (< hi + 2) do not wrap around.
    lo, hi = int(round(FS / 4.5)), min(int(round(FS / 0.4)), n - 2)
    mean = x.mean(axis=-1, keepdims=True)
    xc = x - mean
    m = sfft.next_fast_len(n + hi + 2, real=True)
    spec = sfft.rfft(xc, n=m, axis=-1)
    acf = sfft.irfft(spec.real ** 2 + spec.imag ** 2, n=m, axis=-1)[..., : hi + 2]
    acf = acf / np.maximum(acf[..., :1], 1e-12)
    mid = acf[..., lo:hi]
    is_peak = (mid > acf[..., lo - 1:hi - 1]) & (mid >= acf[..., lo + 1:hi + 1])
    cand = np.where(is_peak, mid, -np.inf)
    j = cand.argmax(axis=-1)
    best = np.take_along_axis(cand, j[..., None], axis=-1)[..., 0]
    has = np.isfinite(best) & (best > 0)
    out["acf_peak"] = np.where(has, best, 0.0)
    out["discharge_hz"] = np.where(has, FS / (lo + j), 0.0)
    d = np.abs(np.diff(x, axis=-1))
    out["line_length"] = d.mean(axis=-1) * FS
    c2 = xc * xc
    m2 = c2.mean(axis=-1)
    m4 = (c2 * c2).mean(axis=-1)
    # excess kurtosis (scipy.stats.kurtosis's default); 0 for a segment flat to rounding, as scipy's NaN was
    flat = m2 <= (np.finfo(np.float64).resolution * np.abs(mean[..., 0])) ** 2
    out["kurtosis"] = np.where(flat, 0.0, m4 / np.where(flat, 1.0, m2 * m2) - 3.0)
    out["std"] = np.sqrt(m2)
    p5, p95 = np.percentile(x, [5, 95], axis=-1)
    out["p2p"] = p95 - p5
    thr = cfg.sharp_k * np.median(d, axis=-1, keepdims=True)
    dm = d[..., 1:-1]
    peaks = (dm > d[..., :-2]) & (dm >= d[..., 2:]) & (dm > thr)
    out["sharp_rate"] = peaks.sum(axis=-1) / (n / FS)
    return {name: out[name] for name in EEG_FEATURES}


def _chain_agg(per: dict[str, np.ndarray], name: str, chain: str) -> np.ndarray:
    """Mean over the chain's pairs; the discharge rate is the one of its most periodic pair
    (a pair where two similar electrodes cancel out has a meaningless rate)."""
    idx = list(CHAIN_INDEX[chain])
    if name == "discharge_hz":
        best = per["acf_peak"][:, idx].argmax(axis=1)
        return per[name][:, idx][np.arange(len(best)), best]
    return per[name][:, idx].mean(axis=1)


def _mirror_corr(x: np.ndarray, left: str, right: str) -> np.ndarray:
    a = x[:, list(CHAIN_INDEX[left])]
    b = x[:, list(CHAIN_INDEX[right])]
    a = a - a.mean(axis=-1, keepdims=True)
    b = b - b.mean(axis=-1, keepdims=True)
    num = (a * b).sum(axis=-1)
    den = np.sqrt((a * a).sum(axis=-1) * (b * b).sum(axis=-1))
    return np.where(den > 0, num / np.maximum(den, 1e-30), 0.0).mean(axis=1)


def eeg_columns(seg: np.ndarray, cfg: TabularConfig, psd: np.ndarray | None = None) -> list[np.ndarray]:
    """(batch, 18, n) float64 central segment of one montage (and its Welch spectra, if known) ->
    its chain, asymmetry, correlation and per-slot columns, in manifest order."""
    per = eeg_pair_features(seg, cfg, psd)
    chain = {c: {name: _chain_agg(per, name, c) for name in per} for c in AGG_CHAINS}
    cols = [v for c in AGG_CHAINS for v in chain[c].values()]
    for left, right in ASYM_PAIRS:
        for name in per:
            lv, rv = chain[left][name], chain[right][name]
            if EEG_FEATURES[name][1]:
                s = lv + rv
                cols.append(np.where(s > 0, (lv - rv) / np.maximum(s, 1e-30), 0.0))
            else:
                cols.append(lv - rv)
    for left, right in ASYM_PAIRS:
        cols.append(_mirror_corr(seg, left, right))
    if cfg.per_channel:
        for ch in range(seg.shape[1]):
            cols.extend(v[:, ch] for v in per.values())
    return cols


def tabular_from_montages(segs: dict[str, np.ndarray], spec: np.ndarray, eeg_nan_frac: np.ndarray,
                          cfg: TabularConfig, psds: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """{montage: (batch, 18, eeg_seconds x 200) central segment of the preprocessed window} (at least
    cfg.montages), the Kaggle windows (batch, 300, 400), each raw window's gap share and optionally
    {montage: the segments' Welch spectra} -> (batch, n_features) float32 in manifest order. The
    feature stage and the scan both end here."""
    cols = spec_features(spec, cfg)
    for montage in in_order(cfg.montages):
        psd = None if psds is None else psds[montage]
        cols.extend(eeg_columns(np.asarray(segs[montage]).astype(np.float64), cfg, psd))
    cols.append(np.asarray(eeg_nan_frac, dtype=np.float64))
    cols.append(np.isnan(spec).mean(axis=(1, 2)))
    out = np.stack(cols, axis=1)
    return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)


def gap_mask(raw: np.ndarray) -> np.ndarray:
    """(..., 20, n) raw µV -> (..., 19, n) bool: the scalp samples that are gaps, NaN or impossible values
    (preprocessing masks those as gaps too). Their share is the eeg_nan_frac column."""
    scalp = raw[..., : len(SCALP_CHANNELS), :]
    gaps = np.isnan(scalp)
    impossible = eeg_artifact_mask(scalp)
    if impossible is not None:
        gaps |= impossible
    return gaps


def tabular_batch(raw: np.ndarray, spec: np.ndarray, sig: SignalConfig, cfg: TabularConfig,
                  ids: Sequence[object] | None = None) -> np.ndarray:
    """Raw windows (batch, 20, 10000) + Kaggle windows (batch, 300, 400) -> (batch, n_features) float32."""
    # Only the central segment is used: preprocess it with FILTER_MARGIN_S of context on each side
    # (enough for the band-pass transients to die out) instead of the whole 50 s.
    n = int(round(cfg.eeg_seconds * FS))
    lo = max(0, (raw.shape[-1] - n) // 2 - FILTER_MARGIN_S * FS)
    hi = min(raw.shape[-1], lo + n + 2 * FILTER_MARGIN_S * FS)
    x = preprocess(raw[..., lo:hi], sig, ids, montages=in_order(cfg.montages))
    start = (raw.shape[-1] - n) // 2 - lo
    segs = split_montages(x[..., start:start + n], cfg.montages)
    return tabular_from_montages(segs, spec, gap_mask(raw).mean(axis=(-2, -1)), cfg)

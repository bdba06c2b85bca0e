"""Impossible values: samples no scalp EEG or Kaggle spectrogram can hold become gaps (NaN).

A value that cannot be a measurement (a saturated or corrupt sample, a unit error, a float that
was never initialised) must not reach the band-pass filter: the filter spreads one 1e30 sample
over the whole window, and the clip after it then hides the damage (every sample at ±clip_uv).
So, before anything else, such values are set to NaN and take the path of missing samples
(hms.signal.clean: short runs interpolated, long runs zeroed and masked), with a warning naming
the window and channel. On data without impossible values nothing changes: the arrays are
passed through untouched, byte for byte.

The bounds (real figures from the Kaggle data, docs/features.md "Impossible values"):
- Scalp EEG, SCALP_LIMIT_UV = 10,000 µV (10 mV). Real scalp channels have p1/p99 of about
  ±100 µV (the widest files ±210 µV) and per-channel std 28-57 µV; the raw real files we hold
  peak at 326 µV, and even the EKG channel, a far larger signal than any scalp EEG, reaches
  ±400 to ±5,000 µV. 10 mV is about 50x the widest scalp p99 and 2x the largest EKG: no
  recorded brain signal or ordinary artifact (blinks, muscle, electrode pops of a few mV) gets
  near it, so only values that are not measurements are removed. Values between the clip
  (±1024 µV, applied after filtering) and this bound are kept: they are real, if extreme.
- Non-finite EEG (±inf) is a gap too; NaN already is one.
- Kaggle spectrogram (power), SPEC_LIMIT = 1e8 = SCALP_LIMIT_UV squared: the scale of the power
  of a signal at the scalp bound. Real values: median about 0.3, p99 50-80, max about 2e5 (so
  the bound is 500x the largest real value). Negative power and ±inf are impossible too.
"""

from __future__ import annotations

import logging
import os
from typing import Sequence

import numpy as np

log = logging.getLogger(__name__)

SCALP_LIMIT_UV = 10_000.0
SPEC_LIMIT = 1e8


def _within(x: np.ndarray, lo: float, hi: float) -> bool:
    """True when every value is finite and in [lo, hi]: two reductions, no temporary array.
    (NaN makes min/max NaN, so an array with NaNs takes the slower exact path.)"""
    if x.size == 0:
        return True
    mn, mx = x.min(), x.max()
    return bool(mn >= lo and mx <= hi)


def eeg_artifact_mask(x: np.ndarray, limit: float = SCALP_LIMIT_UV) -> np.ndarray | None:
    """Bool mask of the impossible samples of a scalp EEG array (±inf or |x| > limit; NaN is
    not counted: it is already a gap), or None when there are none (the common case, cheap)."""
    if _within(x, -limit, limit):
        return None
    with np.errstate(invalid="ignore"):
        bad = np.abs(x) > limit  # NaN compares False; inf compares True
    return bad if bad.any() else None


def spectrogram_artifact_mask(values: np.ndarray, limit: float = SPEC_LIMIT) -> np.ndarray | None:
    """Bool mask of impossible Kaggle spectrogram values (negative, ±inf, > limit; NaN is not
    counted: whole NaN rows exist in the real files), or None when there are none."""
    if _within(values, 0.0, limit):
        return None
    with np.errstate(invalid="ignore"):
        bad = (values < 0) | (values > limit)
    return bad if bad.any() else None


def mask_eeg_artifacts(x: np.ndarray, ids: Sequence[object] | None = None,
                       channel_names: Sequence[str] | None = None, limit: float = SCALP_LIMIT_UV) -> np.ndarray:
    """(batch, channels, time) scalp EEG -> the same array if it holds no impossible value, else
    a float32 copy with them set to NaN; one warning per affected window names its channels."""
    bad = eeg_artifact_mask(x, limit)
    if bad is None:
        return x
    out = np.array(x, dtype=np.float32, copy=True)
    out[bad] = np.nan
    counts = bad.sum(axis=-1)  # (batch, channels)
    for i in np.flatnonzero(counts.any(axis=1)):
        who = ids[i] if ids is not None else f"window {i}"
        parts = [f"{channel_names[k] if channel_names is not None else k} ({int(counts[i, k])} samples)"
                 for k in np.flatnonzero(counts[i])]
        log.warning("%s: channel(s) %s hold impossible values (non-finite or beyond ±%g µV); treated as gaps",
                    who, ", ".join(parts), limit)
    return out


def mask_spectrogram_artifacts(values: np.ndarray, where: str | os.PathLike, regions: Sequence[str],
                               limit: float = SPEC_LIMIT) -> np.ndarray:
    """(rows, regions x freqs) Kaggle spectrogram values -> the same array if clean, else a copy
    with the impossible values set to NaN (the features already ignore NaN cells), warned once."""
    if _within(values, 0.0, limit):
        return values
    bad = spectrogram_artifact_mask(values, limit)
    out = values
    if bad is not None:
        out = values.copy()
        out[bad] = np.nan
        log.warning("%s: %s; treated as missing", where, describe_spectrogram_artifacts(values, bad, regions, limit))
    if out.size and np.isnan(out).all():  # NaN rows are common in real files; a whole NaN file is not
        log.warning("%s: every value is NaN or impossible; its windows get the features of a missing spectrogram", where)
    return out


def describe_eeg_artifacts(x: np.ndarray, channel_names: Sequence[str], limit: float = SCALP_LIMIT_UV) -> str | None:
    """(time, channels) one file's scalp channels -> 'F3: 10000 samples (max |x| 1e+30), ...' or None."""
    bad = eeg_artifact_mask(x, limit)
    if bad is None:
        return None
    parts = []
    for k in np.flatnonzero(bad.any(axis=0)):
        col = x[:, k][bad[:, k]]
        n_inf = int(np.isinf(col).sum())
        worst = np.abs(col[np.isfinite(col)]).max() if n_inf < len(col) else None
        what = [f"{len(col)} samples"]
        if n_inf:
            what.append(f"{n_inf} infinite")
        if worst is not None:
            what.append(f"max |x| {worst:.3g} µV")
        parts.append(f"{channel_names[k]}: " + ", ".join(what))
    return f"impossible scalp values (non-finite or beyond ±{limit:g} µV) on " + "; ".join(parts)


def describe_spectrogram_artifacts(values: np.ndarray, bad: np.ndarray | None, regions: Sequence[str],
                                   limit: float = SPEC_LIMIT) -> str | None:
    """'LL: 12 values (3 negative, 9 above 1e+08) ...' for the impossible cells of a spectrogram, or None."""
    bad = spectrogram_artifact_mask(values, limit) if bad is None else bad
    if bad is None:
        return None
    per_region = bad.reshape(bad.shape[0], len(regions), -1)
    v = values.reshape(per_region.shape)
    parts = []
    for r, name in enumerate(regions):
        m = per_region[:, r]
        if not m.any():
            continue
        col = v[:, r][m]
        kinds = [(int((np.isfinite(col) & (col < 0)).sum()), "negative"), (int(np.isinf(col).sum()), "infinite"),
                 (int((np.isfinite(col) & (col > limit)).sum()), f"above {limit:g}")]
        parts.append(f"{name}: {int(m.sum())} values (" + ", ".join(f"{n} {k}" for n, k in kinds if n) + ")")
    return "impossible spectrogram values on " + "; ".join(parts)

"""One unit of work: a spectrogram's recording, the EEG files cut from it, and their parquet files.

The recording of a spectrogram (its whole span, at least 600 s) is held at 50 Hz; each EEG file is
generated at 200 Hz from its eeg's state and, decimated, becomes that stretch of the recording; the
rest is filled at 50 Hz from the nearest eeg's state with its patterns tapering away with distance.
So a row's 50 s EEG window sits at the centre of its 600 s spectrogram window, and the spectrogram
is computed from the very signal written to the EEG file."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from scipy import signal as sps

from hms.constants import EEG_CHANNELS, FS, SPEC_COLUMNS, SPEC_STEP_S
from hms.seed import derive_seed
from hms.synth.labels import SpecPlan
from hms.synth.signal import EegState, eeg_state, patient_traits, synthesize
from hms.synth.spectrogram import SPEC_FS, kaggle_spectrogram

DECIM = FS // SPEC_FS
TAPER_S = 400.0  # patterns outside an EEG file fade as exp(-distance / TAPER_S)
# Missing data, as in the real files: scattered NaN samples, NaN blocks at the start or end,
# a few EEGs that are largely NaN, and runs of all-NaN spectrogram rows.
P_NAN_SCATTER, P_NAN_BLOCK, P_NAN_MOST, P_NAN_SPEC_ROWS = 0.10, 0.03, 0.005, 0.05


def _add_nans(x: np.ndarray, r: np.random.Generator, split: str) -> None:
    n = x.shape[0]
    if r.random() < P_NAN_SCATTER:
        x[r.integers(0, n, size=int(r.integers(1, 4)))] = np.nan
    if split == "test":  # test files are exactly one clean-ish window
        return
    u = r.random()
    if u < P_NAN_MOST:
        keep = int(n * r.uniform(0.0, 0.2))
        x[keep:] = np.nan
    elif u < P_NAN_MOST + P_NAN_BLOCK:
        m = int(r.uniform(0.5, 10) * FS)
        if r.random() < 0.5:
            x[:m] = np.nan
        else:
            x[n - m:] = np.nan


def _write_eeg(x: np.ndarray, path: Path) -> None:
    table = pa.table({c: pa.array(x[:, i]) for i, c in enumerate(EEG_CHANNELS)})
    # Dictionary encoding is useless on noisy floats and costs 4x the write time; zstd level 1
    # writes as fast as snappy and 18% smaller.
    pq.write_table(table, path, use_dictionary=False, write_statistics=False, compression="zstd", compression_level=1)


def _write_spectrogram(time: np.ndarray, values: np.ndarray, path: Path) -> None:
    cols = {"time": pa.array(time, type=pa.int64())}
    cols.update({c: pa.array(values[:, i]) for i, c in enumerate(SPEC_COLUMNS[1:])})
    # Rounded spectrogram values repeat a lot: dictionary + snappy is smallest and, with 400 short
    # columns, twice as fast as zstd (whose per-column set-up dominates).
    pq.write_table(pa.table(cols), path, write_statistics=False, compression="snappy")


def _fill(rec: np.ndarray, lo: int, hi: int, st: EegState, r: np.random.Generator, edge: int) -> None:
    """Fill rec[lo:hi] (50 Hz samples) from state st; `edge` is the nearest sample of its EEG file."""
    if hi <= lo:
        return
    dist = np.abs(np.arange(lo, hi) - edge) / SPEC_FS
    rec[lo:hi] = synthesize(st, SPEC_FS, hi - lo, r, strength=np.exp(-dist / TAPER_S), with_ekg=False)


def generate_spectrogram_group(plan: SpecPlan, root: str) -> dict[str, int]:
    """Write plan's spectrogram and EEG files under root/{split}_spectrograms and root/{split}_eegs."""
    root_p = Path(root)
    rec = np.empty((plan.span_s * SPEC_FS, 19), dtype=np.float32)
    states = [eeg_state(np.asarray(e.p), e.seed, patient_traits(e.patient_seed)) for e in plan.eegs]
    n_bytes = 0
    spans = []
    for e, st in zip(plan.eegs, states):
        r = np.random.default_rng(e.seed)
        x = synthesize(st, FS, e.length_s * FS, r)
        lo = e.start_s * SPEC_FS
        rec[lo: lo + e.length_s * SPEC_FS] = sps.resample_poly(x[:, :19], 1, DECIM, axis=0)
        spans.append((lo, lo + e.length_s * SPEC_FS))
        x = np.round(x, 2)
        _add_nans(x, np.random.default_rng(derive_seed(e.seed, "nan")), plan.split)
        path = root_p / f"{plan.split}_eegs" / f"{e.eeg_id}.parquet"
        _write_eeg(x, path)
        n_bytes += os.path.getsize(path)
    # Gaps before, between and after the EEG files: each half goes to its nearest eeg.
    for i, (e, st) in enumerate(zip(plan.eegs, states)):
        lo, hi = spans[i]
        left = 0 if i == 0 else (spans[i - 1][1] + lo) // 2
        right = rec.shape[0] if i == len(spans) - 1 else (hi + spans[i + 1][0]) // 2
        _fill(rec, left, lo, st, np.random.default_rng(derive_seed(e.seed, "fill", 0)), lo)
        _fill(rec, hi, right, st, np.random.default_rng(derive_seed(e.seed, "fill", 1)), hi - 1)
    time, values = kaggle_spectrogram(rec, SPEC_FS)
    r = np.random.default_rng(derive_seed(plan.seed, "nan"))
    if plan.split == "train" and r.random() < P_NAN_SPEC_ROWS:
        m = int(r.integers(1, 31))
        start = int(r.integers(0, len(time) - m))
        values[start:start + m] = np.nan
    path = root_p / f"{plan.split}_spectrograms" / f"{plan.spectrogram_id}.parquet"
    _write_spectrogram(time, values, path)
    n_bytes += os.path.getsize(path)
    if len(time) != plan.span_s // SPEC_STEP_S:  # an internal invariant of the plan
        raise RuntimeError(f"spectrogram {plan.spectrogram_id}: {len(time)} rows for a {plan.span_s} s span")
    return {"eegs": len(plan.eegs), "bytes": n_bytes}

"""Opening a recording of any length for streaming: EDF/BDF (through MNE-Python) or a Kaggle-layout
EEG parquet. `Recording.read(start, stop)` returns any stretch as (20, n) float32 µV at 200 Hz in
the Kaggle channel order (19 scalp channels + EKG), so the scan never holds the whole recording.

- EDF/BDF: MNE reads the samples lazily and scales them to volts from each channel's physical
  range and unit; we convert to µV. Channel labels are mapped by hms.recording.channels.
  Before MNE opens the file its header is checked against the file size: a truncated file (fewer
  data records than the header announces) is an error unless `allow_truncated`, because MNE
  would otherwise silently shorten the recording.
- Parquet: the Kaggle layout (20 float columns at 200 Hz); row groups are read as needed, so a
  file written in row groups (as `hms synth-recording` does) streams; a single-row-group file
  (the Kaggle files) is held whole, which is fine at their lengths.
- Resampling to 200 Hz: scipy's polyphase resampler with its anti-aliasing Kaiser FIR (the same
  as hms.signal.filters.resample), applied to each requested stretch plus RESAMPLE_MARGIN_S of
  context on both sides, so stretches join seamlessly (the FIR is a few dozen input samples long).
- Missing electrodes (only with allow_missing) and a missing EKG are NaN: the features' NaN
  policy (hms.signal.clean) zeroes a dead electrode's bipolar pairs.
"""

from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from scipy import signal as sps

from hms.constants import EEG_CHANNELS, FS, SCALP_CHANNELS
from hms.data.contract import check_eeg_schema, parquet_file
from hms.data.errors import DataError
from hms.recording.channels import ChannelMap, map_channels

log = logging.getLogger(__name__)

EDF_SUFFIXES = (".edf", ".bdf")
PARQUET_SUFFIXES = (".parquet", ".pq")
RESAMPLE_MARGIN_S = 1.0
MIN_FS = 50.0  # the features use 0.5-20 Hz; below 50 Hz the montage's upper band is gone


@dataclass
class Recording:
    """A recording opened for streaming. Times are seconds from its first sample."""

    path: Path
    format: str  # edf | bdf | parquet
    fs_in: float  # the file's sample rate
    n_in: int  # samples in the file (per channel)
    channels: ChannelMap
    annotations: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["onset_s", "duration_s", "description"]))
    start_time: str | None = None  # measurement date from the header (ISO), if any
    _reader: Any = field(default=None, repr=False)

    @property
    def n(self) -> int:
        """Samples at 200 Hz."""
        up, down = _ratio(self.fs_in)
        return self.n_in * up // down

    @property
    def duration_s(self) -> float:
        return self.n / FS

    def read(self, start: int, stop: int) -> np.ndarray:
        """Samples [start, stop) at 200 Hz as (20, stop - start) float32 µV, channels in EEG_CHANNELS
        order; missing channels NaN. Anti-aliased resampling with context on both sides."""
        if not 0 <= start <= stop <= self.n:
            raise ValueError(f"read({start}, {stop}) outside the recording's {self.n} samples")
        up, down = _ratio(self.fs_in)
        if up == down:
            return self._read_native(start, stop)
        margin = int(np.ceil(RESAMPLE_MARGIN_S * FS / up)) * up
        a_out = max(0, (start - margin) // up * up)
        b_out = min(-(-(stop + margin) // up) * up, -(-self.n // up) * up)
        a_in, b_in = a_out // up * down, min(self.n_in, b_out // up * down)
        x = self._read_native(a_in, b_in)
        y = sps.resample_poly(x, up, down, axis=-1).astype(np.float32)
        return y[:, start - a_out: stop - a_out]

    def _read_native(self, a: int, b: int) -> np.ndarray:
        out = np.full((len(EEG_CHANNELS), b - a), np.nan, dtype=np.float32)
        rows = [i for i, c in enumerate(self.channels.scalp) if c is not None]
        src = [self.channels.scalp[i] for i in rows]
        if self.channels.ekg is not None:
            rows.append(len(EEG_CHANNELS) - 1)
            src.append(self.channels.ekg)
        if b > a:
            out[rows] = self._reader(src, a, b)
        return out

    def summary(self) -> dict[str, Any]:
        return {"path": str(self.path), "format": self.format, "fs_in": self.fs_in, "samples_in": self.n_in,
                "duration_s": self.duration_s, "start_time": self.start_time, "channels": self.channels.describe(),
                "missing_channels": self.channels.missing, "annotations": len(self.annotations)}


def _ratio(fs_in: float) -> tuple[int, int]:
    """up, down of the rational resampling fs_in -> 200 Hz. The rate is taken as the nearest fraction
    with a denominator up to 10 (a header's 199.99 Hz as 200 Hz: the polyphase filter of 20000/19999
    would have 200,000 taps); open_recording warns about the clock drift that makes."""
    r = Fraction(FS) / Fraction(fs_in).limit_denominator(10)
    return r.numerator, r.denominator


def open_recording(path: str | os.PathLike, allow_missing: int = 0, allow_truncated: bool = False) -> Recording:
    """Open an EDF/BDF or Kaggle-layout parquet EEG recording; errors name the file and the fix."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "recording not found", hint="pass an .edf, .bdf or Kaggle-layout .parquet EEG file")
    suffix = path.suffix.lower()
    if suffix in EDF_SUFFIXES:
        rec = _open_edf(path, allow_missing, allow_truncated)
    elif suffix in PARQUET_SUFFIXES:
        rec = _open_parquet(path)
    else:
        raise DataError(path, f"unknown recording format {suffix!r}", expected="one of .edf, .bdf, .parquet")
    if rec.fs_in < MIN_FS:
        raise DataError(path, "sample rate too low for the montage's 0.5-20 Hz band", expected=f">= {MIN_FS:g} Hz",
                        found=f"{rec.fs_in:g} Hz")
    up, down = _ratio(rec.fs_in)
    used = FS * down / up
    if abs(used - rec.fs_in) > 1e-9 * rec.fs_in:
        log.warning("%s: sample rate %.6g Hz taken as %.6g Hz (times drift by %.2g s per hour)", path, rec.fs_in, used,
                    abs(used - rec.fs_in) / rec.fs_in * 3600)
    if rec.channels.missing:
        log.warning("%s: channel(s) %s missing: masked (their bipolar pairs are zero)", path, ", ".join(rec.channels.missing))
    return rec


# -- EDF / BDF ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class EdfHeader:
    n_records: int  # -1 = unknown (recording not closed)
    record_s: float
    labels: tuple[str, ...]
    samples_per_record: tuple[int, ...]
    header_bytes: int
    bytes_per_sample: int


def read_edf_header(path: Path) -> EdfHeader:
    """The fixed part of the EDF/BDF header (the only bytes we parse ourselves)."""
    with open(path, "rb") as f:
        raw = f.read(256)
    if len(raw) < 256:
        raise DataError(path, "truncated EDF header", expected=">= 256 header bytes", found=f"{len(raw)} bytes")
    try:
        header_bytes = int(raw[184:192].decode("ascii").strip())
        n_records = int(raw[236:244].decode("ascii").strip())
        record_s = float(raw[244:252].decode("ascii").strip())
        ns = int(raw[252:256].decode("ascii").strip())
    except (UnicodeDecodeError, ValueError) as exc:
        raise DataError(path, f"not an EDF/BDF file (unreadable header field: {exc})") from exc
    with open(path, "rb") as f:
        head = f.read(header_bytes)
    if len(head) < 256 + ns * 256:
        raise DataError(path, "truncated EDF header", expected=f"{256 + ns * 256} header bytes for {ns} signals",
                        found=f"{len(head)} bytes")
    labels = tuple(head[256 + 16 * i: 256 + 16 * (i + 1)].decode("latin-1").strip() for i in range(ns))
    off = 256 + ns * (16 + 80 + 8 + 8 + 8 + 8 + 8 + 80)
    spr = tuple(int(head[off + 8 * i: off + 8 * (i + 1)].decode("ascii").strip()) for i in range(ns))
    bps = 3 if raw[:1] == b"\xff" else 2  # BDF: 24-bit samples, first byte 0xFF
    return EdfHeader(n_records, record_s, labels, spr, header_bytes, bps)


def _check_edf_size(path: Path, h: EdfHeader, allow_truncated: bool) -> None:
    record_bytes = sum(h.samples_per_record) * h.bytes_per_sample
    data_bytes = path.stat().st_size - h.header_bytes
    have = data_bytes // record_bytes if record_bytes else 0
    if h.n_records < 0:
        log.warning("%s: the header gives no record count (recording not closed); using the %d complete records present",
                    path, have)
        return
    if have < h.n_records:
        msg = (f"truncated file: the header announces {h.n_records} data records ({h.n_records * h.record_s:g} s) "
               f"but the file holds {have} complete records ({have * h.record_s:g} s, {data_bytes} data bytes)")
        if not allow_truncated:
            raise DataError(path, msg, hint="re-export or re-copy the file, or pass --allow-truncated to scan the part present")
        log.warning("%s: %s; scanning the part present", path, msg)


def _open_edf(path: Path, allow_missing: int, allow_truncated: bool) -> Recording:
    import mne  # heavy, and only needed for EDF

    h = read_edf_header(path)
    _check_edf_size(path, h, allow_truncated)
    cmap_all = map_channels(list(h.labels), str(path), allow_missing)
    wanted = [h.labels[i] for i in (*cmap_all.scalp, cmap_all.ekg) if i is not None]
    rates = {h.labels[i]: h.samples_per_record[i] / h.record_s for i in range(len(h.labels)) if h.labels[i] in wanted}
    if len(set(rates.values())) > 1:
        log.warning("%s: channels sampled at different rates %s; MNE brings them to the highest", path, sorted(set(rates.values())))
    reader = mne.io.read_raw_bdf if h.bytes_per_sample == 3 else mne.io.read_raw_edf
    with warnings.catch_warnings():
        # MNE warns about the shortened record count, which _check_edf_size has reported already,
        # and about channel names / types it guesses; neither needs repeating.
        warnings.simplefilter("ignore")
        try:
            raw = reader(path, include=wanted, preload=False, verbose="error")
        except (ValueError, RuntimeError, OSError) as exc:
            raise DataError(path, f"unreadable EDF/BDF file: {exc}") from exc
    names = list(raw.ch_names)
    cmap = map_channels(names, str(path), allow_missing)
    annotations = pd.DataFrame({"onset_s": np.asarray(raw.annotations.onset, dtype=np.float64),
                                "duration_s": np.asarray(raw.annotations.duration, dtype=np.float64),
                                "description": [str(d) for d in raw.annotations.description]})
    meas = raw.info.get("meas_date")

    def read_volts(picks: list[int], a: int, b: int) -> np.ndarray:
        return (raw.get_data(picks=picks, start=a, stop=b) * 1e6).astype(np.float32)

    return Recording(path=path, format="bdf" if h.bytes_per_sample == 3 else "edf", fs_in=float(raw.info["sfreq"]),
                     n_in=int(raw.n_times), channels=cmap, annotations=annotations,
                     start_time=meas.isoformat() if meas is not None else None, _reader=read_volts)


# -- Kaggle-layout parquet -----------------------------------------------------------------------

class _ParquetReader:
    """Row-group reads of a 20-column EEG parquet, with the last two groups cached."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.pf = parquet_file(path)
        check_eeg_schema(self.pf, path)
        sizes = [self.pf.metadata.row_group(i).num_rows for i in range(self.pf.num_row_groups)]
        self.starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self.cache: dict[int, np.ndarray] = {}

    @property
    def n(self) -> int:
        return int(self.starts[-1])

    def _group(self, g: int) -> np.ndarray:
        if g not in self.cache:
            if len(self.cache) >= 2:
                self.cache.pop(next(iter(self.cache)))
            table = self.pf.read_row_group(g, use_threads=False)
            self.cache[g] = np.stack([table.column(i).to_numpy(zero_copy_only=False).astype(np.float32)
                                      for i in range(table.num_columns)])
        return self.cache[g]

    def __call__(self, picks: list[int], a: int, b: int) -> np.ndarray:
        g0 = int(np.searchsorted(self.starts, a, side="right") - 1)
        g1 = int(np.searchsorted(self.starts, b, side="left"))
        parts = [self._group(g)[picks, max(a, self.starts[g]) - self.starts[g]: min(b, self.starts[g + 1]) - self.starts[g]]
                 for g in range(g0, g1)]
        return np.concatenate(parts, axis=1) if parts else np.zeros((len(picks), 0), np.float32)


def _open_parquet(path: Path) -> Recording:
    reader = _ParquetReader(path)
    cmap = map_channels(list(EEG_CHANNELS), str(path))
    assert cmap.missing == [] and cmap.scalp == tuple(range(len(SCALP_CHANNELS)))
    return Recording(path=path, format="parquet", fs_in=float(FS), n_in=reader.n, channels=cmap, _reader=reader)

"""`hms validate`'s value scan: every EEG and spectrogram file read in full and checked for
impossible values (hms.signal.artifacts). They are not errors (the features treat them as gaps,
with a warning per window); the scan lists them per file so that a user sees them before
training, not in a feature log."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from hms.constants import SCALP_CHANNELS, SPEC_REGIONS
from hms.data.layout import DataDir
from hms.data.read import read_eeg, spectrogram_values
from hms.signal.artifacts import describe_eeg_artifacts, describe_spectrogram_artifacts


@dataclass
class ScanReport:
    impossible: list[tuple[Path, str]] = field(default_factory=list)  # (file, what is impossible in it)
    eeg_files_with_nan: int = 0
    spectrogram_files_with_nan: int = 0

    def summary(self) -> str:
        parts = [f"{len(self.impossible)} file(s) with impossible values (listed above; the features treat them as gaps)"
                 if self.impossible else "no impossible values"]
        if self.eeg_files_with_nan or self.spectrogram_files_with_nan:
            parts.append(f"NaN (missing) values in {self.eeg_files_with_nan} EEG and {self.spectrogram_files_with_nan} "
                         "spectrogram file(s), handled as gaps")
        return "; ".join(parts)


def _has_nan(x: np.ndarray) -> bool:
    return bool(x.size) and bool(np.isnan(x.min()))  # min propagates NaN: no temporary array


def _eeg(path: Path) -> tuple[str | None, bool]:
    x = read_eeg(path)[:, : len(SCALP_CHANNELS)]  # EKG is not used, and is far larger anyway
    return describe_eeg_artifacts(x, SCALP_CHANNELS), _has_nan(x)


def _spec(path: Path) -> tuple[str | None, bool]:
    values = spectrogram_values(path)  # column-major: about 20 % less CPU than read_spectrogram
    return describe_spectrogram_artifacts(values, None, SPEC_REGIONS), _has_nan(values)


def scan_values(data: DataDir, train: pd.DataFrame, test: pd.DataFrame, workers: int = 8) -> ScanReport:
    """Every train/test EEG and spectrogram file read in full: the files that hold impossible
    values (with what), in file order, and how many hold NaN."""
    jobs: list[tuple[Path, Callable[[Path], tuple[str | None, bool]]]] = []
    for split, df in (("train", train), ("test", test)):
        jobs += [(data.eeg(split, e), _eeg) for e in np.unique(df["eeg_id"].to_numpy(np.int64))]
        jobs += [(data.spectrogram(split, s), _spec) for s in np.unique(df["spectrogram_id"].to_numpy(np.int64))]
    # Decoding and the min/max are CPU work: more threads than cores only add contention
    # (measured: 8 threads on 2 cores cost 2-3x the CPU of 1 thread for the same files).
    threads = max(1, min(workers, os.cpu_count() or 1))
    with ThreadPoolExecutor(threads) as pool:
        found = list(tqdm(pool.map(lambda job: job[1](job[0]), jobs), total=len(jobs), desc="scan values", leave=False))
    report = ScanReport()
    for (path, fn), (what, nan) in zip(jobs, found):
        if what:
            report.impossible.append((path, what))
        if nan and fn is _eeg:
            report.eeg_files_with_nan += 1
        elif nan:
            report.spectrogram_files_with_nan += 1
    return report

"""`hms validate`'s value scan: every EEG and spectrogram file read in full and checked for
impossible values (hms.signal.artifacts). They are not errors (the features treat them as gaps,
with a warning per window); the scan lists them per file so that a user sees them before
training, not in a feature log."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from hms.constants import SCALP_CHANNELS, SPEC_REGIONS
from hms.data.layout import DataDir
from hms.data.read import read_eeg, read_spectrogram
from hms.signal.artifacts import describe_eeg_artifacts, describe_spectrogram_artifacts


def _eeg(path: Path) -> str | None:
    x = read_eeg(path)[:, : len(SCALP_CHANNELS)]  # EKG is not used, and is far larger anyway
    return describe_eeg_artifacts(x, SCALP_CHANNELS)


def _spec(path: Path) -> str | None:
    return describe_spectrogram_artifacts(read_spectrogram(path, mask_artifacts=False).values, None, SPEC_REGIONS)


def scan_values(data: DataDir, train: pd.DataFrame, test: pd.DataFrame, workers: int = 8) -> list[tuple[Path, str]]:
    """(file, what is impossible in it) for every train/test EEG and spectrogram file that holds
    impossible values, in file order."""
    jobs: list[tuple[Path, object]] = []
    for split, df in (("train", train), ("test", test)):
        jobs += [(data.eeg(split, e), _eeg) for e in np.unique(df["eeg_id"].to_numpy(np.int64))]
        jobs += [(data.spectrogram(split, s), _spec) for s in np.unique(df["spectrogram_id"].to_numpy(np.int64))]
    with ThreadPoolExecutor(max(1, workers)) as pool:
        found = list(tqdm(pool.map(lambda job: job[1](job[0]), jobs), total=len(jobs), desc="scan values", leave=False))
    return [(path, what) for (path, _), what in zip(jobs, found) if what]

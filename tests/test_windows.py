"""Windows: offsets map to the right EEG samples and spectrogram rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hms.data.errors import DataError
from hms.data.layout import DataDir
from hms.data.read import Spectrogram, read_spectrogram
from hms.data.windows import central, eeg_window, load_window, spectrogram_window


def ramp(n: int) -> np.ndarray:
    return np.repeat(np.arange(n, dtype=np.float32)[:, None], 20, axis=1)


def test_eeg_window_offsets_map_to_samples() -> None:
    eeg = ramp(30_000)
    w = eeg_window(eeg, 6.0)
    assert w.shape == (10_000, 20) and w[0, 0] == 1200 and w[-1, 0] == 11_199
    assert eeg_window(eeg, 100.0)[-1, 0] == 29_999  # the last full window
    c = central(w)
    assert c.shape == (2000, 20) and c[0, 0] == 1200 + 4000 and c[-1, 0] == 1200 + 5999


def test_eeg_window_out_of_range() -> None:
    with pytest.raises(DataError, match=r"EEG shorter than its window at offset 101.0 s"):
        eeg_window(ramp(30_000), 101.0, "x.parquet")


def test_whole_file_test_eeg() -> None:
    assert eeg_window(ramp(10_000), None)[0, 0] == 0
    assert eeg_window(ramp(12_000), float("nan"))[0, 0] == 1000  # central 50 s of a longer file
    with pytest.raises(DataError, match="shorter than its 50 s window"):
        eeg_window(ramp(9_999), None)


def test_spectrogram_window_on_real_time_values(kaggle_sample: Path) -> None:
    spec = read_spectrogram(kaggle_sample / "extra" / "train_spectrogram_id_unknown.parquet")
    w = spectrogram_window(spec, 0.0)
    assert w.shape == (300, 400)
    assert np.isnan(w).all(axis=1).sum() == 26  # NaN rows stay visible
    with pytest.raises(DataError, match=r"out of range .*found 299 rows \(file time spans 1..599\)"):
        spectrogram_window(spec, 2.0)


def test_spectrogram_window_selects_time_range() -> None:
    time = np.arange(1, 1200, 2)
    values = np.repeat(time[:, None].astype(np.float32), 400, axis=1)
    w = spectrogram_window(Spectrogram(time, values), 100.0)
    assert w.shape == (300, 400) and w[0, 0] == 101 and w[-1, 0] == 699
    assert spectrogram_window(Spectrogram(time[:300], values[:300]), None)[0, 0] == 1


def test_load_window_real_test_example(kaggle_sample: Path) -> None:
    sample = {"eeg_id": 3911565283, "spectrogram_id": 853520, "eeg_offset": float("nan"), "spec_offset": float("nan")}
    w = load_window(DataDir(kaggle_sample), "test", sample)
    assert w.eeg.shape == (10_000, 20) and w.spec.shape == (300, 400)

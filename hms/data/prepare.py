"""Validate a whole data directory against the contract and build the prepared sample tables."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from hms.constants import EEG_WINDOW, FS, SPEC_WINDOW_ROWS, SPEC_WINDOW_S
from hms.data.checks import check_data_dir, check_test_tables
from hms.data.contract import read_sample_submission, read_test_csv, read_train_csv
from hms.data.errors import DataError
from hms.data.folds import assign_folds
from hms.data.layout import DataDir
from hms.data.read import eeg_length, spectrogram_times
from hms.data.targets import Aggregation, make_samples, make_test_samples

log = logging.getLogger(__name__)


@dataclass
class PrepareConfig:
    aggregation: Aggregation = "eeg"
    workers: int = 8  # threads: the checks read parquet footers and time columns (I/O bound)


def check_train_files(data: DataDir, train: pd.DataFrame, workers: int) -> None:
    """Every row's EEG and spectrogram window must exist in its file."""
    csv = data.csv("train")
    # Groups as index arrays (one sort) rather than pandas groupby objects: the real data has 17k
    # eegs and 11k spectrograms, and building 11k sub-frames cost more than reading the footers.
    eeg_offs = train["eeg_label_offset_seconds"].to_numpy(np.float64)
    spec_offs = train["spectrogram_label_offset_seconds"].to_numpy(np.float64)

    def check_eeg(item: tuple[int, np.ndarray]) -> None:
        eeg_id, idx = item
        path = data.eeg("train", eeg_id)
        n = eeg_length(path)
        last = idx[int(np.argmax(eeg_offs[idx]))]
        needed = int(round(eeg_offs[last] * FS)) + EEG_WINDOW
        if n < needed:
            raise DataError(path, f"EEG shorter than the window of {csv.name} row {int(train.index[last])} "
                            f"(eeg_label_offset_seconds={eeg_offs[last]:g})", expected=f">= {needed} samples", found=n,
                            hint="the offset points past the end of the EEG file")

    def check_spec(item: tuple[int, np.ndarray]) -> None:
        spec_id, idx = item
        path = data.spectrogram("train", spec_id)
        times = spectrogram_times(path)
        offs = spec_offs[idx]
        counts = np.searchsorted(times, offs + SPEC_WINDOW_S, side="left") - np.searchsorted(times, offs, side="left")
        bad = np.flatnonzero(counts != SPEC_WINDOW_ROWS)
        if len(bad):
            r = train.index[idx[bad[0]]]
            raise DataError(path, f"spectrogram window of {csv.name} row {int(r)} is out of range",
                            column="spectrogram_label_offset_seconds",
                            expected=f"{SPEC_WINDOW_ROWS} rows with time in [{offs[bad[0]]:g}, {offs[bad[0]] + SPEC_WINDOW_S:g})",
                            found=f"{int(counts[bad[0]])} rows (file time spans {times.min()}..{times.max()})")

    eeg_groups = _groups(train["eeg_id"].to_numpy(np.int64))
    spec_groups = _groups(train["spectrogram_id"].to_numpy(np.int64))
    with ThreadPoolExecutor(workers) as pool:
        list(tqdm(pool.map(check_eeg, eeg_groups), total=len(eeg_groups), desc="check train EEGs", leave=False))
        list(tqdm(pool.map(check_spec, spec_groups), total=len(spec_groups), desc="check train spectrograms", leave=False))


def _groups(keys: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """(key, positions of its rows in table order) for each distinct key, keys ascending."""
    order = np.argsort(keys, kind="stable")
    cuts = np.flatnonzero(np.diff(keys[order])) + 1
    return [(int(keys[g[0]]), g) for g in np.split(order, cuts)] if len(keys) else []


def check_test_files(data: DataDir, test: pd.DataFrame, workers: int) -> None:
    def check(row: tuple[int, int]) -> None:
        eeg_id, spec_id = row
        n = eeg_length(data.eeg("test", eeg_id))
        if n < EEG_WINDOW:
            raise DataError(data.eeg("test", eeg_id), "EEG shorter than its 50 s window", expected=f">= {EEG_WINDOW} samples", found=n)
        m = len(spectrogram_times(data.spectrogram("test", spec_id)))
        if m < SPEC_WINDOW_ROWS:
            raise DataError(data.spectrogram("test", spec_id), "spectrogram shorter than its 600 s window",
                            expected=f">= {SPEC_WINDOW_ROWS} rows", found=m)

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(check, zip(test["eeg_id"], test["spectrogram_id"])))


def read_test_tables(data: DataDir) -> tuple[pd.DataFrame, pd.DataFrame]:
    """test.csv and sample_submission.csv, each checked and checked against the other."""
    check_data_dir(data.root)
    test = read_test_csv(data.csv("test"))
    sub = read_sample_submission(data.sample_submission)
    check_test_tables(test, data.csv("test"), sub, data.sample_submission)
    return test, sub


def check_tables(data: DataDir) -> pd.DataFrame:
    """Every CSV of the data directory (schemas, values, the rules across rows and across files),
    without opening a parquet file: the fast first pass of `hms validate` and of a stage that
    wants to fail before slow work. Returns train.csv."""
    check_data_dir(data.root)
    train = read_train_csv(data.csv("train"))
    read_test_tables(data)
    return train


def prepare_train(data: DataDir, cfg: PrepareConfig, n_folds: int, seed: int) -> pd.DataFrame:
    check_data_dir(data.root)
    train = read_train_csv(data.csv("train"))
    check_train_files(data, train, cfg.workers)
    samples = make_samples(train, cfg.aggregation)
    samples["fold"] = assign_folds(samples, n_folds, seed)
    log.info("train: %d rows -> %d samples (%s), %d patients, %d with >= 10 votes",
             len(train), len(samples), cfg.aggregation, samples["patient_id"].nunique(), int((samples["tier"] == "hq").sum()))
    return samples


def prepare_test(data: DataDir, cfg: PrepareConfig) -> pd.DataFrame:
    test, _ = read_test_tables(data)
    check_test_files(data, test, cfg.workers)
    return make_test_samples(test)

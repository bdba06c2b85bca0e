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
    need_eeg = train.groupby("eeg_id")["eeg_label_offset_seconds"].agg(["max", "idxmax"])

    def check_eeg(item: tuple[int, pd.Series]) -> None:
        eeg_id, row = item
        path = data.eeg("train", eeg_id)
        n = eeg_length(path)
        needed = int(round(row["max"] * FS)) + EEG_WINDOW
        if n < needed:
            raise DataError(path, f"EEG shorter than the window of {csv.name} row {int(row['idxmax'])} "
                            f"(eeg_label_offset_seconds={row['max']:g})", expected=f">= {needed} samples", found=n,
                            hint="the offset points past the end of the EEG file")

    def check_spec(item: tuple[int, pd.DataFrame]) -> None:
        spec_id, rows = item
        path = data.spectrogram("train", spec_id)
        times = spectrogram_times(path)
        offs = rows["spectrogram_label_offset_seconds"].to_numpy()
        counts = np.searchsorted(times, offs + SPEC_WINDOW_S, side="left") - np.searchsorted(times, offs, side="left")
        bad = np.flatnonzero(counts != SPEC_WINDOW_ROWS)
        if len(bad):
            r = rows.index[bad[0]]
            raise DataError(path, f"spectrogram window of {csv.name} row {int(r)} is out of range",
                            column="spectrogram_label_offset_seconds",
                            expected=f"{SPEC_WINDOW_ROWS} rows with time in [{offs[bad[0]]:g}, {offs[bad[0]] + SPEC_WINDOW_S:g})",
                            found=f"{int(counts[bad[0]])} rows (file time spans {times.min()}..{times.max()})")

    with ThreadPoolExecutor(workers) as pool:
        list(tqdm(pool.map(check_eeg, need_eeg.iterrows()), total=len(need_eeg), desc="check train EEGs", leave=False))
        groups = list(train.groupby("spectrogram_id"))
        list(tqdm(pool.map(check_spec, groups), total=len(groups), desc="check train spectrograms", leave=False))


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

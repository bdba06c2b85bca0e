"""A minimal valid data directory in the Kaggle layout, written by hand so contract tests can break
one thing at a time (synthetic data from hms.synth is tested separately)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from hms.constants import EEG_CHANNELS, SPEC_COLUMNS, TRAIN_COLUMNS

# eeg_id -> (patient_id, spectrogram_id, eeg seconds); each eeg has two labelled rows 10 s apart.
EEGS = {101: (1, 901, 70), 102: (2, 902, 60), 103: (3, 903, 60), 104: (4, 904, 65)}
SPEC_SECONDS = 700


def write_eeg(path: Path, seconds: float, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    n = int(seconds * 200)
    data = {c: np.round(rng.normal(0, 30, n), 2).astype(np.float32) for c in EEG_CHANNELS}
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(data).to_parquet(path, index=False)


def write_spectrogram(path: Path, seconds: int, time_dtype: str = "int64", seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    time = np.arange(1, seconds, 2)
    df = pd.DataFrame(rng.gamma(1.0, 1.0, (len(time), 400)).astype(np.float32), columns=list(SPEC_COLUMNS[1:]))
    df.insert(0, "time", time.astype(time_dtype))
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_parquet(path, index=False)


def train_rows() -> pd.DataFrame:
    rows = []
    label = 5000
    votes = [[3, 0, 0, 0, 0, 0], [0, 2, 0, 0, 0, 1], [10, 0, 2, 0, 0, 3], [0, 2, 0, 0, 0, 1]]
    names = ["Seizure", "LPD", "Seizure", "LPD"]  # two per class so 2 stratified folds exist
    for i, (eeg_id, (patient, spec, _)) in enumerate(EEGS.items()):
        for sub in range(2):
            off = 10.0 * sub
            rows.append([eeg_id, sub, off, spec, sub, off + 20.0, label, patient, names[i], *votes[i]])
            label += 1
    return pd.DataFrame(rows, columns=list(TRAIN_COLUMNS))


def make_data_dir(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    train = train_rows()
    train.to_csv(root / "train.csv", index=False)
    for eeg_id, (_, spec, seconds) in EEGS.items():
        write_eeg(root / "train_eegs" / f"{eeg_id}.parquet", seconds, seed=eeg_id)
        write_spectrogram(root / "train_spectrograms" / f"{spec}.parquet", SPEC_SECONDS, seed=spec)
    pd.DataFrame({"spectrogram_id": [905], "eeg_id": [105], "patient_id": [5]}).to_csv(root / "test.csv", index=False)
    sub = pd.DataFrame({"eeg_id": [105], **{c: [1 / 6] for c in TRAIN_COLUMNS[9:]}})
    sub.to_csv(root / "sample_submission.csv", index=False)
    write_eeg(root / "test_eegs" / "105.parquet", 50, seed=105)
    write_spectrogram(root / "test_spectrograms" / "905.parquet", 600, time_dtype="int16", seed=905)
    return root

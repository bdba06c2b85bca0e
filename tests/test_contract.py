"""The data contract: real Kaggle files load, and every bad input gets a clear error."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hms.constants import EEG_CHANNELS, SPEC_COLUMNS, TRAIN_COLUMNS
from hms.data.contract import read_sample_submission, read_test_csv, read_train_csv
from hms.data.errors import DataError
from hms.data.layout import DataDir
from hms.data.prepare import PrepareConfig, prepare_test, prepare_train
from hms.data.read import read_eeg, read_spectrogram
from tests.datadir import make_data_dir, write_eeg, write_spectrogram

CFG = PrepareConfig(workers=2)


# ---------- the real files ----------

def test_real_test_eeg_and_spectrogram(kaggle_sample: Path) -> None:
    eeg = read_eeg(kaggle_sample / "test_eegs" / "3911565283.parquet")
    assert eeg.shape == (10_000, 20) and eeg.dtype == np.float32
    assert np.isfinite(eeg).all()
    assert 20 < np.nanstd(eeg[:, :19], axis=0).mean() < 200  # microvolts
    spec = read_spectrogram(kaggle_sample / "test_spectrograms" / "853520.parquet")  # time is int16 here
    assert spec.values.shape == (300, 400) and spec.time.dtype == np.int64
    assert spec.time[0] == 1 and spec.time[-1] == 599


def test_real_train_spectrogram_keeps_nan_rows(kaggle_sample: Path) -> None:
    spec = read_spectrogram(kaggle_sample / "extra" / "train_spectrogram_id_unknown.parquet")  # time is int64
    nan_rows = np.isnan(spec.values).all(axis=1)
    assert nan_rows.sum() == 26  # visible to callers, not dropped or filled
    assert read_eeg(kaggle_sample / "extra" / "train_eeg_id_unknown.parquet").shape == (10_000, 20)


def test_real_csvs(kaggle_sample: Path) -> None:
    train = read_train_csv(kaggle_sample / "train_head50.csv")
    assert len(train) == 50 and tuple(train.columns) == TRAIN_COLUMNS
    assert read_test_csv(kaggle_sample / "test.csv")["eeg_id"].tolist() == [3911565283]
    assert len(read_sample_submission(kaggle_sample / "sample_submission.csv")) == 1


def test_real_test_directory_prepares(kaggle_sample: Path) -> None:
    test = prepare_test(DataDir(kaggle_sample), CFG)
    assert test["eeg_id"].tolist() == [3911565283] and test["eeg_offset"].isna().all()


def test_spectrogram_time_any_integer_dtype(tmp_path: Path) -> None:
    for dtype in ("int16", "int32", "int64", "uint16"):
        write_spectrogram(tmp_path / f"{dtype}.parquet", 600, time_dtype=dtype)
        assert read_spectrogram(tmp_path / f"{dtype}.parquet").time.dtype == np.int64


# ---------- a valid hand-made directory, then one break at a time ----------

@pytest.fixture()
def data_dir(tmp_path: Path) -> Path:
    return make_data_dir(tmp_path / "data")


def test_valid_directory_prepares(data_dir: Path) -> None:
    train = prepare_train(DataDir(data_dir), CFG, n_folds=2, seed=0)
    assert len(train) == 4 and set(train["fold"]) == {0, 1}


def _edit_train(data_dir: Path, edit) -> None:
    df = pd.read_csv(data_dir / "train.csv")
    df = edit(df)
    df.to_csv(data_dir / "train.csv", index=False)


@pytest.mark.parametrize("edit, pattern", [
    (lambda d: d.drop(columns=["patient_id"]), r"train\.csv, column 'patient_id': missing column\(s\) \['patient_id'\]"),
    (lambda d: d[[*TRAIN_COLUMNS[1:], "eeg_id"]], r"columns differ from the Kaggle layout: wrong order"),
    (lambda d: d.assign(eeg_id=d["eeg_id"].astype(str).where(d.index != 3, "abc")),
     r"row 3, column 'eeg_id': not an integer \(expected int64, found .*'abc'\)"),
    (lambda d: d.assign(lpd_vote=d["lpd_vote"].where(d.index != 2, -1)),
     r"row 2, column 'lpd_vote': negative vote count \(expected >= 0, found -1\)"),
    (lambda d: d.assign(**{c: d[c].where(d.index != 5, 0) for c in TRAIN_COLUMNS[9:]}),
     r"row 5, column 'seizure_vote..other_vote': all six vote counts are zero"),
    (lambda d: d.assign(expert_consensus=d["expert_consensus"].where(d.index != 1, "Spike")),
     r"row 1, column 'expert_consensus': unknown consensus label \(expected .*found 'Spike'\)"),
    (lambda d: d.assign(eeg_label_offset_seconds=d["eeg_label_offset_seconds"].where(d.index != 4, -2.0)),
     r"row 4, column 'eeg_label_offset_seconds': negative offset"),
])
def test_bad_train_csv(data_dir: Path, edit, pattern: str) -> None:
    _edit_train(data_dir, edit)
    with pytest.raises(DataError, match=pattern):
        prepare_train(DataDir(data_dir), CFG, n_folds=2, seed=0)


def test_missing_eeg_file(data_dir: Path) -> None:
    (data_dir / "train_eegs" / "102.parquet").unlink()
    with pytest.raises(DataError, match=r"train_eegs/102\.parquet: file not found"):
        prepare_train(DataDir(data_dir), CFG, n_folds=2, seed=0)


def test_file_that_is_not_parquet(data_dir: Path) -> None:
    (data_dir / "train_spectrograms" / "903.parquet").write_text("eeg_id,votes\n1,2\n")
    with pytest.raises(DataError, match=r"903\.parquet: not a parquet file \(no PAR1 magic bytes\)"):
        prepare_train(DataDir(data_dir), CFG, n_folds=2, seed=0)


def test_eeg_shorter_than_its_window(data_dir: Path) -> None:
    write_eeg(data_dir / "train_eegs" / "103.parquet", 55)  # rows need offsets 0 and 10 -> 60 s
    with pytest.raises(DataError, match=r"103\.parquet: EEG shorter than the window of train\.csv row 5 "
                                        r"\(eeg_label_offset_seconds=10\) \(expected >= 12000 samples, found 11000\)"):
        prepare_train(DataDir(data_dir), CFG, n_folds=2, seed=0)


def test_spectrogram_offset_out_of_range(data_dir: Path) -> None:
    _edit_train(data_dir, lambda d: d.assign(spectrogram_label_offset_seconds=d["spectrogram_label_offset_seconds"].where(d.index != 6, 200.0)))
    with pytest.raises(DataError, match=r"904\.parquet, column 'spectrogram_label_offset_seconds': spectrogram window "
                                        r"of train\.csv row 6 is out of range .*found 250 rows"):
        prepare_train(DataDir(data_dir), CFG, n_folds=2, seed=0)


def test_eeg_with_wrong_columns(data_dir: Path) -> None:
    df = pd.read_parquet(data_dir / "train_eegs" / "101.parquet").rename(columns={"Cz": "CZ"})
    df.to_parquet(data_dir / "train_eegs" / "101.parquet", index=False)
    with pytest.raises(DataError, match=r"101\.parquet, column 'Cz': EEG columns differ from the Kaggle layout, missing \['Cz'\]"):
        prepare_train(DataDir(data_dir), CFG, n_folds=2, seed=0)


def test_eeg_with_string_column(data_dir: Path) -> None:
    df = pd.read_parquet(data_dir / "train_eegs" / "101.parquet")
    df["EKG"] = df["EKG"].astype(str)
    df.to_parquet(data_dir / "train_eegs" / "101.parquet", index=False)
    with pytest.raises(DataError, match=r"column 'EKG': EEG column is not floating point \(expected float32, found (string|large_string)\)"):
        prepare_train(DataDir(data_dir), CFG, n_folds=2, seed=0)


def test_spectrogram_with_float_time(data_dir: Path) -> None:
    df = pd.read_parquet(data_dir / "test_spectrograms" / "905.parquet")
    df["time"] = df["time"].astype("float64")
    df.to_parquet(data_dir / "test_spectrograms" / "905.parquet", index=False)
    with pytest.raises(DataError, match=r"column 'time': spectrogram time is not an integer \(expected any integer dtype, found double\)"):
        prepare_test(DataDir(data_dir), CFG)


def test_short_test_eeg(data_dir: Path) -> None:
    write_eeg(data_dir / "test_eegs" / "105.parquet", 40)
    with pytest.raises(DataError, match=r"105\.parquet: EEG shorter than its 50 s window \(expected >= 10000 samples, found 8000\)"):
        prepare_test(DataDir(data_dir), CFG)


def test_test_eeg_missing_from_sample_submission(data_dir: Path) -> None:
    pd.DataFrame({"spectrogram_id": [905, 906], "eeg_id": [105, 106], "patient_id": [5, 6]}).to_csv(data_dir / "test.csv", index=False)
    with pytest.raises(DataError, match=r"test\.csv, row 1, column 'eeg_id': eeg_id 106 has no row in sample_submission\.csv"):
        prepare_test(DataDir(data_dir), CFG)


def test_missing_csv(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"train\.csv: file not found\. check data\.dir"):
        prepare_train(DataDir(tmp_path), CFG, n_folds=2, seed=0)


def test_cli_reports_data_errors(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from hms.cli import main

    assert main(["validate", str(data_dir), "--folds", "2"]) == 0
    assert "OK: 4 train eegs" in capsys.readouterr().out
    shutil.rmtree(data_dir / "test_eegs")
    assert main(["validate", str(data_dir), "--folds", "2"]) == 2
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]  # progress bars may come before it
    assert last.startswith("hms validate: error: ") and "test_eegs/105.parquet: file not found" in last
    assert "Traceback" not in err

"""Bad input never becomes a silent wrong answer (issue 10).

Each case corrupts a copy of a small valid data directory (tests/datadir.py) or a real Kaggle
file, and asserts the message a user gets (file, row, column) and, where a submission could be
written, that none with NaN or rows not summing to 1 ever is. No DVC run, no training: the
whole module runs in well under a minute on 2 cores.
"""

from __future__ import annotations

import logging
import re
import runpy
import shutil
import sys
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import pytest

from hms.constants import EEG_CHANNELS, SCALP_CHANNELS, SPEC_COLUMNS, TRAIN_COLUMNS, VOTE_COLS
from hms.data.errors import DataError
from hms.data.layout import DataDir
from hms.data.prepare import PrepareConfig, check_tables, prepare_test, prepare_train
from hms.data.read import read_eeg, read_spectrogram
from hms.errors import ConfigError, run_stage
from hms.signal.artifacts import SCALP_LIMIT_UV, SPEC_LIMIT
from hms.signal.preprocess import SignalConfig, preprocess
from tests.datadir import make_data_dir, write_eeg, write_spectrogram

CFG = PrepareConfig(workers=2)
REPO = Path(__file__).resolve().parents[1]


# ---------- fixtures and helpers ----------

@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_data_dir(tmp_path_factory.mktemp("badinput") / "data")


@pytest.fixture()
def data_dir(template: Path, tmp_path: Path) -> Path:
    """A fresh copy of the valid hand-made directory, to break one thing in."""
    return Path(shutil.copytree(template, tmp_path / "data"))


def edit_csv(path: Path, edit: Callable[[pd.DataFrame], pd.DataFrame]) -> None:
    edit(pd.read_csv(path)).to_csv(path, index=False)


def header_only(path: Path) -> None:
    path.write_text(path.read_text().splitlines()[0] + "\n")


def prepare_all(data_dir: Path) -> None:
    """What the prepare stage (and `hms validate`) run: every check before any feature work."""
    data = DataDir(data_dir)
    check_tables(data)
    prepare_train(data, CFG, n_folds=2, seed=0)
    prepare_test(data, CFG)


def cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """(exit status, last stderr line, stdout) of `hms ARGV`; argparse errors exit via SystemExit."""
    from hms.cli import main

    try:
        rc = main(argv)
    except SystemExit as exc:
        rc = int(exc.code or 0)
    captured = capsys.readouterr()
    lines = [ln.split("\r")[-1] for ln in captured.err.strip().splitlines()]  # drop progress bars
    lines = [ln for ln in lines if ln.strip()]
    return rc, (lines[-1] if lines else ""), captured.out


def assert_one_line_error(err_last: str, prog: str, pattern: str, full_err: str | None = None) -> None:
    assert err_last.startswith(f"{prog}: error: "), err_last
    assert re.search(pattern, err_last), f"{pattern!r} not in {err_last!r}"
    assert "Traceback" not in (full_err or err_last)


# ---------- train.csv ----------

TRAIN_CASES = [
    ("missing column", lambda d: d.drop(columns=["patient_id"]),
     r"train\.csv, column 'patient_id': missing column\(s\) \['patient_id'\]"),
    ("wrong order", lambda d: d[[*TRAIN_COLUMNS[1:], "eeg_id"]], r"train\.csv: columns differ from the Kaggle layout: wrong order"),
    ("extra column", lambda d: d.assign(note="x"), r"train\.csv: columns differ from the Kaggle layout: unexpected \['note'\]"),
    ("text id", lambda d: d.assign(eeg_id=d["eeg_id"].astype(str).where(d.index != 3, "abc")),
     r"train\.csv, row 3, column 'eeg_id': not an integer \(expected int64, found .*'abc'\)"),
    ("empty vote", lambda d: d.assign(gpd_vote=d["gpd_vote"].where(d.index != 6)),
     r"train\.csv, row 6, column 'gpd_vote': not an integer \(expected int64, found an empty cell \(or NA/NaN\)\)"),
    ("negative vote", lambda d: d.assign(lpd_vote=d["lpd_vote"].where(d.index != 2, -1)),
     r"train\.csv, row 2, column 'lpd_vote': negative vote count \(expected >= 0, found -1\)"),
    ("no votes", lambda d: d.assign(**{c: d[c].where(d.index != 5, 0) for c in VOTE_COLS}),
     r"train\.csv, row 5, column 'seizure_vote..other_vote': all six vote counts are zero"),
    ("unknown label", lambda d: d.assign(expert_consensus=d["expert_consensus"].where(d.index != 1, "Spike")),
     r"train\.csv, row 1, column 'expert_consensus': unknown consensus label .*found 'Spike'"),
    ("negative offset", lambda d: d.assign(eeg_label_offset_seconds=d["eeg_label_offset_seconds"].where(d.index != 4, -2.0)),
     r"train\.csv, row 4, column 'eeg_label_offset_seconds': negative offset"),
    ("text offset", lambda d: d.assign(spectrogram_label_offset_seconds=d["spectrogram_label_offset_seconds"].astype(str).where(d.index != 7, "later")),
     r"train\.csv, row 7, column 'spectrogram_label_offset_seconds': not a number .*'later'"),
    ("exact duplicate row", lambda d: pd.concat([d, d.iloc[[2]]], ignore_index=True),
     r"train\.csv, row 8, column 'label_id': duplicate label_id 5002, first on row 2\. .*counts its votes twice"),
    ("duplicate label_id", lambda d: d.assign(label_id=d["label_id"].where(d.index != 6, d["label_id"].iloc[1])),
     r"train\.csv, row 6, column 'label_id': duplicate label_id 5001, first on row 1"),
    ("duplicate eeg_sub_id", lambda d: d.assign(eeg_sub_id=d["eeg_sub_id"].where(d.index != 3, 0)),
     r"train\.csv, row 3, column 'eeg_sub_id': duplicate \(eeg_id, eeg_sub_id\) = \(102, 0\), first on row 2"),
    ("two patients", lambda d: d.assign(patient_id=d["patient_id"].where(d.index != 5, 9)),
     r"train\.csv, row 5, column 'patient_id': eeg_id 103 has 2 patient_ids: row 4 says 3, row 5 says 9\. .*two folds"),
]


@pytest.mark.parametrize("name, edit, pattern", TRAIN_CASES, ids=[c[0] for c in TRAIN_CASES])
def test_bad_train_csv(data_dir: Path, name: str, edit, pattern: str) -> None:
    edit_csv(data_dir / "train.csv", edit)
    with pytest.raises(DataError, match=pattern):
        prepare_all(data_dir)


def test_exact_duplicate_row_would_have_doubled_votes(data_dir: Path) -> None:
    """Why the duplicate check matters: the eeg's summed votes would count the row twice."""
    from hms.data.targets import make_samples

    train = pd.read_csv(data_dir / "train.csv")
    doubled = make_samples(pd.concat([train, train.iloc[[4]]], ignore_index=True))
    assert doubled.set_index("eeg_id").loc[103, "seizure_vote"] == 30  # 20 without the copy


# ---------- empty tables, directories and missing files ----------

@pytest.mark.parametrize("name", ["train.csv", "test.csv", "sample_submission.csv"])
def test_header_only_csv_says_no_rows(data_dir: Path, name: str) -> None:
    header_only(data_dir / name)
    with pytest.raises(DataError, match=re.escape(name) + r": has no rows \(a header only\)") as err:
        prepare_all(data_dir)
    assert "not an integer" not in str(err.value) and "object" not in str(err.value)


def test_zero_byte_csv(data_dir: Path) -> None:
    (data_dir / "test.csv").write_bytes(b"")
    with pytest.raises(DataError, match=r"test\.csv: empty file \(no header, no rows\) \(expected a header \['spectrogram_id', 'eeg_id', 'patient_id'\] and rows, found 0 bytes"):
        prepare_all(data_dir)


def test_unreadable_csv(data_dir: Path) -> None:
    (data_dir / "train.csv").write_bytes(b'eeg_id,"eeg_sub_id\n1,2,3,4\n5')
    with pytest.raises(DataError, match=r"train\.csv: (not a readable CSV|missing column)"):
        prepare_all(data_dir)


@pytest.mark.parametrize("name", ["train.csv", "sample_submission.csv"])
def test_directory_in_place_of_a_csv(data_dir: Path, name: str) -> None:
    (data_dir / name).unlink()
    (data_dir / name).mkdir()
    with pytest.raises(DataError, match=re.escape(name) + r": is a directory, not a file"):
        prepare_all(data_dir)


def test_directory_in_place_of_a_parquet_file(data_dir: Path) -> None:
    path = data_dir / "train_eegs" / "102.parquet"
    path.unlink()
    path.mkdir()
    with pytest.raises(DataError, match=r"train_eegs/102\.parquet: is a directory, not a file"):
        prepare_all(data_dir)


def test_missing_csv_hint_names_params_for_stages(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    with pytest.raises(DataError, match=r"train\.csv: file not found\. check data\.dir in params\.yaml \(it points to .*data\)"):
        prepare_all(tmp_path / "data")


def test_missing_csv_hint_names_the_cli_argument(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "data").mkdir()
    rc, err, _ = cli(["predict", "--data-dir", str(tmp_path / "data"), "--models", str(tmp_path / "models"),
                      "--out", str(tmp_path / "sub.csv")], capsys)
    assert rc == 2
    assert_one_line_error(err, "hms predict", r"test\.csv: file not found\. check --data-dir \(it points to .*data\)")
    assert "params.yaml" not in err and not (tmp_path / "sub.csv").exists()
    rc, err, _ = cli(["validate", str(tmp_path / "data")], capsys)
    assert rc == 2 and "check the DATA_DIR argument" in err and "params.yaml" not in err


def test_missing_data_dir(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nowhere: data directory not found\. check data\.dir in params\.yaml"):
        prepare_all(tmp_path / "nowhere")


def test_data_dir_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "data.zip").write_bytes(b"PK")
    with pytest.raises(DataError, match=r"data\.zip: is a file, not a data directory"):
        prepare_all(tmp_path / "data.zip")


def test_missing_eeg_file(data_dir: Path) -> None:
    (data_dir / "train_eegs" / "102.parquet").unlink()
    with pytest.raises(DataError, match=r"train_eegs/102\.parquet: file not found\. every eeg_id/spectrogram_id"):
        prepare_all(data_dir)


# ---------- test.csv and sample_submission.csv ----------

def _test_rows(ids: list[int]) -> pd.DataFrame:
    return pd.DataFrame({"spectrogram_id": [900 + i % 100 for i in ids], "eeg_id": ids, "patient_id": [5] * len(ids)})


def _sub_rows(ids: list[int]) -> pd.DataFrame:
    return pd.DataFrame({"eeg_id": ids, **{c: [1 / 6] * len(ids) for c in VOTE_COLS}})


@pytest.mark.parametrize("test_ids, sub_ids, pattern", [
    ([105, 105], [105], r"test\.csv, row 1, column 'eeg_id': duplicate eeg_id 105, first on row 0"),
    ([105], [105, 105], r"sample_submission\.csv, row 1, column 'eeg_id': duplicate eeg_id 105, first on row 0"),
    ([105], [105, 106], r"sample_submission\.csv, row 1, column 'eeg_id': eeg_id 106 has no row in test\.csv\. "
                        r"test\.csv and sample_submission\.csv must list the same eeg_ids"),
    ([105, 106], [105], r"test\.csv, row 1, column 'eeg_id': eeg_id 106 has no row in sample_submission\.csv"),
], ids=["duplicate test eeg_id", "duplicate submission eeg_id", "extra submission eeg_id", "test eeg not in submission"])
def test_test_tables_must_agree(data_dir: Path, test_ids: list[int], sub_ids: list[int], pattern: str) -> None:
    _test_rows(test_ids).to_csv(data_dir / "test.csv", index=False)
    _sub_rows(sub_ids).to_csv(data_dir / "sample_submission.csv", index=False)
    with pytest.raises(DataError, match=pattern):
        prepare_test(DataDir(data_dir), CFG)
    with pytest.raises(DataError, match=pattern):  # and before any parquet file is opened
        check_tables(DataDir(data_dir))


def test_test_csv_wrong_columns(data_dir: Path) -> None:
    edit_csv(data_dir / "test.csv", lambda d: d.rename(columns={"patient_id": "patient"}))
    with pytest.raises(DataError, match=r"test\.csv, column 'patient_id': missing column\(s\)"):
        prepare_all(data_dir)


def test_sample_submission_text_probability(data_dir: Path) -> None:
    edit_csv(data_dir / "sample_submission.csv", lambda d: d.assign(lrda_vote="high"))
    with pytest.raises(DataError, match=r"sample_submission\.csv, row 0, column 'lrda_vote': not a number \(expected float64, found 'high'\)"):
        prepare_all(data_dir)


def test_predict_stops_on_bad_test_tables_without_writing(data_dir: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    _test_rows([105, 105]).to_csv(data_dir / "test.csv", index=False)
    out = tmp_path / "submission.csv"
    rc, err, _ = cli(["predict", "--data-dir", str(data_dir), "--models", str(tmp_path / "no-models"), "--out", str(out)], capsys)
    assert rc == 2 and not out.exists()
    assert_one_line_error(err, "hms predict", r"test\.csv, row 1, column 'eeg_id': duplicate eeg_id 105")


# ---------- parquet files ----------

def test_not_parquet(data_dir: Path) -> None:
    (data_dir / "train_spectrograms" / "903.parquet").write_text("eeg_id,votes\n1,2\n")
    with pytest.raises(DataError, match=r"903\.parquet: not a parquet file \(no PAR1 magic bytes\)"):
        prepare_all(data_dir)


def test_truncated_parquet(data_dir: Path) -> None:
    path = data_dir / "train_eegs" / "104.parquet"
    path.write_bytes(path.read_bytes()[: 2000])
    with pytest.raises(DataError, match=r"104\.parquet: not a parquet file"):
        prepare_all(data_dir)


def test_eeg_wrong_columns(data_dir: Path) -> None:
    df = pd.read_parquet(data_dir / "train_eegs" / "101.parquet").rename(columns={"Cz": "CZ"})
    df.to_parquet(data_dir / "train_eegs" / "101.parquet", index=False)
    with pytest.raises(DataError, match=r"101\.parquet, column 'Cz': EEG columns differ from the Kaggle layout, missing \['Cz'\]"):
        prepare_all(data_dir)


def test_eeg_text_column(data_dir: Path) -> None:
    df = pd.read_parquet(data_dir / "test_eegs" / "105.parquet")
    df["O2"] = df["O2"].astype(str)
    df.to_parquet(data_dir / "test_eegs" / "105.parquet", index=False)
    with pytest.raises(DataError, match=r"105\.parquet, column 'O2': EEG column is not floating point"):
        prepare_all(data_dir)


def test_eeg_shorter_than_window(data_dir: Path) -> None:
    write_eeg(data_dir / "train_eegs" / "103.parquet", 55)
    with pytest.raises(DataError, match=r"103\.parquet: EEG shorter than the window of train\.csv row 5 .*found 11000"):
        prepare_all(data_dir)


def test_short_test_eeg(data_dir: Path) -> None:
    write_eeg(data_dir / "test_eegs" / "105.parquet", 40)
    with pytest.raises(DataError, match=r"105\.parquet: EEG shorter than its 50 s window \(expected >= 10000 samples, found 8000\)"):
        prepare_all(data_dir)


def test_spectrogram_offset_out_of_range(data_dir: Path) -> None:
    edit_csv(data_dir / "train.csv", lambda d: d.assign(spectrogram_label_offset_seconds=d["spectrogram_label_offset_seconds"].where(d.index != 6, 200.0)))
    with pytest.raises(DataError, match=r"904\.parquet, column 'spectrogram_label_offset_seconds': spectrogram window of train\.csv row 6 is out of range"):
        prepare_all(data_dir)


def test_short_test_spectrogram(data_dir: Path) -> None:
    write_spectrogram(data_dir / "test_spectrograms" / "905.parquet", 500)
    with pytest.raises(DataError, match=r"905\.parquet: spectrogram shorter than its 600 s window \(expected >= 300 rows, found 250\)"):
        prepare_all(data_dir)


def test_spectrogram_float_time(data_dir: Path) -> None:
    df = pd.read_parquet(data_dir / "test_spectrograms" / "905.parquet")
    df["time"] = df["time"].astype("float64")
    df.to_parquet(data_dir / "test_spectrograms" / "905.parquet", index=False)
    with pytest.raises(DataError, match=r"column 'time': spectrogram time is not an integer"):
        prepare_all(data_dir)


def test_spectrogram_missing_region(data_dir: Path) -> None:
    df = pd.read_parquet(data_dir / "train_spectrograms" / "902.parquet").drop(columns=["RP_19.92"])
    df.to_parquet(data_dir / "train_spectrograms" / "902.parquet", index=False)
    with pytest.raises(DataError, match=r"902\.parquet, column 'RP_19\.92': spectrogram columns differ .*missing \['RP_19\.92'\]"):
        prepare_all(data_dir)


@pytest.mark.parametrize("split, path, rows", [
    ("train", "train_spectrograms/901.parquet", [5, 4]),  # swapped
    ("test", "test_spectrograms/905.parquet", [7, 7]),  # repeated
])
def test_spectrogram_time_must_increase(data_dir: Path, split: str, path: str, rows: list[int]) -> None:
    df = pd.read_parquet(data_dir / path)
    time = df["time"].to_numpy().copy()
    time[4], time[5] = time[rows[0]], time[rows[1]]
    df["time"] = time
    df.to_parquet(data_dir / path, index=False)
    pattern = re.escape(path.split("/")[1]) + r", row 5, column 'time': spectrogram time is not strictly increasing"
    with pytest.raises(DataError, match=pattern):
        prepare_all(data_dir)
    with pytest.raises(DataError, match=pattern):  # the feature reader refuses it too
        read_spectrogram(data_dir / path)


def test_spectrogram_time_with_an_empty_cell(data_dir: Path) -> None:
    path = data_dir / "test_spectrograms" / "905.parquet"
    df = pd.read_parquet(path)
    df["time"] = df["time"].astype("Int64").where(df.index != 9)
    df.to_parquet(path, index=False)
    with pytest.raises(DataError, match=r"905\.parquet, row 9, column 'time': spectrogram time has an empty cell"):
        prepare_all(data_dir)
    with pytest.raises(DataError, match=r"row 9, column 'time': spectrogram time has an empty cell"):
        read_spectrogram(path)


# ---------- impossible values: gaps before the filter, warned, reported by validate ----------

@pytest.fixture(scope="module")
def real_window(kaggle_sample: Path) -> tuple[np.ndarray, np.ndarray]:
    """The real Kaggle test EEG (1, 20, 10000) and spectrogram (1, 300, 400) windows."""
    eeg = read_eeg(kaggle_sample / "test_eegs" / "3911565283.parquet").T[None].copy()
    spec = read_spectrogram(kaggle_sample / "test_spectrograms" / "853520.parquet").values[None].copy()
    return eeg, spec


def _tabular(raw: np.ndarray, spec: np.ndarray, ids: list[str] | None = None) -> pd.Series:
    from hms.features.tabular import TabularConfig, feature_manifest, tabular_batch

    cfg = TabularConfig(montages=["bipolar", "average"])
    values = tabular_batch(raw, spec, SignalConfig(), cfg, ids)[0]
    return pd.Series(values, index=feature_manifest(cfg)["column"].tolist())


C3 = EEG_CHANNELS.index("C3")


@pytest.mark.parametrize("name, corrupt", [
    ("1e30 channel", lambda x: x[:, C3, :].fill(1e30)),
    ("-1e30 channel", lambda x: x[:, C3, :].fill(-1e30)),
    ("inf channel", lambda x: x[:, C3, :].fill(np.inf)),
])
def test_impossible_channel_is_a_dead_channel(real_window, name: str, corrupt, caplog: pytest.LogCaptureFixture) -> None:
    """A channel of absurd values gives exactly the features of a missing (NaN) channel (its gap share
    in eeg_nan_frac included), and says so."""
    eeg, spec = real_window
    bad, dead = eeg.copy(), eeg.copy()
    corrupt(bad)
    dead[:, C3, :] = np.nan
    with caplog.at_level(logging.WARNING):
        got = _tabular(bad, spec, ["test eeg_id 3911565283"])
    want = _tabular(dead, spec)
    np.testing.assert_array_equal(got.to_numpy(), want.to_numpy())
    assert got["eeg_nan_frac"] >= 1 / 19
    assert abs(got["asym_LP_RP_pow_delta"]) < 0.99  # 0.998 when the filter smeared the channel
    # the dead electrode is out of the average too (in it, it would clip every slot to ±1024 µV)
    assert got["avg_ch_C3_std"] == 0 and 0 < got["avg_ch_C4_std"] < 200
    # (tabular filters the central eeg_seconds plus 10 s of context each side: the whole window by default)
    assert any(re.search(r"test eeg_id 3911565283: channel\(s\) C3 \(10000 samples\) hold impossible values", r.getMessage())
               for r in caplog.records)


@pytest.mark.parametrize("value", [1e30, 1e6, np.inf, -np.inf])
def test_short_spike_is_interpolated(real_window, value: float, caplog: pytest.LogCaptureFixture) -> None:
    """A 10-sample spike no longer smears over the window: the same output as 10 NaN samples."""
    eeg, _ = real_window
    bad, gap = eeg.copy(), eeg.copy()
    bad[:, C3, 5000:5010] = value
    gap[:, C3, 5000:5010] = np.nan
    with caplog.at_level(logging.WARNING):
        out = preprocess(bad, SignalConfig(), ids=["w"])
    np.testing.assert_array_equal(out, preprocess(gap, SignalConfig()))
    assert np.abs(out).max() < 1024  # nothing pinned at the clip
    assert any("w: channel(s) C3 (10 samples)" in r.getMessage() for r in caplog.records)


def test_large_but_possible_values_are_kept(real_window, caplog: pytest.LogCaptureFixture) -> None:
    eeg, _ = real_window
    big = eeg.copy()
    big[:, C3, 5000:5010] = 0.99 * SCALP_LIMIT_UV  # an electrode pop: real, kept, clipped after the filter
    with caplog.at_level(logging.WARNING):
        out = preprocess(big, SignalConfig())
    assert not caplog.records
    assert not np.array_equal(out, preprocess(eeg, SignalConfig()))


def test_clean_windows_pass_through_untouched(real_window) -> None:
    """No impossible value: the artifact step returns its input itself (byte-identical features)."""
    from hms.signal.artifacts import mask_eeg_artifacts, mask_spectrogram_artifacts

    eeg, spec = real_window
    scalp = eeg[:, : len(SCALP_CHANNELS)]
    assert mask_eeg_artifacts(scalp) is scalp
    values = spec[0]
    assert mask_spectrogram_artifacts(values, "x", ("LL", "RL", "LP", "RP")) is values
    with_nan = scalp.copy()
    with_nan[0, 3, :100] = np.nan  # NaN is a gap already, not an impossible value
    assert mask_eeg_artifacts(with_nan) is with_nan


@pytest.mark.parametrize("name, value, kind", [
    ("huge", 1e30, "above 1e\\+08"), ("inf", np.inf, "infinite"), ("negative", -3.0, "negative"),
])
def test_impossible_spectrogram_values_become_nan(data_dir: Path, name: str, value: float, kind: str,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    path = data_dir / "test_spectrograms" / "905.parquet"
    df = pd.read_parquet(path)
    ll = [c for c in SPEC_COLUMNS[1:] if c.startswith("LP_")]
    df.loc[10:11, ll] = np.float32(value)
    df.to_parquet(path, index=False)
    with caplog.at_level(logging.WARNING):
        spec = read_spectrogram(path)
    vals = spec.values.reshape(len(spec.time), 4, 100)
    assert np.isnan(vals[10:12, 2]).all() and np.isfinite(np.delete(vals, [10, 11], axis=0)).all()
    assert np.isfinite(vals[:, [0, 1, 3]]).all()
    assert any("905.parquet" in r.getMessage() and re.search(rf"LP: 200 values \(200 {kind}\)", r.getMessage())
               for r in caplog.records)
    raw = read_spectrogram(path, mask_artifacts=False)  # what validate counts
    assert (np.isinf(raw.values) | (raw.values < 0) | (raw.values > SPEC_LIMIT)).sum() == 200


def test_validate_reports_impossible_values_per_file(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = data_dir / "train_eegs" / "101.parquet"
    df = pd.read_parquet(path)
    df["F3"] = np.float32(1e30)
    df.loc[100:104, "Pz"] = np.float32(np.inf)
    df["EKG"] = np.float32(3e4)  # not a scalp channel: not reported
    df.to_parquet(path, index=False)
    spec = data_dir / "test_spectrograms" / "905.parquet"
    sp = pd.read_parquet(spec)
    sp.loc[3, "RL_1.17"] = np.float32(-1.0)
    sp.to_parquet(spec, index=False)
    nan_eeg = data_dir / "train_eegs" / "103.parquet"
    df = pd.read_parquet(nan_eeg)
    df.loc[7:8, "O1"] = np.nan  # missing, not impossible: counted, not listed
    df.to_parquet(nan_eeg, index=False)
    rc, _, out = cli(["validate", str(data_dir), "--folds", "2"], capsys)
    assert rc == 0
    lines = out.strip().splitlines()
    assert len(lines) == 3 and not any(str(nan_eeg) in ln for ln in lines)
    assert any(ln.startswith(str(path)) and "F3: 14000 samples, max |x| 1e+30 µV" in ln and "Pz: 5 samples, 5 infinite" in ln
               and "EKG" not in ln for ln in lines)
    assert any(ln.startswith(str(spec)) and "RL: 1 values (1 negative)" in ln for ln in lines)
    assert lines[-1].endswith("OK: 4 train eegs (1 with >= 10 votes), 4 patients, 1 test eegs; "
                              "2 file(s) with impossible values (listed above; the features treat them as gaps); "
                              "NaN (missing) values in 1 EEG and 0 spectrogram file(s), handled as gaps")
    rc, _, out = cli(["validate", str(data_dir), "--folds", "2", "--quick"], capsys)
    assert rc == 0 and out.strip().endswith("values not scanned (--quick)") and len(out.strip().splitlines()) == 1


def test_all_nan_spectrogram_is_warned(data_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = data_dir / "train_spectrograms" / "902.parquet"
    df = pd.read_parquet(path)
    df[list(SPEC_COLUMNS[1:])] = np.float32(np.nan)
    df.loc[0, "LL_0.59"] = np.float32(np.inf)
    df.to_parquet(path, index=False)
    with caplog.at_level(logging.WARNING):
        spec = read_spectrogram(path)
    assert np.isnan(spec.values).all()
    assert any("902.parquet: every value is NaN or impossible" in r.getMessage() for r in caplog.records)
    caplog.clear()
    df[list(SPEC_COLUMNS[1:])] = np.float32(1.0)
    df.loc[5:30, list(SPEC_COLUMNS[1:])] = np.float32(np.nan)  # NaN rows, as in real files: silent
    df.to_parquet(path, index=False)
    with caplog.at_level(logging.WARNING):
        read_spectrogram(path)
    assert not caplog.records


def test_validate_clean_directory(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, out = cli(["validate", str(data_dir), "--folds", "2"], capsys)
    assert rc == 0 and out.strip().endswith("; no impossible values") and len(out.strip().splitlines()) == 1


# ---------- one clear line: the CLI ----------

def test_lower_case_log_level(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, out = cli(["--log-level", "debug", "validate", str(data_dir), "--folds", "2", "--quick"], capsys)
    assert rc == 0 and "OK: 4 train eegs" in out


@pytest.mark.parametrize("argv, pattern", [
    (["synth", "x", "--size", "medium"], r"argument --size: invalid choice: 'medium' \(choose from 'tiny', 'small', 'default', 'real'\)"),
    (["--log-level", "loud", "validate", "x"], r"argument --log-level: invalid choice: 'LOUD'"),
    (["validate", "x", "--workers", "0"], r"argument --workers: must be >= 1, not 0"),
    (["validate", "x", "--folds", "one"], r"argument --folds: 'one' is not an integer"),
    (["plot-eeg", "--data-dir", "x", "--eeg-id", "1", "--split", "valid", "--out", "y.png"], r"argument --split: invalid choice"),
])
def test_bad_arguments_are_parser_errors(argv: list[str], pattern: str, capsys: pytest.CaptureFixture[str]) -> None:
    rc, err, _ = cli(argv, capsys)
    assert rc == 2 and re.search(pattern, err) and "Traceback" not in err


def test_synth_size_choices_match_the_presets() -> None:
    from hms.cli import SYNTH_SIZES
    from hms.synth.config import PRESETS

    assert set(SYNTH_SIZES) == set(PRESETS)


def test_debug_flag_shows_the_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from hms.cli import main

    assert main(["--debug", "validate", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "data directory not found" in err


def test_unexpected_error_is_one_line_with_a_debug_hint(monkeypatch: pytest.MonkeyPatch, data_dir: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    import hms.data.validate

    def boom(*args, **kwargs):
        raise RuntimeError("shape mismatch\nsecond line")

    monkeypatch.setattr(hms.data.validate, "check_tables", boom)
    rc, err, _ = cli(["validate", str(data_dir)], capsys)
    assert rc == 1
    assert err == ("hms validate: error: unexpected RuntimeError: shape mismatch second line "
                   "(this looks like a bug; run with --debug for the traceback)")


# ---------- one clear line: stages (run_stage) ----------

def _run_stage(main, *args, env: dict[str, str] | None = None, monkeypatch: pytest.MonkeyPatch,
               script: str = "stages/prepare.py") -> int:
    monkeypatch.setattr(sys, "argv", [script])
    for k, v in (env or {}).items():
        monkeypatch.setenv(k, v)
    with pytest.raises(SystemExit) as exc:
        run_stage(main, *args)
    return int(exc.value.code)


def test_stage_data_error_is_one_line(data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("HMS_DEBUG", raising=False)
    edit_csv(data_dir / "train.csv", lambda d: pd.concat([d, d.iloc[[0]]], ignore_index=True))
    assert _run_stage(lambda: prepare_all(data_dir), monkeypatch=monkeypatch) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("prepare: error: ") and "train.csv, row 8, column 'label_id': duplicate label_id 5000" in err
    assert len(err.splitlines()) == 1


def test_stage_debug_env_shows_the_traceback(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert _run_stage(lambda: prepare_all(tmp_path / "x"), env={"HMS_DEBUG": "1"}, monkeypatch=monkeypatch) == 2
    assert "Traceback (most recent call last)" in capsys.readouterr().err


def test_stage_bug_is_one_line_with_a_hint(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("HMS_DEBUG", raising=False)

    def main(kind: str) -> None:
        {}["features"]

    assert _run_stage(main, "tabular", monkeypatch=monkeypatch) == 1
    assert capsys.readouterr().err.strip() == ("prepare@tabular: error: unexpected KeyError: missing key 'features' "
                                               "(this looks like a bug; rerun with HMS_DEBUG=1 for the traceback)")


def test_plain_value_error_is_not_called_a_bug(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from hms.predictions import check_probabilities

    monkeypatch.delenv("HMS_DEBUG", raising=False)
    assert _run_stage(lambda: check_probabilities(np.full((2, 6), 0.5), "OOF predictions"), monkeypatch=monkeypatch) == 1
    assert capsys.readouterr().err.strip() == ("prepare: error: OOF predictions: row 0 sums to 3.000000000, not 1 "
                                               "(rerun with HMS_DEBUG=1 for the traceback)")


def test_bad_setting_is_a_user_error(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from hms.synth.config import get_config

    monkeypatch.delenv("HMS_DEBUG", raising=False)
    assert _run_stage(lambda: get_config("huge"), monkeypatch=monkeypatch, script="stages/synth.py") == 2
    assert capsys.readouterr().err.strip() == ("synth: error: synth.size must be one of ['default', 'real', 'small', 'tiny'], not "
                                               "'huge' (params.yaml block 'synth')")


def test_stage_missing_input_file(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    monkeypatch.delenv("HMS_DEBUG", raising=False)
    assert _run_stage(lambda: pd.read_parquet(tmp_path / "prepared" / "train.parquet"), monkeypatch=monkeypatch) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("prepare: error: ") and "prepared/train.parquet" in err and len(err.splitlines()) == 1


@pytest.mark.parametrize("block, values, pattern", [
    ("prepare", {"workers": 2, "agregation": "eeg"}, r"unknown key\(s\) \['agregation'\] in block 'prepare'"),
    ("features.signal", {"band_hz": [1.0]}, r"params\.yaml block 'features\.signal': features\.signal\.band_hz must be \[low, high\]"),
    ("prepare", ["workers", 2], r"block 'prepare' must be a mapping"),
])
def test_config_errors(block: str, values, pattern: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from hms.params import to_dataclass

    monkeypatch.delenv("HMS_DEBUG", raising=False)
    cls = PrepareConfig if block == "prepare" else SignalConfig
    with pytest.raises(ConfigError, match=pattern):
        to_dataclass(cls, values, block)
    assert _run_stage(lambda: to_dataclass(cls, values, block), monkeypatch=monkeypatch) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("prepare: error: params.yaml") and len(err.splitlines()) == 1


# ---------- nothing lost: hms synth ----------

def test_synth_refuses_a_directory_it_did_not_write(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mine = tmp_path / "thesis"
    mine.mkdir()
    (mine / "chapter1.tex").write_text("precious")
    rc, err, _ = cli(["synth", str(mine), "--size", "tiny"], capsys)
    assert rc == 2
    assert_one_line_error(err, "hms synth", r"thesis: directory is not empty and was not written by hms synth "
                                            r"\(no \.hms-synth file\); refusing to delete it\. .*--force")
    assert (mine / "chapter1.tex").read_text() == "precious" and sorted(p.name for p in mine.iterdir()) == ["chapter1.tex"]
    (tmp_path / "notes.txt").write_text("x")
    rc, err, _ = cli(["synth", str(tmp_path / "notes.txt")], capsys)
    assert rc == 2 and "exists and is not a directory" in err and (tmp_path / "notes.txt").read_text() == "x"


def test_synth_replaces_its_own_output_and_force(tmp_path: Path) -> None:
    from hms.synth import run_synth
    from hms.synth.run import MARKER

    out = tmp_path / "synth"
    run_synth(out, size="default", seed=1, n_train_eegs=2, n_test_eegs=1, workers=1)
    assert (out / MARKER).is_file()
    (out / "stale.txt").write_text("old run")
    run_synth(out, size="default", seed=1, n_train_eegs=2, n_test_eegs=1, workers=1)  # its own: replaced
    assert not (out / "stale.txt").exists() and (out / "train.csv").is_file()
    other = tmp_path / "other"
    other.mkdir()
    (other / "x.txt").write_text("x")
    run_synth(other, size="default", seed=1, n_train_eegs=2, n_test_eegs=1, workers=1, force=True)
    assert not (other / "x.txt").exists() and (other / MARKER).is_file()


# ---------- nothing lost: submission.csv ----------

@pytest.fixture()
def sample_sub() -> pd.DataFrame:
    return _sub_rows([30, 10, 20])


def _preds(ids: list[int], seed: int = 0) -> pd.DataFrame:
    df = pd.DataFrame({"eeg_id": ids})
    df[list(VOTE_COLS)] = np.random.default_rng(seed).dirichlet(np.ones(6), len(ids))
    return df


def _assert_valid_file(path: Path, sample: pd.DataFrame) -> None:
    from hms.submission import validate_submission

    sub = pd.read_csv(path)
    validate_submission(sub, sample)
    p = sub[list(VOTE_COLS)].to_numpy()
    assert np.isfinite(p).all() and np.abs(p.sum(axis=1) - 1).max() < 1e-6


@pytest.mark.parametrize("name, corrupt, pattern", [
    ("NaN", lambda p: p.assign(gpd_vote=p["gpd_vote"].where(p.index != 1)), r"row 2, column 'gpd_vote': NaN probability \(eeg_id 20\)"),
    ("inf", lambda p: p.assign(seizure_vote=p["seizure_vote"].where(p.index != 0, np.inf)), r"row 1, column 'seizure_vote': infinite probability \(eeg_id 10\)"),
    ("negative", lambda p: p.assign(other_vote=p["other_vote"].where(p.index != 2, -0.1)), r"row 0, column 'other_vote': negative probability \(eeg_id 30\)"),
    ("extra eeg", lambda p: pd.concat([p, _preds([99])], ignore_index=True), r"1 eeg_id\(s\) not in sample_submission\.csv, e\.g\. \[99\]"),
    ("missing eeg", lambda p: p[p["eeg_id"] != 20], r"no prediction for 1 eeg_id\(s\) of sample_submission\.csv"),
    ("duplicate eeg", lambda p: pd.concat([p, p.iloc[[0]]], ignore_index=True), r"duplicate eeg_id 10"),
])
def test_failed_submit_keeps_the_previous_submission(tmp_path: Path, sample_sub: pd.DataFrame, name: str, corrupt,
                                                     pattern: str) -> None:
    from hms.submission import write_new_submission

    path = tmp_path / "submission.csv"
    write_new_submission(_preds([10, 20, 30]), sample_sub, path)
    before = path.read_bytes()
    with pytest.raises(DataError, match=pattern + r".*the previous .*submission\.csv is unchanged"):
        write_new_submission(corrupt(_preds([10, 20, 30], seed=1)), sample_sub, path)
    assert path.read_bytes() == before
    _assert_valid_file(path, sample_sub)
    assert [p.name for p in tmp_path.iterdir()] == ["submission.csv"]  # no temporary left behind


def test_failed_first_submit_writes_nothing(tmp_path: Path, sample_sub: pd.DataFrame) -> None:
    from hms.submission import write_new_submission

    path = tmp_path / "submission.csv"
    nan = _preds([10, 20, 30]).assign(lpd_vote=np.nan)
    with pytest.raises(DataError, match=r"NaN probability .*no .*submission\.csv was written"):
        write_new_submission(nan, sample_sub, path)
    assert not path.exists() and not list(tmp_path.iterdir())


@pytest.mark.parametrize("corrupt, pattern", [
    (lambda s: s.assign(seizure_vote=s["seizure_vote"] + 0.01), r"row 0, column 'seizure_vote,.*': row does not sum to 1 \(eeg_id 30\)"),
    (lambda s: s.assign(grda_vote=0.0), r"zero probability"),
    (lambda s: s.assign(lrda_vote=np.nan), r"NaN probability"),
])
def test_write_submission_refuses_invalid_rows(tmp_path: Path, sample_sub: pd.DataFrame, corrupt, pattern: str) -> None:
    from hms.submission import make_submission, write_submission

    good = make_submission(_preds([10, 20, 30]), sample_sub)
    with pytest.raises(DataError, match=pattern):
        write_submission(corrupt(good), sample_sub, tmp_path / "submission.csv")
    assert not (tmp_path / "submission.csv").exists()


def test_submit_stage_keeps_previous_submission(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """The submit stage as DVC runs it (with persist: true the old file is still there): a bad
    sample_submission.csv fails it in one line and submission.csv stays the last valid one."""
    import yaml

    from hms.predictions import test_frame, write_predictions
    from hms.submission import write_new_submission

    monkeypatch.delenv("HMS_DEBUG", raising=False)
    data = tmp_path / "data"
    data.mkdir()
    _sub_rows([10, 20, 30, 40]).to_csv(data / "sample_submission.csv", index=False)  # 40: never predicted
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"data": {"dir": str(data)}}))
    preds = _preds([10, 20, 30])
    write_predictions(test_frame(preds["eeg_id"].to_numpy(), preds[list(VOTE_COLS)].to_numpy()),
                      tmp_path / "predictions/ensemble/test.parquet")
    previous = tmp_path / "submission.csv"
    write_new_submission(preds, _sub_rows([10, 20, 30]), previous)
    before = previous.read_bytes()
    monkeypatch.chdir(tmp_path)
    stage = runpy.run_path(str(REPO / "stages/submit.py"))  # its main, not run as __main__
    assert _run_stage(stage["main"], monkeypatch=monkeypatch, script="stages/submit.py") == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("submit: error: ") and "no prediction for 1 eeg_id(s) of sample_submission.csv, e.g. [40]" in err
    assert previous.read_bytes() == before

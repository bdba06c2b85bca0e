"""Real-scale pieces: the `real` synthetic preset (the real label structure without caps), waves
stored as per-eeg tracks, the per-process file cache of the feature readers, the scale benchmark's
subset and extrapolation helpers."""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from hms.constants import SPEC_WINDOW_S
from hms.data.layout import DataDir
from hms.data.prepare import PrepareConfig, prepare_train
from hms.features import build as fbuild
from hms.features import store, windows
from hms.features.build import build_features, parse_config, plan_tracks
from hms.features.waves import waves_batch
from hms.seed import single_thread
from hms.synth import get_config, run_synth
from hms.synth.labels import EEG_IN_SPEC_S, load_real_structure, sample_labels
from tests.conftest import default_feature_params


@pytest.fixture(scope="module")
def params() -> dict[str, Any]:
    return default_feature_params()


# --- the `real` preset ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def real_plan():
    """The whole real label structure as a synthetic label plan (about 5 s, no signals)."""
    return sample_labels(get_config("real"), seed=42)


def test_real_preset_keeps_every_real_row(real_plan) -> None:
    real = load_real_structure()
    train = real_plan.train
    assert len(train) == len(real.offsets) == 106_519
    assert train["eeg_id"].nunique() == len(real.eeg_start) - 1 == 17_001
    assert train["spectrogram_id"].nunique() == len(real.spec_eegs)
    # No caps: real offsets, rows per eeg and eegs per spectrogram.
    assert train["eeg_label_offset_seconds"].max() == 3372
    assert train.groupby("eeg_id").size().max() == 743
    assert train.groupby("spectrogram_id")["eeg_id"].nunique().max() == max(len(g) for g in real.spec_eegs)
    assert 1800 < train["patient_id"].nunique() < 2100  # real: 1,950
    # The same multiset of per-eeg offsets as the real structure.
    ours = np.sort(train["eeg_label_offset_seconds"].to_numpy())
    np.testing.assert_array_equal(ours, np.sort(real.offsets))


def test_real_layout_places_eegs_at_their_real_offsets(real_plan) -> None:
    train = real_plan.train
    diff = (train["spectrogram_label_offset_seconds"] - train["eeg_label_offset_seconds"]).groupby(train["eeg_id"]).agg(["min", "max"])
    assert (diff["min"] == diff["max"]).all()  # constant within an eeg
    assert diff["min"].max() > 10_000  # hours into a spectrogram, as in the real data
    spans = {s.spectrogram_id: s for s in real_plan.specs if s.split == "train"}
    assert max(s.span_s for s in spans.values()) > 5 * 3600
    for s in spans.values():
        end = 0
        for e in s.eegs:  # eegs of a recording never overlap and lie inside it
            assert e.start_s >= end
            end = e.start_s + e.length_s
            assert e.start_s - EEG_IN_SPEC_S == diff.loc[e.eeg_id, "min"]
        assert end <= s.span_s
    last = train.groupby("spectrogram_id")["spectrogram_label_offset_seconds"].max()
    assert all(last[k] + SPEC_WINDOW_S <= spans[k].span_s for k in last.index)


def test_real_preset_small_draw_passes_validation(tmp_path: Path) -> None:
    out = tmp_path / "real"
    summary = run_synth(out, size="real", seed=5, n_train_eegs=4, n_test_eegs=1, workers=1)
    assert summary["n_train_eegs"] == 4
    train = prepare_train(DataDir(out), PrepareConfig(aggregation="row", workers=2), n_folds=2, seed=0)
    assert len(train) == summary["n_train_rows"]


def test_other_presets_keep_their_caps() -> None:
    for size in ("tiny", "small", "default"):
        cfg = get_config(size)
        assert (cfg.max_rows_per_eeg, cfg.max_eeg_offset_s, cfg.max_eegs_per_spectrogram, cfg.real_layout) == (30, 120, 4, False)


# --- waves as tracks --------------------------------------------------------------------------------

def _samples(rows: list[tuple[int, float]]) -> pd.DataFrame:
    return pd.DataFrame({"sample_id": np.arange(len(rows)), "eeg_id": [r[0] for r in rows],
                         "spectrogram_id": [r[0] + 100 for r in rows], "eeg_offset": [r[1] for r in rows],
                         "spec_offset": [r[1] for r in rows]})


def test_plan_tracks_runs_and_starts() -> None:
    # eeg 1: windows at 0, 2, 10 s overlap (one track) and one at 200 s (a track of its own);
    # eeg 2: 0 s and 0.01 s do not lie on each other's 40 Hz grid (two tracks).
    s = _samples([(1, 10.0), (1, 0.0), (2, 0.0), (1, 200.0), (1, 2.0), (2, 0.01)])
    tracks, starts = plan_tracks(s, fs_out=40, n_keep=2000)
    assert tracks["n_samples"].tolist() == [3, 1, 1, 1]
    assert tracks["out_len"].tolist() == [60 * 40, 50 * 40, 50 * 40, 50 * 40]
    assert tracks["out_start"].tolist() == [0, 2400, 4400, 6400]
    np.testing.assert_array_equal(starts, [400, 0, 4400, 2400, 80, 6400])
    # A central crop shifts every start by half the dropped samples.
    _, cropped = plan_tracks(s, fs_out=40, n_keep=600)
    np.testing.assert_array_equal(cropped - starts, 700)


@pytest.fixture(scope="module")
def tiny_row(tiny_data: Path) -> pd.DataFrame:
    return prepare_train(DataDir(tiny_data), PrepareConfig(aggregation="row", workers=2), n_folds=3, seed=0)


def test_one_window_tracks_equal_windows_exactly(tiny_data: Path, tiny_prepared, params: dict, tmp_path: Path) -> None:
    """Per-eeg mode keeps the windows layout; a track of one window is that window's waves, bit for bit."""
    train = tiny_prepared[0]
    data = DataDir(tiny_data)
    build_features("waves", data, "train", train, params, tmp_path / "win", workers=2)
    win, _ = store.open_array(tmp_path / "win", "train", train["sample_id"].to_numpy())
    assert isinstance(win, np.memmap)
    sig, cfg = parse_config("waves", params)
    fbuild._build_wave_tracks(data, "train", train, sig, cfg, tmp_path / "trk", workers=1)
    trk, _ = store.open_array(tmp_path / "trk", "train", train["sample_id"].to_numpy())
    assert isinstance(trk, store.TrackArray) and trk.shape == win.shape
    np.testing.assert_array_equal(trk[:], np.asarray(win))


def test_row_mode_waves_are_tracks(tiny_data: Path, tiny_row: pd.DataFrame, params: dict, tmp_path: Path) -> None:
    data = DataDir(tiny_data)
    ids = tiny_row["sample_id"].to_numpy()
    build_features("waves", data, "train", tiny_row, params, tmp_path / "w2", workers=2)
    build_features("waves", data, "train", tiny_row, params, tmp_path / "w1", workers=1)
    assert (tmp_path / "w1" / "train.npy").read_bytes() == (tmp_path / "w2" / "train.npy").read_bytes()
    arr, _ = store.open_array(tmp_path / "w2", "train", ids)
    assert isinstance(arr, store.TrackArray) and arr.shape == (len(tiny_row), 36, 2000)
    # Stored once: the eegs' labelled spans, not rows x 50 s.
    stored = np.load(tmp_path / "w2" / "train.npy", mmap_mode="r").shape[0]
    assert stored < 0.5 * len(tiny_row) * 2000
    # Each window equals the window processed alone away from its edges (where the track's band-pass
    # sees real signal instead of padding).
    sig, cfg = parse_config("waves", params)
    rows = tiny_row.to_dict("records")
    with single_thread():
        ref = np.concatenate([waves_batch(windows.load_eeg_batch(data, "train", rows[i:i + 8]), sig, cfg)
                              for i in range(0, len(rows), 8)]).astype(np.float16).astype(np.float32)
    got = arr[:].astype(np.float32)
    inner = slice(10 * 40, 40 * 40)
    np.testing.assert_allclose(got[..., inner], ref[..., inner], atol=0.02)
    assert np.abs(got - ref).mean() < 0.01
    # Training reads them through the memmap; DataLoader workers get the file name, not the data.
    again = pickle.loads(pickle.dumps(arr))
    assert len(pickle.dumps(arr)) < 10_000 + 8 * len(arr)
    np.testing.assert_array_equal(again[3], arr[3])
    np.testing.assert_array_equal(arr[np.array([5, 1])], np.stack([arr[5], arr[1]]))
    np.testing.assert_array_equal(arr[2:4], np.stack([arr[2], arr[3]]))


def test_tracks_index_is_checked(tiny_data: Path, tiny_row: pd.DataFrame, params: dict, tmp_path: Path) -> None:
    build_features("waves", DataDir(tiny_data), "train", tiny_row, params, tmp_path / "w", workers=1)
    with pytest.raises(ValueError, match="do not match the prepared train table"):
        store.open_array(tmp_path / "w", "train", tiny_row["sample_id"].to_numpy()[::-1])


# --- the readers' file cache ------------------------------------------------------------------------

def test_file_cache_reads_once_and_sees_changes(tiny_data: Path, tiny_row: pd.DataFrame, monkeypatch, tmp_path: Path) -> None:
    calls: list[str] = []
    real_read = windows.read_eeg
    monkeypatch.setattr(windows, "read_eeg", lambda p: calls.append(str(p)) or real_read(p))
    windows.clear_cache()
    eeg_id = tiny_row["eeg_id"].value_counts().index[0]
    rows = tiny_row[tiny_row["eeg_id"] == eeg_id].to_dict("records")
    assert len(rows) >= 4
    data = DataDir(tiny_data)
    first = windows.load_eeg_batch(data, "train", rows[:2])
    windows.load_eeg_batch(data, "train", rows[2:4])  # the next chunk of the same eeg: no re-read
    assert len(calls) == 1
    # A changed file (new inode / size / mtime) is read again.
    copy = tmp_path / "data"
    (copy / "train_eegs").mkdir(parents=True)
    src = data.eeg("train", eeg_id)
    dst = DataDir(copy).eeg("train", eeg_id)
    dst.write_bytes(src.read_bytes())
    windows.load_eeg_batch(DataDir(copy), "train", rows[:2])
    os.utime(dst, ns=(1, 1))
    again = windows.load_eeg_batch(DataDir(copy), "train", rows[:2])
    assert len(calls) == 3
    np.testing.assert_array_equal(again, first)
    windows.clear_cache()


# --- benchmark helpers ------------------------------------------------------------------------------

def test_bench_subset_and_extrapolation(tiny_data: Path, tmp_path: Path) -> None:
    from benchmarks import bench_scale as bench

    bench.make_subset(tiny_data, tmp_path / "sub", 10)
    sub = pd.read_csv(tmp_path / "sub" / "train.csv")
    full = pd.read_csv(tiny_data / "train.csv")
    assert 10 <= sub["eeg_id"].nunique() < full["eeg_id"].nunique()
    # whole spectrogram groups: every eeg of a kept spectrogram is kept
    kept = full[full["spectrogram_id"].isin(sub["spectrogram_id"])]
    assert len(kept) == len(sub)
    prepare_train(DataDir(tmp_path / "sub"), PrepareConfig(workers=2), n_folds=2, seed=0)
    # x = the samples of the mode (from the prepare row of the same data): per row 6 per eeg here
    rows = []
    for n in (100, 300):
        for agg, k in (("eeg", 1), ("row", 6)):
            common = {"aggregation": agg, "data": f"d{n}", "rc": 0}
            rows.append({**common, "stage": "prepare", "n_samples": k * n, "wall_s": 1.0, "cpu_s": 1.0,
                         "peak_rss_tree_mb": 100, "disk_mb": 0.1})
            rows.append({**common, "stage": "waves", "wall_s": 2.0 * k * n, "cpu_s": 3.0 * k * n + 1,
                         "peak_rss_tree_mb": 100 + n, "disk_mb": 0.5 * k * n})
    (tmp_path / "all.json").write_text(pd.DataFrame(rows).to_json(orient="records"))
    out = bench.extrapolate([tmp_path / "all.json"], scale=0.1).set_index(["aggregation", "stage"])
    eeg, row = out.loc[("eeg", "waves")], out.loc[("row", "waves")]
    assert eeg["to"] == 1708 and row["to"] == 10680  # a tenth of 17,089 eegs / 106,800 rows
    assert eeg["cpu_s_at"] == pytest.approx(3.0 * 1708.9 + 1, abs=0.1)
    assert row["disk_mb_at"] == pytest.approx(0.5 * 10680, abs=0.1)
    assert eeg["cpu_per_sample_ratio"] == pytest.approx((901 / 300) / (301 / 100), abs=0.01)

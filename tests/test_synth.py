"""The embedded synthetic dataset: layout, validation, determinism, label statistics, signals."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hms.constants import (
    CENTER_START, CENTER_STOP, EEG_CHANNELS, EEG_WINDOW, FS, SCALP_CHANNELS, SPEC_COLUMNS, SPEC_WINDOW_ROWS,
    SUBMISSION_COLUMNS, TEST_COLUMNS, TRAIN_COLUMNS, VOTE_COLS,
)
from hms.data.contract import read_train_csv
from hms.data.layout import DataDir
from hms.data.prepare import PrepareConfig, prepare_test, prepare_train
from hms.data.read import read_eeg, read_spectrogram
from hms.synth import get_config, run_synth, summarize_labels
from hms.synth.labels import EEG_IN_SPEC_S, load_real_structure, sample_labels
from hms.synth.signal import GPD, LPD, OTHER, eeg_state, patient_traits, synthesize
from hms.synth.spectrogram import CHAINS, kaggle_spectrogram


def _hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


# --- layout and the project's own validation ------------------------------------------------------

def test_tiny_passes_project_validation(tiny_data: Path) -> None:
    data = DataDir(tiny_data)
    train = prepare_train(data, PrepareConfig(workers=2), n_folds=3, seed=0)
    test = prepare_test(data, PrepareConfig(workers=2))
    assert len(train) == 48 and len(test) == 3
    # Tiny must support 3 patient-grouped folds with every class and hq eegs in it.
    assert train.groupby("fold")["patient_id"].nunique().min() >= 3
    assert train["consensus"].nunique() == 6
    assert (train["tier"] == "hq").sum() >= 12


def test_csv_layout(tiny_data: Path) -> None:
    train = read_train_csv(tiny_data / "train.csv")
    assert tuple(train.columns) == TRAIN_COLUMNS
    assert train["label_id"].is_unique
    test = pd.read_csv(tiny_data / "test.csv")
    sub = pd.read_csv(tiny_data / "sample_submission.csv")
    assert tuple(test.columns) == TEST_COLUMNS and tuple(sub.columns) == SUBMISSION_COLUMNS
    assert sub["eeg_id"].tolist() == test["eeg_id"].tolist()
    np.testing.assert_allclose(sub[list(VOTE_COLS)].to_numpy(), 1 / 6)
    assert not set(test["eeg_id"]) & set(train["eeg_id"])
    assert not set(test["patient_id"]) & set(train["patient_id"])
    # Every eeg lies in one patient and one spectrogram, and its two offsets differ by a constant.
    g = train.groupby("eeg_id")
    assert (g["patient_id"].nunique() == 1).all() and (g["spectrogram_id"].nunique() == 1).all()
    diff = train["spectrogram_label_offset_seconds"] - train["eeg_label_offset_seconds"]
    assert (diff.groupby(train["eeg_id"]).nunique() == 1).all()
    assert (train.groupby("spectrogram_id")["patient_id"].nunique() == 1).all()
    # Row caps of docs/synth.md.
    assert g.size().max() <= 30 and train["eeg_label_offset_seconds"].max() <= 120
    latent = pd.read_csv(tiny_data / "synth_latent.csv")
    assert tuple(latent.columns) == ("eeg_id", *VOTE_COLS)
    assert set(latent["eeg_id"]) == set(train["eeg_id"])
    np.testing.assert_allclose(latent[list(VOTE_COLS)].sum(axis=1), 1.0, atol=1e-9)


def test_parquet_layout(tiny_data: Path) -> None:
    data = DataDir(tiny_data)
    train = pd.read_csv(tiny_data / "train.csv")
    test = pd.read_csv(tiny_data / "test.csv")
    for split, table in (("train", train), ("test", test)):
        for eeg_id in table["eeg_id"].unique():
            path = data.eeg(split, eeg_id)
            schema = pq.read_schema(path)
            assert tuple(schema.names) == EEG_CHANNELS
            assert all(f.type == pa.float32() for f in schema)
            x = read_eeg(path)
            ok = ~np.isnan(x)
            cents = x[ok].astype(np.float64) * 100
            assert np.abs(cents - np.round(cents)).max() < 0.02, f"{path}: values are not multiples of 0.01"
            if split == "test":
                assert x.shape[0] == EEG_WINDOW
        for spec_id in table["spectrogram_id"].unique():
            path = data.spectrogram(split, spec_id)
            schema = pq.read_schema(path)
            assert tuple(schema.names) == SPEC_COLUMNS
            assert schema.field("time").type == pa.int64()
            assert all(f.type == pa.float32() for f in list(schema)[1:])
            spec = read_spectrogram(path)
            assert (spec.time == np.arange(len(spec.time)) * 2 + 1).all()
            assert len(spec.time) >= SPEC_WINDOW_ROWS
            if split == "test":
                assert len(spec.time) == SPEC_WINDOW_ROWS


# --- reproducibility and atomic writes --------------------------------------------------------------

def test_same_seed_same_bytes_any_workers_other_seed_differs(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    (b / "train_eegs").mkdir(parents=True)
    (b / "stale.txt").write_text("left over from an interrupted run")
    (b / ".hms-synth").write_text("")  # b is an earlier synth output, so it may be replaced
    (tmp_path / ".b.tmp-dead").mkdir()
    run_synth(a, size="default", seed=3, n_train_eegs=5, n_test_eegs=1, workers=1)
    run_synth(b, size="default", seed=3, n_train_eegs=5, n_test_eegs=1, workers=2)
    run_synth(c, size="default", seed=4, n_train_eegs=5, n_test_eegs=1, workers=1)
    ha, hb, hc = _hashes(a), _hashes(b), _hashes(c)
    assert ha == hb  # the process count does not change a single byte; the stale file is gone
    assert not (tmp_path / ".b.tmp-dead").exists()
    assert ha["train.csv"] != hc["train.csv"]
    assert set(ha.values()).isdisjoint(hc.values())


def test_unknown_size_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="synth.size must be one of"):
        run_synth(tmp_path / "x", size="huge")


# --- labels: statistics of the real structure -------------------------------------------------------

@pytest.fixture(scope="module")
def big_labels():
    """A 3000-eeg label sample without signals (about 2 s)."""
    return sample_labels(get_config("default", n_train_eegs=3000, n_test_eegs=5), seed=11)


def test_label_statistics_match_real(big_labels) -> None:
    real = load_real_structure()
    train = big_labels.train
    n = train[list(VOTE_COLS)].sum(axis=1).to_numpy()
    real_n = real.votes.sum(axis=1)
    # Votes per row: 1..28, none with 8 or 9, ~37% rows with >= 10 votes, 3 votes the commonest.
    assert n.min() >= 1 and n.max() <= 28 and not np.isin(n, [8, 9]).any()
    assert abs((n >= 10).mean() - (real_n >= 10).mean()) < 0.05
    assert abs((n == 3).mean() - (real_n == 3).mean()) < 0.06
    # Class shares per eeg (votes summed per eeg, normalised, averaged) within 3 points of the real ones.
    g = train.groupby("eeg_id")[list(VOTE_COLS)].sum().to_numpy()
    shares = (g / g.sum(axis=1, keepdims=True)).mean(axis=0)
    summed = np.add.reduceat(real.votes, real.eeg_start[:-1], axis=0)
    real_shares = (summed / summed.sum(axis=1, keepdims=True)).mean(axis=0)
    np.testing.assert_allclose(shares, real_shares, atol=0.03)
    # Rows per eeg: median 3 as in the real data (after the 30-row cap).
    assert train.groupby("eeg_id").size().median() == 3
    # Several eegs per patient, some spectrograms shared by several eegs.
    assert train.groupby("patient_id")["eeg_id"].nunique().mean() > 4
    assert (train.groupby("spectrogram_id")["eeg_id"].nunique() > 1).mean() > 0.1


def test_floor_below_prior(big_labels, tiny_data: Path) -> None:
    s = summarize_labels(big_labels.train, big_labels.latent)
    assert 0 < s["floor_hq"] < s["prior_kl_hq"] / 3
    assert 0 < s["floor_all"] < s["prior_kl_all"] / 2
    assert 0.7 < s["prior_kl_hq"] < 1.1  # real: 0.86
    # The written files give the same kind of summary (targets from train.csv, latent from its file).
    t = summarize_labels(pd.read_csv(tiny_data / "train.csv"), pd.read_csv(tiny_data / "synth_latent.csv"))
    assert 0 < t["floor_hq"] < t["prior_kl_hq"]


# --- signals ----------------------------------------------------------------------------------------

def _chain_power(x: np.ndarray, chain: str) -> float:
    idx = [SCALP_CHANNELS.index(c) for c in CHAINS[chain]]
    return float(np.mean([np.var(x[:, a] - x[:, b]) for a, b in zip(idx[:-1], idx[1:])]))


def _state(p: list[float], side: int, seed: int):
    traits = patient_traits(seed)
    traits = type(traits)(**{**traits.__dict__, "side": side})
    for s in range(seed, seed + 1000):  # an eeg whose side follows its patient's (80% do)
        st = eeg_state(np.array(p), s, traits)
        if st.side == side:
            return st
    raise AssertionError("no eeg state on the requested side")


@pytest.mark.parametrize("side", [-1, 1])
def test_lateralized_pattern_is_asymmetric(side: int) -> None:
    lat = np.zeros(6)
    lat[LPD], lat[OTHER] = 0.85, 0.15
    gen = np.zeros(6)
    gen[GPD], gen[OTHER] = 0.85, 0.15
    ratios = {}
    for name, p in (("lat", lat), ("gen", gen)):
        vals = []
        for seed in range(4):
            st = _state(list(p), side, 100 + seed)
            x = synthesize(st, FS, EEG_WINDOW, np.random.default_rng(seed), with_ekg=False)
            left = _chain_power(x, "LL") + _chain_power(x, "LP")
            right = _chain_power(x, "RL") + _chain_power(x, "RP")
            vals.append(np.log(right / left))
        ratios[name] = np.array(vals)
    assert (np.sign(ratios["lat"]) == side).all() and (np.abs(ratios["lat"]) > np.log(1.5)).all()
    assert np.abs(ratios["gen"]).mean() < np.abs(ratios["lat"]).mean() / 2


def test_pattern_strength_follows_p() -> None:
    """More rhythmic-delta probability -> more 1-4 Hz bipolar power (the signal carries p)."""
    powers = []
    for share in (0.05, 0.5, 0.95):
        p = np.array([0.0, 0.0, 0.0, share, 0.0, 1 - share])
        st = _state(list(p), -1, 7)
        x = synthesize(st, FS, EEG_WINDOW, np.random.default_rng(0), with_ekg=False)
        _, spec = kaggle_spectrogram(x, FS)
        powers.append(spec[:, :20].mean())  # LL, 0.6-4.3 Hz
    assert powers[0] < powers[1] < powers[2] and powers[2] > 3 * powers[0]


def test_physiological_ranges(tiny_data: Path) -> None:
    train = pd.read_csv(tiny_data / "train.csv")
    stds, p99s, ekg = [], [], []
    for eeg_id in train["eeg_id"].unique():
        x = read_eeg(DataDir(tiny_data).eeg("train", eeg_id))
        if np.isnan(x).mean() > 0.5:
            continue  # a largely-NaN file, as in the real data
        stds.append(np.nanstd(x[:, :19], axis=0))
        p99s.append(np.nanpercentile(np.abs(x[:, :19]), 99, axis=0))
        ekg.append(np.nanmax(np.abs(x[:, 19])))
    stds, p99s = np.array(stds), np.array(p99s)
    assert 25 < np.median(stds) < 60  # real: per-channel std 28-57 µV
    assert 60 < np.median(p99s) < 160  # real: p1/p99 about ±100 µV
    assert np.median(ekg) > 300  # real EKG: ±400..5000


def test_spectrogram_is_computed_from_the_eeg(tiny_data: Path) -> None:
    """Rows of the spectrogram file that fall inside an EEG file equal a spectrogram of that EEG."""
    data = DataDir(tiny_data)
    train = pd.read_csv(tiny_data / "train.csv").drop_duplicates("eeg_id")
    checked = 0
    for row in train.itertuples():
        x = read_eeg(data.eeg("train", row.eeg_id))
        if np.isnan(x).any():
            continue
        spec = read_spectrogram(data.spectrogram("train", row.spectrogram_id))
        start = int(row.spectrogram_label_offset_seconds - row.eeg_label_offset_seconds) + EEG_IN_SPEC_S
        n_s = x.shape[0] // FS
        # Spectrogram of the EEG file itself, its rows centred at file seconds 1, 3, ...; keep rows
        # whose 5.12 s window lies inside the file and lines up with odd seconds of the spectrogram.
        t_file, v_file = kaggle_spectrogram(x[: (n_s // 2) * 2 * FS, :19].astype(np.float64), FS)
        keep = (t_file >= 4) & (t_file <= n_s - 4) & ((t_file + start) % 2 == 1)
        rows = np.searchsorted(spec.time, t_file[keep] + start)
        ref = spec.values[rows]
        ok = ~np.isnan(ref).any(axis=1)
        if ok.sum() < 5:
            continue
        a, b = np.log1p(v_file[keep][ok]), np.log1p(ref[ok])
        assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.97, f"eeg {row.eeg_id}"
        checked += 1
        if checked == 5:
            break
    assert checked >= 3


def test_central_window_carries_the_pattern(tiny_data: Path) -> None:
    """In the labelled 10 s, the more mass p puts on PD+RDA+seizure, the more 2-8 Hz bipolar power."""
    data = DataDir(tiny_data)
    train = prepare_train(data, PrepareConfig(workers=2), n_folds=3, seed=0)
    latent = pd.read_csv(tiny_data / "synth_latent.csv").set_index("eeg_id")
    power, pattern = [], []
    for r in train.itertuples():
        x = read_eeg(data.eeg("train", r.eeg_id))
        start = int(r.eeg_offset * FS)
        c = x[start + CENTER_START: start + CENTER_STOP, :19].astype(np.float64)
        if np.isnan(c).any():
            continue
        _, spec = kaggle_spectrogram(c, FS)
        power.append(np.log(spec.reshape(-1, 4, 100)[..., 10:40].mean()))  # 2.1-7.8 Hz
        pattern.append(1 - latent.loc[r.eeg_id, "other_vote"])
    assert np.corrcoef(power, pattern)[0, 1] > 0.4  # 0.68 on the small preset

"""Feature stages: the real Kaggle sample through the prediction path, determinism, tabular
features with known answers (asymmetry sign, discharge rate), NaN windows, the cache format."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from hms.constants import EEG_CHANNELS, FS
from hms.data.contract import read_test_csv
from hms.data.errors import DataError
from hms.data.layout import DataDir
from hms.data.prepare import PrepareConfig, prepare_train
from hms.data.targets import make_test_samples
from hms.data.windows import load_window
from hms.features import build as fbuild
from hms.features import store
from hms.features.build import FEATURE_KINDS, build_features, parse_config
from hms.seed import single_thread
from hms.features.mosaic import MosaicConfig, eeg_panels, mosaic_batch
from hms.features.tabular import MONTAGE_COLUMNS, TabularConfig, feature_manifest, tabular_batch
from hms.features.waves import WavesConfig, waves_batch
from hms.signal.montage import MONTAGES, RAW_FLIP
from hms.signal.preprocess import SignalConfig, preprocess
from tests.conftest import default_feature_params
from tests.datadir import make_data_dir

LEFT = ("Fp1", "F3", "C3", "P3", "F7", "T3", "T5", "O1")


@pytest.fixture(scope="module")
def params() -> dict[str, Any]:
    """The default `features` block of params.yaml."""
    return default_feature_params()


@pytest.fixture(scope="module")
def small_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[DataDir, pd.DataFrame]:
    root = make_data_dir(tmp_path_factory.mktemp("small") / "data")
    data = DataDir(root)
    return data, prepare_train(data, PrepareConfig(workers=1), n_folds=2, seed=0)


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# --- the real Kaggle sample -----------------------------------------------------------------

def test_real_sample_mosaic_equals_prediction_path(kaggle_sample: Path, params: dict, tmp_path: Path) -> None:
    data = DataDir(kaggle_sample)
    samples = make_test_samples(read_test_csv(data.csv("test")))
    build_features("mosaic", data, "test", samples, params, tmp_path / "mosaic", workers=1)
    arr, ids = store.open_array(tmp_path / "mosaic", "test", samples["sample_id"].to_numpy())
    assert arr.shape == (1, 8, 64, 128) and arr.dtype == np.float16
    assert np.isfinite(arr).all()
    # Direct computation from the windows (what a training loop would do) gives the same panels.
    sig, cfg = parse_config("mosaic", params)
    win = load_window(data, "test", samples.iloc[0].to_dict())
    with single_thread():  # as build_features computes every feature
        direct = mosaic_batch(win.eeg.T[None], win.spec[None], sig, cfg).astype(np.float16)
    np.testing.assert_array_equal(arr, direct)
    e = arr[0, 4:].astype(np.float32)
    assert e.min() >= -1.0 - 1e-3 and e.max() <= 1.0 + 1e-3 and e.std() > 0.05
    k = arr[0, :4].astype(np.float32)
    assert abs(k.mean()) < 0.2 and 0.5 < k.std() < 1.5  # standardised per window
    # config.json is a valid `params`: rebuilding from it gives the same bytes.
    config = store.read_config(tmp_path / "mosaic")
    assert config["layout"]["panels"] == ["K_LL", "K_RL", "K_LP", "K_RP", "E_LL", "E_RL", "E_LP", "E_RP"]
    assert config["layout"]["panel_flip"] == [1, 0, 3, 2, 5, 4, 7, 6]
    build_features("mosaic", data, "test", samples, config, tmp_path / "again", workers=1)
    assert _files(tmp_path / "again") == _files(tmp_path / "mosaic")


def test_real_sample_waves_and_tabular(kaggle_sample: Path, params: dict, tmp_path: Path) -> None:
    data = DataDir(kaggle_sample)
    samples = make_test_samples(read_test_csv(data.csv("test")))
    build_features("waves", data, "test", samples, params, tmp_path / "waves", workers=1)
    waves, _ = store.open_array(tmp_path / "waves", "test", samples["sample_id"].to_numpy())
    assert waves.shape == (1, 36, 2000) and np.isfinite(waves).all()  # bipolar, then average reference
    for block in (waves[:, :18], waves[:, 18:]):
        assert 0.05 < float(block.astype(np.float32).std()) < 5  # scaled µV / 32
    build_features("tabular", data, "test", samples, params, tmp_path / "tab", workers=1)
    table = store.read_table(tmp_path / "tab", "test", samples["sample_id"].to_numpy())
    manifest = pd.read_csv(tmp_path / "tab" / "manifest.csv")
    assert list(table.columns) == ["sample_id", *manifest["column"]]
    assert manifest["column"].is_unique and manifest["description"].str.len().min() > 10
    values = table.drop(columns="sample_id")
    assert (values.dtypes == np.float32).all() and np.isfinite(values.to_numpy()).all()
    assert len(manifest) == store.read_config(tmp_path / "tab")["layout"]["n_features"] == 685


# --- determinism and the cache format -------------------------------------------------------

def test_builds_are_byte_identical_whatever_workers(small_dir: tuple[DataDir, pd.DataFrame], params: dict,
                                                    tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data, train = small_dir
    monkeypatch.setattr(fbuild, "CHUNK", 1)  # several chunks, so workers really interleave
    for kind in FEATURE_KINDS:
        build_features(kind, data, "train", train, params, tmp_path / "a" / kind, workers=1)
        build_features(kind, data, "train", train, params, tmp_path / "b" / kind, workers=2)
        build_features(kind, data, "train", train, params, tmp_path / "a" / kind, workers=1)  # rerun in place
    a, b = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert sorted(a) == sorted(b) == [
        "mosaic/config.json", "mosaic/train.npy", "mosaic/train_index.parquet",
        "tabular/config.json", "tabular/manifest.csv", "tabular/train.parquet",
        "waves/config.json", "waves/train.npy", "waves/train_index.parquet"]
    assert a == b
    arr, ids = store.open_array(tmp_path / "a" / "mosaic", "train", train["sample_id"].to_numpy())
    assert len(arr) == len(train) == 4
    assert not np.array_equal(arr[0], arr[1])  # rows are per sample, not one repeated


def test_failed_build_leaves_no_partial_output(small_dir: tuple[DataDir, pd.DataFrame], params: dict, tmp_path: Path) -> None:
    data, train = small_dir
    out = tmp_path / "mosaic"
    out.mkdir()
    (out / ".train.npy.stale.npy").write_bytes(b"left by a killed run")
    bad = train.copy()
    bad.loc[bad.index[-1], "eeg_id"] = 999  # no such file
    with pytest.raises(DataError, match="999.parquet"):
        build_features("mosaic", data, "train", bad, params, out, workers=1)
    assert list(out.iterdir()) == []  # neither the stale temp file nor a partial array
    build_features("mosaic", data, "train", train, params, out, workers=1)
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "train.npy", "train_index.parquet"]


def test_config_errors_are_clear(params: dict) -> None:
    with pytest.raises(ValueError, match="features.mosaic"):
        parse_config("mosaic", {**params, "mosaic": {**params["mosaic"], "n_freq": 3}})
    with pytest.raises(ValueError, match="unknown feature kind"):
        parse_config("images", params)
    with pytest.raises(ValueError, match="not 'waves'"):
        parse_config("waves", {"kind": "mosaic", "signal": {}, "mosaic": {}})
    with pytest.raises(ValueError, match="panels"):
        MosaicConfig(panels=["K_XX"])


# --- tabular features with known answers ----------------------------------------------------

def _raw(seconds: float = 50.0) -> np.ndarray:
    n = int(seconds * FS)
    return np.random.default_rng(0).normal(0, 3, (1, 20, n)).astype(np.float32)


def test_mosaic_eeg_panels_follow_the_montage_and_kaggle_panels_do_not() -> None:
    sig, raw, spec = SignalConfig(), _raw(), np.random.default_rng(3).uniform(0.1, 10, (1, 300, 400)).astype(np.float32)
    bip, avg = (mosaic_batch(raw, spec, sig, MosaicConfig(montage=m)) for m in ("bipolar", "average"))
    np.testing.assert_array_equal(bip[:, :4], avg[:, :4])
    assert np.abs(bip[:, 4:] - avg[:, 4:]).mean() > 0.05
    np.testing.assert_array_equal(avg[:, 4:], eeg_panels(preprocess(raw, sig, montages=["average"]), MosaicConfig()))


def test_each_montage_adds_its_own_block_of_eeg_columns() -> None:
    sig, raw, spec = SignalConfig(), np.concatenate([_raw(), _raw() * 2]), np.ones((2, 300, 400), np.float32)

    def table(montages: list[str]) -> pd.DataFrame:
        cfg = TabularConfig(montages=montages)
        return pd.DataFrame(tabular_batch(raw, spec, sig, cfg), columns=feature_manifest(cfg)["column"])

    bip, avg, both = table(["bipolar"]), table(["average"]), table(["average", "bipolar"])
    assert len(bip.columns) == len(avg.columns) == 685 and both.columns.is_unique
    # spectrogram columns, the bipolar block, the average block, the quality columns: whatever the list order
    assert list(both.columns) == [*bip.columns[:-2], *avg.columns[256:]]
    pd.testing.assert_frame_equal(both[bip.columns], bip)
    pd.testing.assert_frame_equal(both[avg.columns], avg)
    assert not np.allclose(avg.filter(like="avg_ch_Fp1_").to_numpy(), bip.filter(like="ch_Fp1-F7_").to_numpy())


@pytest.mark.parametrize("montage", MONTAGES)
def test_asymmetry_sign_follows_the_lateralized_side(montage: str) -> None:
    cfg, sig = TabularConfig(montages=[montage]), SignalConfig()
    pre = MONTAGE_COLUMNS[montage][0]
    raw = _raw()
    t = np.arange(raw.shape[-1]) / FS
    rng = np.random.default_rng(1)
    for ch in LEFT:  # rhythmic delta on the left only, with a different amplitude per electrode
        raw[0, EEG_CHANNELS.index(ch)] += rng.uniform(20, 120) * np.sin(2 * np.pi * 1.5 * t + rng.uniform(0, 6))
    both = np.concatenate([raw, raw[:, RAW_FLIP]])  # the same window, mirrored
    spec = np.ones((2, 300, 400), np.float32)
    names = feature_manifest(cfg)["column"].tolist()
    x = pd.DataFrame(tabular_batch(both, spec, sig, cfg), columns=names)
    for col in ("asym_LL_RL_pow_delta", "asym_LP_RP_pow_delta", "asym_LL_RL_std", "asym_LP_RP_line_length"):
        assert x.loc[0, pre + col] > 0.5, col  # positive = left larger
        assert x.loc[1, pre + col] == pytest.approx(-x.loc[0, pre + col], abs=1e-4), col
    assert x.loc[0, f"{pre}eeg_LL_pow_delta"] > 10 * x.loc[0, f"{pre}eeg_RL_pow_delta"]


@pytest.mark.parametrize("montage", MONTAGES)
@pytest.mark.parametrize("freq", [1.0, 2.0, 3.0])
def test_periodic_discharges_give_their_rate(freq: float, montage: str) -> None:
    cfg, sig = TabularConfig(montages=[montage]), SignalConfig()
    pre = MONTAGE_COLUMNS[montage][0]
    raw = _raw()
    t = np.arange(raw.shape[-1]) / FS
    phase = (t * freq) % 1.0
    spikes = np.exp(-0.5 * ((phase - 0.5) / (0.03 * freq)) ** 2)  # one 30 ms discharge per period
    rng = np.random.default_rng(2)
    for k in range(19):
        raw[0, k] += rng.uniform(30, 150) * spikes
    noise = _raw()
    x = pd.DataFrame(tabular_batch(np.concatenate([raw, noise]), np.ones((2, 300, 400), np.float32), sig, cfg),
                     columns=feature_manifest(cfg)["column"])
    for chain in ("LL", "RL", "LP", "RP"):
        assert x.loc[0, f"{pre}eeg_{chain}_discharge_hz"] == pytest.approx(freq, rel=0.05), chain
        assert x.loc[0, f"{pre}eeg_{chain}_acf_peak"] > 0.5
        assert x.loc[1, f"{pre}eeg_{chain}_acf_peak"] < 0.3  # noise is not periodic
    assert x.loc[0, f"{pre}eeg_LL_sharp_rate"] > x.loc[1, f"{pre}eeg_LL_sharp_rate"]


def test_welch_and_moments_match_scipy_and_a_window_is_a_slice_of_a_longer_grid() -> None:
    """The tabular Welch spectra are scipy.signal.welch's (2 s Hann segments, half overlapping), a
    window's spectra are the mean of its slice of a longer stretch's segments bit for bit (the scan's
    sharing), and the kurtosis is scipy's, 0 on a flat channel."""
    from scipy.signal import welch
    from scipy.stats import kurtosis

    from hms.features.tabular import (WELCH_FREQS, WELCH_HOP, eeg_pair_features, segment_periodograms, welch_mean,
                                      welch_segments)

    x = np.random.default_rng(3).normal(0, 40, (2, 18, 30 * FS))
    freqs, ref = welch(x, fs=FS, nperseg=2 * FS, axis=-1)
    np.testing.assert_array_equal(WELCH_FREQS, freqs)
    np.testing.assert_allclose(welch_mean(segment_periodograms(x)), ref, rtol=1e-12)
    n, offsets = 10 * FS, np.array([0, 2, 7, 19]) * WELCH_HOP
    own = welch_mean(segment_periodograms(np.stack([x[0][:, o: o + n] for o in offsets])))
    np.testing.assert_array_equal(welch_mean(segment_periodograms(x[0]), offsets // WELCH_HOP, welch_segments(n)), own)
    x[1, 5] = 7.0
    per = eeg_pair_features(x, TabularConfig())
    np.testing.assert_allclose(per["kurtosis"][0], kurtosis(x[0], axis=-1), rtol=1e-12)
    assert per["kurtosis"][1, 5] == 0.0 and per["std"][1, 5] == 0.0


def test_eeg_panels_do_not_depend_on_the_other_windows_of_a_chunk() -> None:
    raw = np.concatenate([_raw(), _raw() * 3 + 5, _raw()[:, :, ::-1]])
    bip = preprocess(raw, SignalConfig())
    together = eeg_panels(bip, MosaicConfig())
    for i in range(3):
        np.testing.assert_array_equal(eeg_panels(bip[i:i + 1], MosaicConfig())[0], together[i])


def test_chunks_group_a_shared_spectrogram_and_cover_every_sample() -> None:
    samples = pd.DataFrame({"eeg_id": [5, 1, 7, 2, 9, 3], "spectrogram_id": [30, 10, 30, 20, 10, 30]})
    chunks = fbuild.chunk_positions(samples, size=3)
    assert [c.tolist() for c in chunks] == [[1, 4, 3], [5, 0, 2]]  # by spectrogram, then eeg
    assert sorted(np.concatenate(chunks).tolist()) == list(range(6))


def test_readers_convert_any_float_width_like_per_column(tmp_path: Path) -> None:
    """The one-call conversion of hms.data.read agrees with a per-column conversion, nulls -> NaN."""
    from hms.data.read import read_eeg

    rng = np.random.default_rng(3)
    cols = {c: rng.normal(0, 30, 12000).astype(np.float32) for c in EEG_CHANNELS}
    cols["Fp1"] = cols["Fp1"].astype(np.float64) / 3  # wider column: rounded to float32
    cols["O2"][5:9] = np.nan
    df = pd.DataFrame(cols)
    df.to_parquet(tmp_path / "mixed.parquet", index=False)
    got = read_eeg(tmp_path / "mixed.parquet")
    expected = np.stack([df[c].to_numpy().astype(np.float32) for c in EEG_CHANNELS], axis=1)
    assert got.dtype == np.float32 and got.shape == (12000, 20)
    np.testing.assert_array_equal(got, expected)
    import pyarrow as pa
    import pyarrow.parquet as pq

    half = pa.table({c: pa.array(v.astype(np.float16)) for c, v in cols.items()})  # no tensor conversion
    pq.write_table(half, tmp_path / "half.parquet")
    np.testing.assert_array_equal(read_eeg(tmp_path / "half.parquet"),
                                  np.stack([v.astype(np.float16).astype(np.float32) for v in cols.values()], axis=1))


def test_nan_windows_give_finite_features(caplog: pytest.LogCaptureFixture) -> None:
    raw = np.concatenate([_raw()] * 3)
    raw[0, :, ::97] = np.nan  # scattered
    raw[1, 2] = np.nan  # dead electrode
    raw[2] = np.nan  # nothing at all
    spec = np.ones((3, 300, 400), np.float32)
    spec[0, 10:40] = np.nan  # NaN rows
    spec[2] = np.nan  # all-NaN window
    sig = SignalConfig()
    with caplog.at_level(logging.WARNING):
        outs = [mosaic_batch(raw, spec, sig, MosaicConfig()), waves_batch(raw, sig, WavesConfig()),
                tabular_batch(raw, spec, sig, TabularConfig())]
    for out in outs:
        assert np.isfinite(out).all()
    assert any("every sample" in r.getMessage() for r in caplog.records)
    assert (outs[0][2, :4] == 0).all()  # all-NaN Kaggle window -> zero panels


# --- the tiny synthetic pipeline (needs hms.synth) ------------------------------------------

def test_tiny_features_match_prepared_tables(request: pytest.FixtureRequest) -> None:
    synth = pytest.importorskip("hms.synth")
    if not hasattr(synth, "run_synth"):
        pytest.skip("hms.synth.run_synth not available yet")
    root: Path = request.getfixturevalue("tiny_features")
    train, test = request.getfixturevalue("tiny_prepared")
    for split, samples in (("train", train), ("test", test)):
        ids = samples["sample_id"].to_numpy()
        for kind in ("mosaic", "waves"):
            arr, _ = store.open_array(root / kind, split, ids)
            assert list(arr.shape[1:]) == store.read_config(root / kind)["layout"]["shape"]
            assert np.isfinite(arr).all()
        table = store.read_table(root / "tabular", split, ids)
        assert np.isfinite(table.drop(columns="sample_id").to_numpy()).all()

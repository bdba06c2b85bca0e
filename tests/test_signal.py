"""hms.signal: montage and flip, filters, NaN policy, spectrogram pieces (librosa as reference)."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from hms.constants import EEG_CHANNELS, FS
from hms.signal.clean import fill_gaps
from hms.signal.filters import bandpass, notch, resample
from hms.signal.montage import (
    AVERAGE_SLOTS, BIPOLAR_FLIP, BIPOLAR_NAMES, CHAIN_INDEX, MONTAGES, PANELS, RAW_FLIP, WAVES_FLIP, average_reference,
    bipolar, panel_flip_index,
)
from hms.signal.preprocess import SignalConfig, preprocess
from hms.signal.spectrogram import (
    area_resample_matrix, filterbank, mean_scaled_db, power_bins_major, power_spectrogram, power_to_db, resize,
    resize_time_major,
)

EXPECTED_PAIRS = [
    "Fp1-F7", "F7-T3", "T3-T5", "T5-O1",  # LL
    "Fp2-F8", "F8-T4", "T4-T6", "T6-O2",  # RL
    "Fp1-F3", "F3-C3", "C3-P3", "P3-O1",  # LP
    "Fp2-F4", "F4-C4", "C4-P4", "P4-O2",  # RP
    "Fz-Cz", "Cz-Pz",
]


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x))))


# --- montage -------------------------------------------------------------------------------

def test_montage_pairs_and_order() -> None:
    assert list(BIPOLAR_NAMES) == EXPECTED_PAIRS
    assert CHAIN_INDEX["LL"] == (0, 1, 2, 3) and CHAIN_INDEX["RP"] == (12, 13, 14, 15) and CHAIN_INDEX["C"] == (16, 17)
    rng = np.random.default_rng(0)
    raw = rng.normal(size=(2, 20, 50)).astype(np.float32)
    bip = bipolar(raw)
    assert bip.shape == (2, 18, 50) and bip.dtype == np.float32
    for k, name in enumerate(EXPECTED_PAIRS):
        a, b = name.split("-")
        np.testing.assert_array_equal(bip[:, k], raw[:, EEG_CHANNELS.index(a)] - raw[:, EEG_CHANNELS.index(b)])


def test_flip_swaps_chains_exactly() -> None:
    expected = list(range(4, 8)) + list(range(0, 4)) + list(range(12, 16)) + list(range(8, 12)) + [16, 17]
    assert BIPOLAR_FLIP.tolist() == expected
    assert BIPOLAR_FLIP[BIPOLAR_FLIP].tolist() == list(range(18))  # an involution
    assert panel_flip_index(PANELS).tolist() == [1, 0, 3, 2, 5, 4, 7, 6]
    assert panel_flip_index(["E_LP", "E_RP"]).tolist() == [1, 0]
    with pytest.raises(ValueError, match="cannot be flipped"):
        panel_flip_index(["K_LL", "K_LP"])
    # Mirroring the electrodes and then building the montage = building it and flipping the pairs.
    raw = np.random.default_rng(1).normal(size=(3, 20, 40)).astype(np.float32)
    np.testing.assert_array_equal(bipolar(raw[:, RAW_FLIP]), bipolar(raw)[:, BIPOLAR_FLIP])
    assert [EEG_CHANNELS[i] for i in RAW_FLIP[:4]] == ["Fp2", "F4", "C4", "P4"]


# --- filters --------------------------------------------------------------------------------

def _sine(freq: float, seconds: float = 50.0, amp: float = 100.0) -> np.ndarray:
    t = np.arange(int(seconds * FS)) / FS
    return (amp * np.sin(2 * np.pi * freq * t))[None, None, :].astype(np.float32)


def test_bandpass_keeps_passband_and_attenuates_stopband() -> None:
    mid = slice(2000, 8000)  # away from the edges
    for f in (2.0, 5.0, 10.0):
        x = _sine(f)
        y = bandpass(x, FS, 0.5, 20.0, 4)
        assert rms(y[..., mid]) == pytest.approx(rms(x[..., mid]), rel=0.01), f
    # Documented: >= 60 dB at 50 Hz (2.5 x the high cut-off), >= 40 dB at 0.1 Hz.
    x = _sine(50.0)
    assert 20 * np.log10(rms(bandpass(x, FS, 0.5, 20.0, 4)[..., mid]) / rms(x[..., mid])) < -60
    x = _sine(0.1, seconds=200)
    assert 20 * np.log10(rms(bandpass(x, FS, 0.5, 20.0, 4)[..., 10000:30000]) / rms(x[..., 10000:30000])) < -40


def test_notch_removes_mains_only() -> None:
    mid = slice(2000, 8000)
    hum, eeg = _sine(60.0), _sine(10.0)
    assert 20 * np.log10(rms(notch(hum, FS, 60.0)[..., mid]) / rms(hum[..., mid])) < -30
    assert rms(notch(eeg, FS, 60.0)[..., mid]) == pytest.approx(rms(eeg[..., mid]), rel=0.01)


def test_resample_is_anti_aliased() -> None:
    keep, alias = _sine(5.0), _sine(30.0)  # 30 Hz is above the 20 Hz Nyquist of 40 Hz
    y = resample(keep, FS, 40)
    assert y.shape == (1, 1, 2000)
    assert rms(y[..., 400:1600]) == pytest.approx(rms(keep), rel=0.01)
    assert 20 * np.log10(rms(resample(alias, FS, 40)[..., 400:1600]) / rms(alias)) < -40


# --- NaN policy -----------------------------------------------------------------------------

def test_fill_gaps_interpolates_short_and_masks_long() -> None:
    x = np.tile(np.arange(100, dtype=np.float32), (1, 2, 1))
    x[0, 0, [5, 6, 50]] = np.nan  # short gaps: linear interpolation recovers the ramp
    x[0, 1, 20:60] = np.nan  # long gap: zeros, masked
    x[0, 1, :2] = np.nan  # short leading gap: held at the first valid value
    out, mask = fill_gaps(x, max_gap=10)
    np.testing.assert_allclose(out[0, 0], np.arange(100), atol=1e-5)
    assert not mask[0, 0].any()
    assert (out[0, 1, 20:60] == 0).all() and mask[0, 1, 20:60].all() and mask[0, 1].sum() == 40
    assert out[0, 1, 0] == 2 and out[0, 1, 1] == 2


def test_nan_inputs_give_finite_outputs_and_warnings(caplog: pytest.LogCaptureFixture) -> None:
    rng = np.random.default_rng(0)
    raw = rng.normal(0, 30, (4, 20, 10000)).astype(np.float32)
    raw[0, :, rng.integers(0, 10000, 300)] = np.nan  # scattered
    raw[1, 3, 100:3000] = np.nan  # block in P3
    raw[1, 5, :50] = np.nan  # short block at the start
    raw[2, EEG_CHANNELS.index("Cz")] = np.nan  # all-NaN channel
    raw[3] = np.nan  # all-NaN window
    with caplog.at_level(logging.WARNING, logger="hms.signal.clean"):
        out = preprocess(raw, SignalConfig(), ids=["w0", "w1", "w2", "w3"])
    assert np.isfinite(out).all()
    assert (out[3] == 0).all()
    # Pairs touching the dead Cz are zero; the others are untouched signal.
    cz_pairs = [BIPOLAR_NAMES.index("Fz-Cz"), BIPOLAR_NAMES.index("Cz-Pz")]
    assert (out[2, cz_pairs] == 0).all() and (np.abs(out[2, :16]).sum(axis=-1) > 0).all()
    # P3's long gap zeroes its pairs there (the zero-phase filter smears the edges a little).
    gap = out[1, BIPOLAR_NAMES.index("C3-P3"), 500:2500]
    assert rms(gap) < 0.01 * rms(out[1, BIPOLAR_NAMES.index("Fp1-F7")])
    messages = [r.getMessage() for r in caplog.records]
    assert any("w2" in m and "Cz" in m for m in messages)
    assert any("w3" in m and "every sample" in m for m in messages)
    assert not any("w0" in m or "w1" in m for m in messages)  # interpolated/masked silently


# --- spectrogram pieces ---------------------------------------------------------------------

def test_power_to_db_and_resize() -> None:
    p = np.array([[[1.0, 10.0], [100.0, 0.0]]], dtype=np.float32)
    np.testing.assert_allclose(power_to_db(p, top_db=30), [[[-20.0, -10.0], [0.0, -30.0]]], atol=1e-5)
    assert (power_to_db(np.zeros((1, 3, 3)), top_db=80) == -80).all()  # dead channel = silent
    w = area_resample_matrix(300, 128)
    np.testing.assert_allclose(w.sum(axis=1), 1.0, rtol=1e-6)
    x = np.random.default_rng(0).normal(size=(2, 100, 300)).astype(np.float32)
    y = resize(x, 64, 128)
    assert y.shape == (2, 64, 128)
    assert float(y.mean()) == pytest.approx(float(x.mean()), abs=1e-4)
    np.testing.assert_allclose(resize(np.ones((1, 100, 300), np.float32), 128, 256), 1.0, rtol=1e-6)


def test_mean_scaled_db_equals_db_then_mean() -> None:
    rng = np.random.default_rng(1)
    p = rng.gamma(0.5, 10.0, (5, 8, 7)).astype(np.float32) ** 3  # wide dynamic range
    p[:, 2] = 0.0  # one dead spectrogram: silent
    p[0, 5, 5] = 0.0
    for top_db in (80.0, 120.0):  # 120: the float64 branch
        two_step = ((power_to_db(np.moveaxis(p, 1, 0), top_db=top_db) + top_db / 2) / (top_db / 2))
        expected = np.moveaxis(two_step.reshape(2, 4, 5, 7).mean(axis=1), 0, 1)
        got = mean_scaled_db(p, group=4, top_db=top_db, axis=1)
        assert got.shape == (5, 2, 7) and got.dtype == np.float32
        np.testing.assert_allclose(got, expected, atol=2e-6)
    with pytest.raises(ValueError, match="multiple of the group"):
        mean_scaled_db(p[:, :6], group=4, axis=1)


def test_resize_time_major_equals_resize() -> None:
    x = np.random.default_rng(2).normal(size=(3, 300, 400)).astype(np.float32)  # (batch, time, region*freq)
    panels = x.reshape(3, 300, 4, 100).transpose(0, 2, 3, 1)  # (batch, region, freq, time)
    np.testing.assert_allclose(resize_time_major(x, 4, 64, 128), resize(panels, 64, 128), atol=1e-5)


def test_spectrogram_matches_librosa() -> None:
    librosa = pytest.importorskip("librosa")
    x = np.random.default_rng(0).normal(0, 30, 10000).astype(np.float32)
    hop = 10000 // 256
    ours = power_spectrogram(x[None], 1024, 128, hop)[0]
    ref = np.abs(librosa.stft(x, n_fft=1024, hop_length=hop, win_length=128, center=True, pad_mode="constant")) ** 2
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, rtol=1e-3, atol=float(ref.max()) * 1e-6)
    low = power_spectrogram(x[None], 1024, 128, hop, n_bins=103)[0]  # the folded DFT-matrix path
    np.testing.assert_allclose(low, ref[:103], rtol=1e-3, atol=float(ref.max()) * 1e-6)
    two = power_bins_major(np.stack([x, -2 * x]), 1024, 128, hop, n_bins=103, max_frames=256)  # (bins, rows, frames)
    assert two.shape == (103, 2, 256)
    np.testing.assert_allclose(two[:, 0], ref[:103, :256], rtol=1e-3, atol=float(ref.max()) * 1e-6)
    np.testing.assert_allclose(two[:, 1], 4 * ref[:103, :256], rtol=1e-3, atol=4 * float(ref.max()) * 1e-6)
    fb = filterbank(128, 1024, float(FS), 0.0, 20.0, "mel")
    np.testing.assert_allclose(fb, librosa.filters.mel(sr=FS, n_fft=1024, n_mels=128, fmin=0, fmax=20), rtol=1e-4, atol=1e-7)
    mel = librosa.feature.melspectrogram(y=x, sr=FS, hop_length=hop, n_fft=1024, n_mels=128, fmin=0, fmax=20, win_length=128)
    np.testing.assert_allclose(power_to_db(fb @ ours), librosa.power_to_db(mel, ref=np.max), atol=1e-3)


def test_average_montage_removes_the_common_signal_and_skips_dead_electrodes() -> None:
    """The average-reference slots: electrode minus the mean of the live scalp electrodes. A signal
    common to every electrode (a reference artefact) vanishes as in the bipolar montage; a dead
    (zeroed) electrode is left out of the mean and its slot is masked; mirroring the electrodes =
    flipping the slots (WAVES_FLIP over both montages)."""
    rng = np.random.default_rng(4)
    raw = rng.normal(size=(2, 20, 60)).astype(np.float32)
    common = raw + rng.normal(size=(2, 1, 60)).astype(np.float32)
    x, dead = average_reference(raw, np.zeros(raw.shape, bool))
    assert x.shape == dead.shape == (2, 18, 60) and not dead.any()
    np.testing.assert_allclose(average_reference(common, np.zeros(raw.shape, bool))[0], x, atol=1e-5)
    for k, e in enumerate(AVERAGE_SLOTS):
        np.testing.assert_allclose(x[:, k], raw[:, EEG_CHANNELS.index(e)] - raw[:, :19].mean(axis=1), atol=1e-5)
    mask = np.zeros(raw.shape, bool)
    mask[0, EEG_CHANNELS.index("T3")] = True
    y, dead = average_reference(raw, mask)
    live = [i for i in range(19) if EEG_CHANNELS[i] != "T3"]
    np.testing.assert_allclose(y[0, AVERAGE_SLOTS.index("O1")],
                               raw[0, EEG_CHANNELS.index("O1")] - raw[0, live].mean(axis=0), atol=1e-5)
    assert dead[0, AVERAGE_SLOTS.index("T3")].all() and dead[0].sum() == 60 and not dead[1].any()
    assert [AVERAGE_SLOTS[i] for i in BIPOLAR_FLIP[:4]] == ["Fp2", "F8", "T4", "T6"]
    waves = preprocess(raw, SignalConfig(band_hz=None), montages=MONTAGES)
    np.testing.assert_allclose(preprocess(raw[:, RAW_FLIP], SignalConfig(band_hz=None), montages=MONTAGES),
                               waves[:, WAVES_FLIP], atol=1e-4)
    np.testing.assert_array_equal(waves[:, :18], preprocess(raw, SignalConfig(band_hz=None)))
    with pytest.raises(ValueError, match="montages"):
        preprocess(raw, SignalConfig(), montages=("laplacian",))

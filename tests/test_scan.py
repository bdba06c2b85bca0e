"""`hms scan` and `hms synth-recording`: the spectrogram against the real Kaggle fixture, the window
grid and its edges, shared features equal to the feature stage's batch functions, streaming that
does not change results, events, outputs, and recovery of the scripted segments of a synthetic
recording by trained models."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import signal as sps

from hms.constants import CLASSES, EEG_CHANNELS, EEG_WINDOW, FS, SPEC_COLUMNS
from hms.data.read import read_eeg, read_spectrogram
from hms.features.build import parse_config
from hms.features.mosaic import eeg_panels, mosaic_batch, mosaic_from_montage
from hms.features.tabular import FILTER_MARGIN_S, tabular_batch, tabular_from_montages
from hms.features.waves import waves_batch
from hms.recording.events import EventConfig, find_events, smooth
from hms.recording.read import open_recording
from hms.recording.shared import (chain_power_frames, eeg_panels_from_frames, frame_hop, nan_share,
                                  tabular_segment, waves_from_resampled)
from hms.recording.timing import StepTimer
from hms.recording.windows import SpectrogramRows, WindowGrid, WindowStream
from hms.signal.filters import resample
from hms.signal.montage import MONTAGES, split_montages
from hms.signal.preprocess import preprocess
from tests import modelkit
from tests.conftest import default_feature_params
from hms.synth.recording import parse_script, synth_recording, write_edf, write_parquet_recording
from hms.synth.spectrogram import SPEC_FS, kaggle_spectrogram

FREQS = np.array([float(c.split("_")[1]) for c in SPEC_COLUMNS[1:101]])


# -- the Kaggle-style spectrogram ---------------------------------------------------------------------

def _fixture_rows(kaggle_sample: Path, fs: int, shift_s: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(ours, real) spectrogram rows over the real test EEG 3911565283, which sits at seconds
    275..325 of the real spectrogram 853520 (the test example's layout): ours from its EEG at `fs`."""
    x = read_eeg(kaggle_sample / "test_eegs" / "3911565283.parquet")[:, :19].astype(np.float64)
    spec = read_spectrogram(kaggle_sample / "test_spectrograms" / "853520.parquet")
    if fs != FS:
        x = sps.resample_poly(x, 1, FS // fs, axis=0)
    sub = x[fs:]  # from EEG second 1: our rows then sit at even EEG seconds = odd spectrogram seconds
    t, v = kaggle_spectrogram(sub[: (len(sub) // (2 * fs)) * 2 * fs], fs)
    t = t + 1
    keep = (t >= 4) & (t <= 46)  # rows whose 5.12 s window lies inside the 50 s file
    rows = np.searchsorted(spec.time, t[keep] + 275 + shift_s)
    ref = spec.values[rows]
    ok = np.isfinite(ref).all(axis=1)
    return v[keep][ok], ref[ok]


@pytest.mark.parametrize("fs", [FS, SPEC_FS])
def test_kaggle_spectrogram_matches_the_real_fixture(kaggle_sample: Path, fs: int) -> None:
    """The function the synthetic data and the scan use, on the real EEG, against the real file:
    same time grid, same scale (2-20 Hz) and shape (log correlation 0.96 measured)."""
    ours, real = _fixture_rows(kaggle_sample, fs)
    assert len(ours) >= 15
    corr = np.corrcoef(np.log1p(ours).ravel(), np.log1p(real).ravel())[0, 1]
    assert corr > 0.93
    band = np.tile((FREQS >= 2) & (FREQS <= 20), 4)
    assert 0.8 < ours[:, band].mean() / real[:, band].mean() < 1.25
    # the time grid: rows shifted by one row (2 s) match worse
    for shift in (-2, 2):
        o, r = _fixture_rows(kaggle_sample, fs, shift)
        assert np.corrcoef(np.log1p(o).ravel(), np.log1p(r).ravel())[0, 1] < corr


@pytest.fixture(scope="module")
def scripted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A 12 min scripted recording (EDF + parquet) and its truth."""
    out = tmp_path_factory.mktemp("rec")
    segs = parse_script("background:2,lpd:2,background:2,seizure:2,background:2,grda:2")
    x, truth = synth_recording(segs, seed=7)
    return {"x": x, "truth": truth, "edf": write_edf(x, FS, out / "r.edf", truth),
            "parquet": write_parquet_recording(x, out / "r.parquet"), "dir": out}


def test_spectrogram_rows_streamed_equal_the_whole_recording(scripted: dict[str, Any]) -> None:
    rec = open_recording(scripted["parquet"])
    rows = SpectrogramRows(rec, StepTimer())
    got = []
    for lo, hi in ((0, 50), (10, 130), (130, 131), (200, 360)):
        rows.ensure(lo, hi)
        got.append((lo, hi, rows.values[lo - rows.lo: hi - rows.lo].copy()))
    x50 = sps.resample_poly(rec.read(0, rec.n)[:19], 1, FS // SPEC_FS, axis=-1).astype(np.float32)
    _, whole = kaggle_spectrogram(x50.T, SPEC_FS)
    assert rows.n_rows == len(whole) == 360
    for lo, hi, v in got:
        d = np.abs(v - whole[lo:hi])
        assert d.max() < 0.0101 and (d == 0).mean() > 0.999  # rounded to 0.01: rare last-digit flips at most


def test_window_grid_and_edges() -> None:
    g = WindowGrid(n_samples=FS * 120, step_s=2.0)
    assert g.n_windows == 36  # labelled 10 s from 20 s to 90 s; the last EEG context ends at 120 s
    i = np.array([0, 35])
    np.testing.assert_array_equal(g.label_start_s(i), [20.0, 90.0])
    np.testing.assert_array_equal(g.eeg_start(i), [0, 70 * FS])
    # spectrogram rows: times 2r + 1 in [t - 295, t + 305)
    r0 = g.spec_first_row(i)
    for t, r in zip(g.label_start_s(i), r0):
        times = 2 * (r + np.arange(300)) + 1
        assert times[0] >= t - 295 and times[-1] < t + 305 and times[0] - 2 < t - 295
    assert WindowGrid(FS * 50, 2.0).n_windows == 1
    with pytest.raises(ValueError, match="shorter than the 50 s EEG context"):
        WindowGrid(FS * 49, 2.0)
    with pytest.raises(ValueError, match="multiple of 0.005"):
        WindowGrid(FS * 100, 0.0021)


def test_spectrogram_outside_the_recording_is_nan(scripted: dict[str, Any]) -> None:
    rec = open_recording(scripted["parquet"])
    grid = WindowGrid(rec.n, 2.0)
    first = next(iter(WindowStream(rec, grid, StepTimer(), batch=4)))
    # window 0 labels 20-30 s: its 600 s context starts at -275 s, i.e. 138 rows before the recording
    assert np.isnan(first.spec[0, :138]).all() and np.isfinite(first.spec[0, 138:]).all()


# -- one feature path -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def configs(tiny_params: dict[str, Any]) -> dict[str, Any]:
    return {kind: parse_config(kind, tiny_params["features"]) for kind in ("tabular", "mosaic", "waves")}


def test_shared_features_equal_the_batch_functions(scripted: dict[str, Any], configs: dict[str, Any]) -> None:
    """Given the bipolar windows `preprocess` makes of each window, the functions the scan uses on
    its shared signals return exactly what the feature stage's batch functions return."""
    rec = open_recording(scripted["parquet"])
    wb = next(iter(WindowStream(rec, WindowGrid(rec.n, 2.0), StepTimer(), batch=6, exact=True)))
    raw = np.ascontiguousarray(wb.raw())
    sig, cfg = configs["mosaic"]
    for montage in MONTAGES:
        c = dataclasses.replace(cfg, montage=montage)
        panels = eeg_panels(preprocess(raw, sig, montages=[montage]), c)
        np.testing.assert_array_equal(mosaic_from_montage(lambda: panels, wb.spec, c), mosaic_batch(raw, wb.spec, sig, c))
    sig, cfg = configs["waves"]
    np.testing.assert_array_equal(waves_from_resampled(resample(preprocess(raw, sig, montages=MONTAGES), FS, cfg.fs_out), cfg),
                                  waves_batch(raw, sig, cfg))
    sig, cfg = configs["tabular"]
    for seconds, montages in ((30, ["bipolar"]), (30, ["average"]), (10, ["average"]), (10, ["bipolar", "average"])):
        c = dataclasses.replace(cfg, montages=montages, eeg_seconds=seconds)
        n = int(round(seconds * FS))
        lo = max(0, (EEG_WINDOW - n) // 2 - FILTER_MARGIN_S * FS)  # the filtered stretch, as tabular_batch's
        x = preprocess(raw[..., lo: lo + n + 2 * FILTER_MARGIN_S * FS], sig, montages=MONTAGES)
        segs = split_montages(x[..., (EEG_WINDOW - n) // 2 - lo: (EEG_WINDOW - n) // 2 - lo + n], MONTAGES)
        np.testing.assert_array_equal(tabular_from_montages(segs, wb.spec, np.isnan(raw[:, :19]).mean(axis=(1, 2)), c),
                                      tabular_batch(raw, wb.spec, sig, c))


@pytest.mark.parametrize("step_s", [2.0, 1.5])
def test_shared_welch_spectra_equal_each_windows_own(scripted: dict[str, Any], configs: dict[str, Any],
                                                     step_s: float) -> None:
    """The tabular EEG spectra a scan takes from its chunk's shared Welch segments (a 2 s step: every
    window's segments on one 1 s grid) are bit for bit those of each window's own segment; a step
    off that grid (1.5 s) computes them per window. (Columns over at most the central 30 s: longer ones are
    computed window by window, the next tests.)"""
    from hms.recording.predict import FeatureSpec, batch_features

    sig, cfg = configs["tabular"]
    rec = open_recording(scripted["parquet"])
    timer = StepTimer()  # the chunk's shared work is timed by the stream's timer
    stream = iter(WindowStream(rec, WindowGrid(rec.n, step_s), timer, batch=8, chunk=16))
    next(stream)
    wb = next(stream)
    for montages in (["average"], ["bipolar", "average"]):
        c = dataclasses.replace(cfg, montages=montages, eeg_seconds=30)
        shared = batch_features(wb, [FeatureSpec("t", "tabular", sig, c)], StepTimer())["t"]
        a, b = tabular_segment(EEG_WINDOW, c)
        segs = split_montages(wb.signals(sig)[..., a:b], MONTAGES)
        own = tabular_from_montages(segs, wb.spec, nan_share(wb.chunk.raw, wb.offsets, EEG_WINDOW), c)
        np.testing.assert_array_equal(shared, own)
        assert ("welch segments" in timer.seconds) == (step_s == 2.0)


def test_shared_stft_frames_equal_eeg_panels_when_the_step_is_on_the_frame_hop(
        scripted: dict[str, Any], configs: dict[str, Any]) -> None:
    sig, cfg = configs["mosaic"]
    hop = EEG_WINDOW // cfg.n_frames
    step = 5 * hop
    assert frame_hop(hop, step) == hop and frame_hop(78, 400) == 26
    bip = preprocess(scripted["x"][: 200 * FS].T[None], sig)[0]
    power, first = chain_power_frames(bip, 0, cfg, hop)
    offsets = 13 * hop + np.array([0, step, 7 * step])  # window starts on the recording's frame grid
    shared = eeg_panels_from_frames(power, first, hop, bip, offsets, EEG_WINDOW, cfg)
    ref = eeg_panels(np.stack([bip[:, o: o + EEG_WINDOW] for o in offsets]), cfg)
    np.testing.assert_allclose(shared, ref, atol=1e-5)  # float rounding of batched vs single products only


# -- events ------------------------------------------------------------------------------------------------

def test_events_threshold_duration_merge_and_smoothing() -> None:
    step = 2.0
    t = np.arange(100) * step + 20.0  # label starts; slot of window i = its centre +- 1 s
    p = np.zeros((100, 6))
    p[10:20, 1] = 0.9  # LPD: 10 windows = 20 s
    p[22:30, 1] = 0.9  # after a 2-window (4 s) gap: merged with the run before
    p[50:53, 0] = 0.9  # seizure: 3 windows = 6 s < 10 s: dropped
    p[70:80, 4] = 0.6  # GRDA, then a seizure becomes the most likely while GRDA stays above threshold
    p[80:90, 4] = 0.35
    p[80:90, 0] = 0.6
    p[60:65, 3] = 0.25  # LRDA below the threshold: no event
    p[:, 5] = 1 - p[:, :5].sum(axis=1)
    ev = find_events(t, p, step, EventConfig(threshold=0.3, min_duration_s=10, merge_gap_s=6, smooth_s=0))
    assert ev["pattern"].tolist() == ["LPD", "GRDA", "Seizure"]
    lpd = ev.iloc[0]
    assert lpd.start_s == t[10] + 5 - 1 and lpd.end_s == t[29] + 5 + 1 and lpd.n_windows == 20
    assert ev.iloc[1].duration_s == 20.0 and ev.iloc[2].duration_s == 20.0 and ev.iloc[2].start_s == ev.iloc[1].end_s
    assert ev.iloc[0].mean_p == pytest.approx((18 * 0.9) / 20)  # the merged gap counts in the mean
    ev = find_events(t, p, step, EventConfig(threshold=0.3, min_duration_s=10, merge_gap_s=2, smooth_s=0))
    assert (ev["pattern"] == "LPD").sum() == 2  # 4 s gap > 2 s: not merged; the 8-window tail (16 s) is kept
    assert find_events(t, p, step, EventConfig(threshold=0.7, smooth_s=0))["pattern"].tolist() == ["LPD"]
    # smoothing removes single-window flicker
    q = p.copy()
    q[40, 2], q[40, 5] = 0.99, 0.01
    assert "GPD" not in find_events(t, q, step, EventConfig(min_duration_s=0, smooth_s=10))["pattern"].tolist()
    assert "GPD" in find_events(t, q, step, EventConfig(min_duration_s=0, smooth_s=0))["pattern"].tolist()
    np.testing.assert_allclose(smooth(np.eye(3)[[0, 0, 1, 0, 0]], 3)[2], [2 / 3, 1 / 3, 0])


# -- scans with trained models ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory: pytest.TempPathFactory, tiny_prepared: tuple[pd.DataFrame, pd.DataFrame],
                tiny_features: Path, tiny_params: dict[str, Any]) -> Path:
    """A GBDT and two neural models (all three feature kinds) on the tiny data: plumbing, not accuracy."""
    train, test = tiny_prepared
    return modelkit.fit_and_stack(["lgbm", "efficientnet", "wave"], tiny_params, train, test, tiny_features,
                                  tmp_path_factory.mktemp("tiny_models"))


RECOVERY_EEGS = 150  # Kaggle-layout synthetic train eegs for the recovery models (48 = tiny is too few)


@pytest.fixture(scope="module")
def recovery_models(tmp_path_factory: pytest.TempPathFactory, tiny_params: dict[str, Any]) -> Path:
    """LightGBM (tiny params) trained on 150 synthetic Kaggle-layout eegs: enough to tell the six
    patterns apart on a scripted recording of another patient; a few minutes on 2 cores."""
    from hms.data.layout import DataDir
    from hms.data.prepare import PrepareConfig, prepare_test, prepare_train
    from hms.features.build import build_features
    from hms.synth import run_synth

    root = tmp_path_factory.mktemp("recovery")
    run_synth(root / "data", size="small", seed=tiny_params["seed"], n_train_eegs=RECOVERY_EEGS, workers=2)
    data = DataDir(root / "data")
    cfg = PrepareConfig(**tiny_params["prepare"])
    train, test = prepare_train(data, cfg, tiny_params["folds"], tiny_params["seed"]), prepare_test(data, cfg)
    for split, samples in (("train", train), ("test", test)):
        build_features("tabular", data, split, samples, tiny_params["features"], root / "features" / "tabular", workers=2)
    return modelkit.fit_and_stack(["lgbm"], tiny_params, train, test, root / "features", root)


ALL_PATTERNS = ("background:2,lpd:2,background:1.5,seizure:2,background:1.5,grda:2,background:1.5,gpd:2,"
                "background:1.5,lrda:2,background:0.5")


def test_scan_recovers_the_scripted_segments(tmp_path: Path, recovery_models: Path) -> None:
    """Every pattern segment of an 18.5 min scripted recording is overlapped by an event of its
    class (covering at least a quarter of it: these CI-sized models cover 40-87 %, the default
    models more, docs/scan.md), and no pattern event touches the background away from its edges (a
    window sees 20 s before and 30 s after its labelled 10 s, so 30 s at each edge are left out)."""
    from hms.recording.scan import ScanOptions, scan_recording
    from hms.synth.recording import write_synth_recording

    written = write_synth_recording(tmp_path / "all.edf", minutes=18.5, script=ALL_PATTERNS, seed=7)
    truth = pd.read_csv(written["segments"])
    res = scan_recording(written["edf"], recovery_models, tmp_path / "scan", ScanOptions(progress=False))
    ev = res.events
    for seg in truth.itertuples():
        overlap = (np.minimum(ev["end_s"], seg.end_s) - np.maximum(ev["start_s"], seg.start_s)).clip(0)
        if seg.kind == "background":
            inner = (np.minimum(ev["end_s"], seg.end_s - 30) - np.maximum(ev["start_s"], seg.start_s + 30)).clip(0)
            assert inner.sum() == 0, f"event in background {seg.start_s}-{seg.end_s} s:\n{ev}"
        else:
            covered = overlap[ev["pattern"] == seg.pattern].sum() / (seg.end_s - seg.start_s)
            assert covered >= 0.25, f"{seg.pattern} {seg.start_s}-{seg.end_s} s covered {covered:.0%}:\n{ev}"
    assert len(ev) <= 2 * (truth["kind"] != "background").sum()


def test_scan_cli_writes_every_output(tmp_path: Path, scripted: dict[str, Any], tiny_models: Path,
                                      caplog: pytest.LogCaptureFixture) -> None:
    from hms.cli import main

    out = tmp_path / "scan"
    assert main(["scan", str(scripted["edf"]), "--models", str(tiny_models), "--out", str(out)]) == 0
    table = pd.read_parquet(out / "windows.parquet")
    assert len(table) == WindowGrid(12 * 60 * FS, 2.0).n_windows == 336
    assert list(table.columns) == ["start_s", "end_s", *CLASSES, "pattern", "pattern_p"]
    np.testing.assert_allclose(table[list(CLASSES)].sum(axis=1), 1.0, atol=1e-5)
    assert table["start_s"].iloc[0] == 20.0 and np.all(np.diff(table["start_s"]) == 2.0)
    csv = pd.read_csv(out / "windows.csv")
    np.testing.assert_allclose(csv[list(CLASSES)].to_numpy(), table[list(CLASSES)].to_numpy(), atol=1e-4)
    events = pd.read_csv(out / "events.csv")
    assert list(events.columns) == ["pattern", "start_s", "end_s", "duration_s", "mean_p", "max_p", "n_windows"]
    ann = pd.read_csv(out / "annotations.csv")
    assert ann["description"].tolist() == scripted["truth"]["kind"].tolist()
    assert (out / "timeline.png").stat().st_size > 20_000
    summary = json.loads((out / "scan_summary.json").read_text())
    assert summary["windows"] == 336 and set(summary["features"].values()) == {"tabular", "mosaic", "waves"}
    assert {"model lgbm", "model efficientnet", "model wave", "features mosaic", "read"} <= set(summary["seconds"]["steps"])


@pytest.fixture(scope="module")
def short(scripted: dict[str, Any]) -> dict[str, Path]:
    """The first 5 minutes of the scripted recording (background, then LPD), as parquet and EDF."""
    x = scripted["x"][: 5 * 60 * FS]
    return {"parquet": write_parquet_recording(x, scripted["dir"] / "short.parquet"),
            "edf": write_edf(x, FS, scripted["dir"] / "short.edf")}


def test_scan_results_do_not_depend_on_chunks_threads_or_format(short: dict[str, Path], tiny_models: Path,
                                                               tmp_path: Path) -> None:
    from hms.recording.scan import ScanOptions, scan_recording

    def probs(path: Path, name: str, **kw: Any) -> np.ndarray:
        res = scan_recording(path, tiny_models, tmp_path / name, ScanOptions(progress=False, timeline=False, **kw))
        return res.windows[list(CLASSES)].to_numpy()

    a = probs(short["parquet"], "a")
    b = probs(short["parquet"], "b", batch=16, chunk=32, threads=1)
    c = probs(short["edf"], "c")
    d = probs(short["parquet"], "d", exact=True)
    # other chunk edges and batch sizes change the last bits of the filtered signals (60 s of margin
    # leave nothing else), and a last bit can move a feature across a GBDT split: rare, small changes
    assert np.abs(a - b).max() < 1e-3 and (np.abs(a - b) > 1e-6).mean() < 0.02
    # the EDF holds 16-bit samples (steps of 0.01-0.1 µV here, the EKG's range is large), the parquet 0.01 µV
    assert np.abs(a - c).max() < 0.05 and np.abs(a - c).mean() < 1e-3
    # each window preprocessed on its own (`hms predict`'s path): see test_shared_features_close_to_per_window
    assert np.abs(a - d).max() < 0.05


def test_shared_features_close_to_per_window(scripted: dict[str, Any]) -> None:
    """What sharing the preprocessing and the STFT frames over a chunk changes in the features of
    the default configuration (params.yaml), against each window preprocessed on its own as in
    `hms predict`: bounds at about twice the values measured here (docs/scan.md). The default EEG
    columns read the whole 50 s, so the scan computes them window by window (equal); the shared bound is
    that of columns over the central 30 s."""
    from hms.recording.predict import FeatureSpec, batch_features

    params = default_feature_params()
    specs = [FeatureSpec(kind, kind, *parse_config(kind, params)) for kind in ("tabular", "mosaic", "waves")]
    params["tabular"] = {**params["tabular"], "eeg_seconds": 30}
    specs.append(FeatureSpec("tabular30", "tabular", *parse_config("tabular", params)))
    rec = open_recording(scripted["parquet"])
    stream = iter(WindowStream(rec, WindowGrid(rec.n, 2.0), StepTimer(), batch=32, chunk=128))
    next(stream)
    wb = next(stream)  # windows 32-63: inside the recording, chunk margins on both sides
    shared = batch_features(wb, specs, StepTimer())
    exact = batch_features(wb, specs, StepTimer(), exact=True)
    np.testing.assert_array_equal(shared["tabular"], exact["tabular"])
    tab = np.abs(shared["tabular30"] - exact["tabular30"]) / (np.abs(exact["tabular30"]) + 1e-3)
    mos = np.abs(shared["mosaic"] - exact["mosaic"])
    wav = np.abs(shared["waves"] - exact["waves"])
    n = wav.shape[-1]
    print(f"tabular (30 s) rel p99 {np.quantile(tab, 0.99):.2e} max {tab.max():.2e}; mosaic K max {mos[:, :4].max():.2e} "
          f"E mean {mos[:, 4:].mean():.2e} p99 {np.quantile(mos[:, 4:], 0.99):.2e} max {mos.max():.2e}; waves mean "
          f"{wav.mean():.2e} central-half max {wav[..., n // 4: 3 * n // 4].max():.2e} max {wav.max():.2e}")
    assert np.quantile(tab, 0.99) < 2e-3 and tab.max() < 0.05
    assert mos[:, :4].max() == 0  # Kaggle panels: the same spectrogram rows
    assert mos.mean() < 0.03 and np.quantile(mos, 0.99) < 0.3
    assert wav[..., n // 4: 3 * n // 4].max() < 0.01  # away from the window's ends, where its own filter rings
    assert wav.mean() < 0.01


@pytest.mark.parametrize("seconds", [40, 50])
def test_tabular_segment_into_the_filter_transient_is_computed_per_window(scripted: dict[str, Any],
                                                                           seconds: int) -> None:
    """EEG columns over more than the central 30 s read the band-pass transient at each window's ends:
    the scan computes them window by window, so they equal `hms predict`'s exactly (the chunk's shared
    filtering put them 17 % apart at p99 for 50 s)."""
    from hms.recording.predict import FeatureSpec, batch_features

    params = default_feature_params()
    params["tabular"] = {**params["tabular"], "eeg_seconds": seconds}
    spec = FeatureSpec("tabular", "tabular", *parse_config("tabular", params))
    rec = open_recording(scripted["parquet"])
    wb = next(iter(WindowStream(rec, WindowGrid(rec.n, 2.0), StepTimer(), batch=8, chunk=64)))
    shared = batch_features(wb, [spec], StepTimer())["tabular"]
    np.testing.assert_array_equal(shared, batch_features(wb, [spec], StepTimer(), exact=True)["tabular"])
    np.testing.assert_array_equal(shared, tabular_batch(np.ascontiguousarray(wb.raw()), wb.spec, spec.sig, spec.cfg))


def test_missing_electrode_is_masked_with_few_warnings(tmp_path: Path, scripted: dict[str, Any], recovery_models: Path,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    from hms.data.errors import DataError
    from hms.recording.scan import ScanOptions, scan_recording

    x = scripted["x"][: 3 * 60 * FS]
    path = write_edf(np.delete(x, EEG_CHANNELS.index("T4"), axis=1), FS, tmp_path / "no_t4.edf", labels="plain",
                     channels=[c for c in EEG_CHANNELS if c != "T4"])
    with pytest.raises(DataError, match=r"missing 10-20 channel\(s\) T4"):
        scan_recording(path, recovery_models, tmp_path / "a", ScanOptions(progress=False))
    caplog.set_level("WARNING")
    res = scan_recording(path, recovery_models, tmp_path / "b", ScanOptions(progress=False, allow_missing=1))
    assert len(res.windows) == 66 and np.isfinite(res.windows[list(CLASSES)].to_numpy()).all()
    nan_warnings = [r for r in caplog.records if "entirely NaN" in r.getMessage()]
    assert 1 <= len(nan_warnings) <= 3
    assert res.summary["recording"]["missing_channels"] == ["T4"]


def test_short_recording_is_a_clear_error(tmp_path: Path, scripted: dict[str, Any], recovery_models: Path,
                                          capsys: pytest.CaptureFixture) -> None:
    from hms.cli import main

    path = write_edf(scripted["x"][: 40 * FS], FS, tmp_path / "short.edf")
    assert main(["scan", str(path), "--models", str(recovery_models), "--out", str(tmp_path / "o")]) == 2
    assert "short.edf: the recording lasts 40.0 s, shorter than the 50 s EEG context" in capsys.readouterr().err


def test_missing_models_dir_is_a_clear_error(tmp_path: Path, scripted: dict[str, Any],
                                             capsys: pytest.CaptureFixture) -> None:
    from hms.cli import main

    models = tmp_path / "no_models"
    assert main(["scan", str(scripted["edf"]), "--models", str(models), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert f"{models}: no such models directory" in err and "bug" not in err


def test_nan_share_counts_impossible_values_as_gaps() -> None:
    """eeg_nan_frac of the scan's tabular features counts what tabular_batch counts: NaN samples
    and the impossible values preprocessing masks as gaps (±inf, beyond the scalp limit)."""
    from hms.recording.shared import nan_share

    block = np.random.default_rng(0).normal(0, 30, size=(20, 3000)).astype(np.float32)
    block[3, 100:300] = np.nan  # 200 gap samples in window 0
    block[5, 500:520] = 1e6  # 20 impossible samples in windows 0 and 1
    block[7, 2000:2010] = np.inf  # 10 in window 3 (window 2 ends at 2000)
    block[19, :] = 1e9  # the EKG channel is not scalp: never counted
    share = nan_share(block, np.array([0, 400, 1000, 1990]), 1000)
    np.testing.assert_allclose(share * 19 * 1000, [220, 20, 0, 10])


def test_fast_flag_is_no_tta_and_min_weight(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """`hms scan --fast` is exactly --no-tta --min-weight FAST_MIN_WEIGHT (a larger --min-weight wins)."""
    import hms.recording.scan as scan_module
    from hms.cli import main
    from hms.recording.defaults import FAST_MIN_WEIGHT

    seen = []

    class Result:
        summary = {"windows": 0, "events": 0, "seconds": {"total": 0.0}, "x_real_time": 0.0}
        events = pd.DataFrame()
        out_dir = tmp_path

    def fake(recording, models, out, opts):
        seen.append(opts)
        return Result()

    monkeypatch.setattr(scan_module, "scan_recording", fake)
    for argv, tta, weight in ((["--fast"], False, FAST_MIN_WEIGHT), ([], True, 0.0),
                              (["--fast", "--min-weight", "0.2"], False, 0.2), (["--no-tta"], False, 0.0)):
        assert main(["scan", "rec.edf", "--out", str(tmp_path), *argv]) == 0
        assert (seen[-1].tta, seen[-1].min_weight) == (tta, weight)

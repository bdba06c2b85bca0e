"""Reading real-world recordings: EDF written by edfio (the library behind MNE's EDF export), BDF
written by pyEDFlib, read through MNE; channel naming schemes; sample rates 256, 500 and 512 Hz
(anti-aliased resampling to 200 Hz, µV scaling); annotations; missing channels; truncated files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hms.constants import EEG_CHANNELS, FS, SCALP_CHANNELS
from hms.data.errors import DataError
from hms.recording.channels import electrode_name, map_channels
from hms.recording.read import open_recording, read_edf_header

edfio = pytest.importorskip("edfio")


def write_edf(path: Path, data: dict[str, np.ndarray], fs: float, unit: str = "uV",
              annotations: tuple[tuple[float, float, str], ...] = ()) -> Path:
    """One signal per label, values in `unit`, 16-bit, each with its own physical range."""
    signals = []
    for label, v in data.items():
        top = float(np.abs(v).max()) * 1.01 + 1e-3
        signals.append(edfio.EdfSignal(np.asarray(v, np.float64), fs, label=label, physical_dimension=unit,
                                       physical_range=(-top, top)))
    edfio.Edf(signals, annotations=[edfio.EdfAnnotation(o, d, t) for o, d, t in annotations]).write(path)
    return path


def sines(fs: float, seconds: float, freqs: dict[float, float], n_channels: int = 20, seed: int = 0) -> np.ndarray:
    """(channels, n) sums of sines (Hz -> µV amplitude) with a random phase per channel."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(seconds * fs))) / fs
    x = np.zeros((n_channels, len(t)))
    for f, a in freqs.items():
        x += a * np.sin(2 * np.pi * f * t[None, :] + rng.uniform(0, 2 * np.pi, size=(n_channels, 1)))
    return x


def amplitude(x: np.ndarray, fs: float, f: float) -> np.ndarray:
    """Amplitude of the f Hz sine in each row (projection on a Hann-windowed complex exponential)."""
    n = x.shape[-1]
    t = np.arange(n) / fs
    w = np.hanning(n)
    z = (x * w * np.exp(-2j * np.pi * f * t)).sum(axis=-1)
    return 2 * np.abs(z) / w.sum()


# -- channel names ---------------------------------------------------------------------------------

@pytest.mark.parametrize("label, name", [
    ("Fp1", "Fp1"), ("FP1", "Fp1"), ("fp1", "Fp1"), ("EEG Fp1-REF", "Fp1"), ("EEG FP1-REF", "Fp1"),
    ("Fp1-LE", "Fp1"), ("EEG FP1-LE", "Fp1"), ("Fp1-A1", "Fp1"), ("FP2-A2", "Fp2"), ("Fp1-AVG", "Fp1"),
    ("Fp1.", "Fp1"), ("Fz..", "Fz"), ("EEG Cz", "Cz"), ("POL Pz", "Pz"), ("Fp1 (REF)", "Fp1"), ("O2-M1", "O2"),
    ("T7", "T3"), ("T8-REF", "T4"), ("EEG P7-LE", "T5"), ("p8", "T6"), ("T3", "T3"),
    ("EKG", "EKG"), ("ECG", "EKG"), ("EEG EKG-REF", "EKG"), ("EKG1", "EKG"),
    ("Fp1-F7", None), ("EEG Fp1-T3", None), ("Fpz", None), ("A1", None), ("Photic", None), ("EMG", None), ("", None),
])
def test_electrode_names(label: str, name: str | None) -> None:
    assert electrode_name(label) == name


def test_map_channels_any_order_and_scheme() -> None:
    labels = ["EDF Annotations", "EEG EKG-REF"] + [f"EEG {c.upper()}-REF" for c in reversed(SCALP_CHANNELS)]
    m = map_channels(labels)
    assert [labels[i] for i in m.scalp] == [f"EEG {c.upper()}-REF" for c in SCALP_CHANNELS]
    assert labels[m.ekg] == "EEG EKG-REF" and m.missing == []


def test_missing_channels_are_named() -> None:
    labels = [c for c in SCALP_CHANNELS if c not in ("O2", "Pz")]
    with pytest.raises(DataError, match=r"missing 10-20 channel\(s\) Pz, O2.*--allow-missing 2"):
        map_channels(labels, "rec.edf")
    m = map_channels(labels, "rec.edf", allow_missing=2)
    assert m.missing == ["Pz", "O2"] and m.ekg is None


def test_two_labels_for_one_electrode_are_an_error() -> None:
    with pytest.raises(DataError, match=r"T3 <- 'T3', 'T7'"):
        map_channels(list(SCALP_CHANNELS) + ["T7"], "rec.edf")


# -- EDF files ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("fs_in", [256, 500, 512])
def test_sample_rates_resampled_to_200_hz_with_anti_aliasing(tmp_path: Path, fs_in: int) -> None:
    # 5 and 15 Hz must keep their amplitude; 120 Hz is above the 100 Hz Nyquist frequency of 200 Hz
    # and would alias to 80 Hz without the anti-aliasing filter.
    seconds = 60
    x = sines(fs_in, seconds, {5.0: 40.0, 15.0: 20.0, 120.0: 30.0})
    path = write_edf(tmp_path / f"r{fs_in}.edf", {c: x[i] for i, c in enumerate(EEG_CHANNELS)}, fs_in)
    rec = open_recording(path)
    assert rec.fs_in == fs_in and rec.n == seconds * FS and rec.duration_s == seconds
    y = rec.read(0, rec.n).astype(np.float64)
    assert y.shape == (20, seconds * FS) and y.dtype == np.float64
    mid = y[:, FS:-FS]  # the resampler's edge transient is at the file's ends
    for f, a in ((5.0, 40.0), (15.0, 20.0)):
        np.testing.assert_allclose(amplitude(mid, FS, f), a, rtol=0.01)
    assert amplitude(mid, FS, 80.0).max() < 30.0 * 1e-2  # aliased 120 Hz: < -40 dB
    # the waveform itself, not just its spectrum: compare with the 5 + 15 Hz part sampled at 200 Hz
    ref = sines(FS, seconds, {5.0: 40.0, 15.0: 20.0}, seed=0)
    assert np.abs(mid - ref[:, FS:-FS]).max() < 1.0  # µV, out of 60 µV peaks


def test_units_are_microvolts_whatever_the_file_unit(tmp_path: Path) -> None:
    x = sines(256, 20, {7.0: 50.0})
    a = open_recording(write_edf(tmp_path / "uv.edf", {c: x[i] for i, c in enumerate(EEG_CHANNELS)}, 256, unit="uV"))
    b = open_recording(write_edf(tmp_path / "mv.edf", {c: x[i] / 1000 for i, c in enumerate(EEG_CHANNELS)}, 256, unit="mV"))
    ya, yb = a.read(0, a.n), b.read(0, b.n)
    assert np.abs(ya[:, FS:-FS]).max() == pytest.approx(50.0, rel=0.01)  # (resampler transients at the ends)
    np.testing.assert_allclose(ya, yb, atol=0.01)


def test_chunked_reads_join_seamlessly(tmp_path: Path) -> None:
    x = sines(512, 30, {3.0: 30.0, 11.0: 10.0}) + np.random.default_rng(1).normal(0, 5, (20, 512 * 30))
    rec = open_recording(write_edf(tmp_path / "r.edf", {c: x[i] for i, c in enumerate(EEG_CHANNELS)}, 512))
    whole = rec.read(0, rec.n)
    cuts = [0, 1234, 2000, 4001, 4002, rec.n]
    parts = np.concatenate([rec.read(a, b) for a, b in zip(cuts[:-1], cuts[1:])], axis=1)
    assert np.abs(parts - whole).max() < 1e-3


def test_other_schemes_annotations_and_channel_order(tmp_path: Path) -> None:
    names = {"T3": "T7", "T4": "T8", "T5": "P7", "T6": "P8"}
    x = sines(250, 20, {6.0: 30.0})
    data = {"Photic": x[0] * 0}  # an unused channel first
    data.update({f"{names.get(c, c)}-LE": x[i] for i, c in enumerate(SCALP_CHANNELS[::-1])})  # reversed order
    data["ECG"] = x[19]
    ann = ((2.0, 5.0, "seizure onset?"), (12.5, 0.0, "nurse in room"))
    rec = open_recording(write_edf(tmp_path / "r.edf", data, 250, annotations=ann))
    y = rec.read(0, rec.n)
    ref = sines(FS, 20, {6.0: 30.0})
    # scalp channel c came from x[reversed index]: check a few by their waveform
    for j, c in enumerate(SCALP_CHANNELS):
        i = SCALP_CHANNELS[::-1].index(c)
        assert np.abs(y[j, FS:-FS] - ref[i, FS:-FS]).max() < 1.0, c
    assert rec.channels.describe()["T5"] == "P7-LE" and rec.channels.describe()["EKG"] == "ECG"
    assert rec.annotations[["onset_s", "duration_s"]].to_numpy().tolist() == [[2.0, 5.0], [12.5, 0.0]]
    assert rec.annotations["description"].tolist() == ["seizure onset?", "nurse in room"]


def test_missing_channel_is_an_error_or_masked(tmp_path: Path) -> None:
    x = sines(200, 10, {6.0: 30.0})
    data = {c: x[i] for i, c in enumerate(EEG_CHANNELS) if c != "T4"}
    path = write_edf(tmp_path / "r.edf", data, 200)
    with pytest.raises(DataError, match=r"r\.edf: missing 10-20 channel\(s\) T4"):
        open_recording(path)
    rec = open_recording(path, allow_missing=1)
    y = rec.read(0, rec.n)
    t4 = EEG_CHANNELS.index("T4")
    assert np.isnan(y[t4]).all() and np.isfinite(np.delete(y, t4, axis=0)).all()


def test_truncated_file_is_a_clear_error(tmp_path: Path) -> None:
    x = sines(256, 30, {6.0: 30.0})
    path = write_edf(tmp_path / "r.edf", {c: x[i] for i, c in enumerate(EEG_CHANNELS)}, 256)
    h = read_edf_header(path)
    assert h.n_records == 30 and h.record_s == 1.0 and h.samples_per_record[0] == 256
    cut = tmp_path / "cut.edf"
    cut.write_bytes(path.read_bytes()[:-20_000])  # about 2 of 30 one-second records
    with pytest.raises(DataError, match=r"cut\.edf: truncated file: the header announces 30 data records \(30 s\) "
                                        r"but the file holds 28 complete records.*--allow-truncated"):
        open_recording(cut)
    rec = open_recording(cut, allow_truncated=True)
    assert rec.duration_s == 28.0 and np.isfinite(rec.read(0, rec.n)).all()
    stub = tmp_path / "stub.edf"
    stub.write_bytes(path.read_bytes()[:200])
    with pytest.raises(DataError, match=r"stub\.edf: truncated EDF header"):
        open_recording(stub)
    garbage = tmp_path / "garbage.edf"
    garbage.write_bytes(b"x" * 4096)
    with pytest.raises(DataError, match=r"garbage\.edf: not an EDF/BDF file"):
        open_recording(garbage)


def test_bdf_written_by_pyedflib(tmp_path: Path) -> None:
    pyedflib = pytest.importorskip("pyedflib")
    fs, seconds = 512, 20
    x = sines(fs, seconds, {4.0: 60.0, 13.0: 15.0})
    path = tmp_path / "r.bdf"
    with pyedflib.EdfWriter(str(path), len(EEG_CHANNELS), file_type=pyedflib.FILETYPE_BDFPLUS) as w:
        w.setSignalHeaders([{"label": f"EEG {c}", "dimension": "uV", "sample_frequency": fs,
                             "physical_max": 100.0, "physical_min": -100.0,
                             "digital_max": 8388607, "digital_min": -8388608} for c in EEG_CHANNELS])
        w.writeSamples([x[i] for i in range(len(EEG_CHANNELS))])
        w.writeAnnotation(3.0, 2.0, "marker")
    rec = open_recording(path)
    assert rec.format == "bdf" and rec.fs_in == fs and rec.duration_s == seconds
    y = rec.read(0, rec.n)
    ref = sines(FS, seconds, {4.0: 60.0, 13.0: 15.0})
    assert np.abs(y[:, FS:-FS] - ref[:, FS:-FS]).max() < 0.5
    assert rec.annotations["description"].tolist() == ["marker"]


def test_kaggle_parquet_streams_by_row_group(tmp_path: Path) -> None:
    from hms.data.read import read_eeg
    from hms.synth.recording import write_parquet_recording

    x = np.round(np.random.default_rng(0).normal(0, 30, (FS * 130, 20)), 2).astype(np.float32)
    x[500:520, 3] = np.nan
    path = write_parquet_recording(x, tmp_path / "r.parquet", rows_per_group=FS * 60)
    rec = open_recording(path)
    assert rec.n == FS * 130 and rec._reader.pf.num_row_groups == 3
    full = read_eeg(path).T
    for a, b in ((0, 100), (11_990, 12_010), (5_000, 25_000), (0, rec.n)):
        np.testing.assert_array_equal(rec.read(a, b), full[:, a:b])

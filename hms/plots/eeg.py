"""`hms plot-eeg`: one PNG with everything the models see for one window.

Left: the 18 preprocessed bipolar traces of the 50 s EEG window (the central 10 s the experts
labelled shaded). Right: the mosaic panels (top row Kaggle spectrogram K_*, bottom row EEG
spectrogram E_*, frequency upwards) and, for train, the expert votes. The signal and mosaic
settings are the defaults of hms.signal.preprocess.SignalConfig and hms.features.mosaic.MosaicConfig
(the same as params.yaml's defaults).
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from hms.constants import CENTER_START, CENTER_STOP, CLASSES, EEG_WINDOW, FS, VOTE_COLS
from hms.data.contract import read_test_csv, read_train_csv
from hms.data.errors import DataError
from hms.data.layout import DataDir
from hms.data.targets import make_samples
from hms.data.windows import load_window
from hms.features.mosaic import MosaicConfig, mosaic_batch
from hms.io import atomic_path
from hms.signal.montage import BIPOLAR_NAMES
from hms.signal.preprocess import SignalConfig, preprocess

log = logging.getLogger(__name__)


def _train_sample(data: DataDir, eeg_id: int, offset_s: float | None) -> tuple[dict[str, Any], np.ndarray]:
    train = read_train_csv(data.csv("train"))
    rows = train[train["eeg_id"] == eeg_id]
    if rows.empty:
        raise DataError(data.csv("train"), f"no row with eeg_id {eeg_id}", column="eeg_id")
    if offset_s is None:  # the eeg's first labelled window and all its votes, as in prepare
        sample = make_samples(rows, "eeg").iloc[0].to_dict()
        return sample, np.array([sample[c] for c in VOTE_COLS], dtype=float)
    match = rows[np.isclose(rows["eeg_label_offset_seconds"], offset_s)]
    if match.empty:
        offsets = ", ".join(f"{v:g}" for v in sorted(rows["eeg_label_offset_seconds"].unique())[:20])
        raise DataError(data.csv("train"), f"eeg_id {eeg_id} has no row with eeg_label_offset_seconds {offset_s:g}",
                        column="eeg_label_offset_seconds", hint=f"labelled offsets: {offsets}")
    row = match.iloc[0]
    sample = {"eeg_id": eeg_id, "spectrogram_id": int(row["spectrogram_id"]),
              "eeg_offset": float(row["eeg_label_offset_seconds"]), "spec_offset": float(row["spectrogram_label_offset_seconds"])}
    return sample, match[list(VOTE_COLS)].sum().to_numpy(dtype=float)


def _test_sample(data: DataDir, eeg_id: int) -> dict[str, Any]:
    test = read_test_csv(data.csv("test"))
    rows = test[test["eeg_id"] == eeg_id]
    if rows.empty:
        raise DataError(data.csv("test"), f"no row with eeg_id {eeg_id}", column="eeg_id")
    return {"eeg_id": eeg_id, "spectrogram_id": int(rows["spectrogram_id"].iloc[0]), "eeg_offset": math.nan, "spec_offset": math.nan}


def plot_eeg(data_dir: Path, split: str, eeg_id: int, out: Path, offset_s: float | None = None) -> Path:
    """Render one window of `eeg_id` to the PNG `out` (written atomically) and return its path."""
    data = DataDir(Path(data_dir))
    if split == "train":
        sample, votes = _train_sample(data, int(eeg_id), offset_s)
    elif split == "test":
        if offset_s is not None:
            log.warning("test windows are whole files; ignoring offset %s", offset_s)
        sample, votes = _test_sample(data, int(eeg_id)), None
    else:
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    win = load_window(data, split, sample)  # type: ignore[arg-type]
    sig, mcfg = SignalConfig(), MosaicConfig()
    raw = win.eeg.T[None]
    label = f"{split} eeg_id {eeg_id}"
    bip = preprocess(raw, sig, [label])[0]
    panels = mosaic_batch(raw, win.spec[None], sig, mcfg, [label])[0]

    fig = Figure(figsize=(18, 10), dpi=100)
    grid = fig.add_gridspec(3, 6, width_ratios=[3, 3, 1, 1, 1, 1], hspace=0.35, wspace=0.3,
                            left=0.06, right=0.98, top=0.95, bottom=0.06)
    ax = fig.add_subplot(grid[:, :2])
    t = np.arange(EEG_WINDOW) / FS
    spacing = max(float(np.percentile(np.abs(bip), 99)) * 2, 1.0)
    for k, name in enumerate(BIPOLAR_NAMES):
        ax.plot(t, bip[k] - k * spacing, lw=0.4, color="k" if k < 16 else "tab:blue")
    ax.axvspan(CENTER_START / FS, CENTER_STOP / FS, color="gold", alpha=0.25, label="labelled 10 s")
    ax.set_yticks(-np.arange(len(BIPOLAR_NAMES)) * spacing, BIPOLAR_NAMES, fontsize=8)
    ax.set_xlim(0, EEG_WINDOW / FS)
    ax.set_xlabel("seconds in the 50 s window")
    offset = "whole file" if split == "test" else f"offset {sample['eeg_offset']:g} s"
    ax.set_title(f"{label} ({offset}): bipolar, {sig.band_hz} Hz band-pass, spacing {spacing:.0f} µV", fontsize=10)
    ax.legend(loc="upper right", fontsize=8)
    for i, name in enumerate(mcfg.panels):
        pax = fig.add_subplot(grid[i // 4, 2 + i % 4])
        extent = (0, 600, 0.59, 19.92) if name.startswith("K_") else (0, EEG_WINDOW / FS, mcfg.fmin_hz, mcfg.fmax_hz)
        pax.imshow(panels[i], origin="lower", aspect="auto", cmap="magma", extent=extent)
        pax.set_title(f"{name} ({mcfg.montage})" if name.startswith("E_") else name, fontsize=9)
        pax.tick_params(labelsize=7)
        pax.set_xlabel("s", fontsize=7, labelpad=1)
        if i % 4 == 0:
            pax.set_ylabel("Hz (mel for E)" if name.startswith("E_") else "Hz", fontsize=8)
    vax = fig.add_subplot(grid[2, 2:])
    if votes is not None:
        vax.bar(CLASSES, votes, color="tab:green")
        vax.set_title(f"expert votes (total {int(votes.sum())})", fontsize=9)
    else:
        vax.text(0.5, 0.5, "test split: no votes", ha="center", va="center")
        vax.set_axis_off()
    out = Path(out)
    with atomic_path(out, suffix=".png") as tmp:
        fig.savefig(tmp, format="png")
    log.info("wrote %s", out)
    return out

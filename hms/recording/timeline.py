"""The scan's PNG timeline: compressed spectrogram (left / right hemisphere), stacked pattern
probabilities, one lane of event bars per pattern and, when the file has them, its annotations.
Long recordings are averaged into at most MAX_COLUMNS time bins for drawing (the tables keep
every window)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from hms.constants import CLASSES, CONSENSUS  # noqa: E402
from hms.io import atomic_path  # noqa: E402
from hms.recording.events import PATTERNS  # noqa: E402

COLOURS = {"seizure": "#d62728", "lpd": "#ff7f0e", "gpd": "#bcbd22", "lrda": "#1f77b4", "grda": "#17becf", "other": "#c7c7c7"}
MAX_COLUMNS = 3000
SPEC_FMAX_HZ = 20.0


def _bin_mean(x: np.ndarray, t: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Average rows of x (and their times) into at most n bins."""
    if len(x) <= n:
        return t, x
    k = int(np.ceil(len(x) / n))
    m = len(x) // k * k
    tb = t[:m].reshape(-1, k).mean(axis=1)
    xb = x[:m].reshape(-1, k, *x.shape[1:]).mean(axis=1)
    return tb, xb


def _time_axis(duration_s: float) -> tuple[float, str]:
    if duration_s > 3 * 3600:
        return 3600.0, "hours"
    return 60.0, "minutes"


def draw_timeline(table: pd.DataFrame, events: pd.DataFrame, strip: np.ndarray, strip_t: np.ndarray, out: Path,
                  duration_s: float, title: str, annotations: pd.DataFrame | None = None) -> Path:
    """Write the PNG; `table` holds start_s and the six class columns, `strip` (rows, 2, bins) ln power."""
    unit, unit_name = _time_axis(duration_s)
    has_ann = annotations is not None and len(annotations) > 0
    lanes = list(CONSENSUS[:5]) + (["annotations"] if has_ann else [])
    fig = plt.figure(figsize=(14, 7.5), dpi=110)
    gs = fig.add_gridspec(4, 1, height_ratios=[1.6, 2.2, 0.32 * len(lanes), 0.05], hspace=0.12)
    ax_spec, ax_p, ax_ev = fig.add_subplot(gs[0]), fig.add_subplot(gs[1]), fig.add_subplot(gs[2])
    for ax in (ax_spec, ax_p, ax_ev):
        ax.set_xlim(0, duration_s / unit)

    # Compressed spectrogram: left hemisphere over right, each 0.6-20 Hz.
    if len(strip):
        ts, sb = _bin_mean(strip, strip_t, MAX_COLUMNS)
        img = np.concatenate([sb[:, 1].T, sb[:, 0].T], axis=0)  # rows: right (bottom) then left (top)
        lo, hi = np.nanpercentile(img, [2, 98]) if np.isfinite(img).any() else (0, 1)
        ax_spec.imshow(img, aspect="auto", origin="lower", cmap="magma", vmin=lo, vmax=hi, interpolation="nearest",
                       extent=(ts[0] / unit - 1 / unit, ts[-1] / unit + 1 / unit, 0, 2 * SPEC_FMAX_HZ))
        ax_spec.set_yticks([0, 10, 20, 30, 40], ["0", "10\nright", "20 | 0", "10\nleft", "20 Hz"], fontsize=7)
        ax_spec.axhline(SPEC_FMAX_HZ, color="white", lw=0.6)
    ax_spec.set_ylabel("spectrogram", fontsize=8)
    ax_spec.set_title(title, fontsize=10, loc="left")
    ax_spec.tick_params(labelbottom=False)

    # Stacked probabilities at the centre of each window's labelled 10 s.
    if len(table):
        t = table["start_s"].to_numpy() + 5.0
        tb, pb = _bin_mean(table[list(CLASSES)].to_numpy(), t, MAX_COLUMNS)
        ax_p.stackplot(tb / unit, pb.T, colors=[COLOURS[c] for c in CLASSES], labels=list(CONSENSUS), lw=0)
    ax_p.set_ylim(0, 1)
    ax_p.set_ylabel("probability", fontsize=8)
    ax_p.legend(loc="upper left", bbox_to_anchor=(1.002, 1.0), fontsize=7, frameon=False)
    ax_p.tick_params(labelbottom=False)

    # Event lanes (+ the file's annotations).
    for i, name in enumerate(lanes):
        y = len(lanes) - 1 - i
        if name == "annotations":
            for r in annotations.itertuples():
                # an annotation that names a class (as the scripted recordings' do) takes its colour
                colour = COLOURS.get(str(r.description).strip().lower(), "#8c8c8c")
                if r.duration_s > 0:
                    ax_ev.broken_barh([(r.onset_s / unit, r.duration_s / unit)], (y + 0.15, 0.7), facecolor=colour,
                                      edgecolor="white", lw=0.8)
                else:
                    ax_ev.plot([r.onset_s / unit] * 2, [y + 0.1, y + 0.9], color="#555555", lw=0.8)
                if len(annotations) <= 40:
                    ax_ev.text(r.onset_s / unit, y + 0.5, f" {r.description}", fontsize=6, va="center", clip_on=True)
            continue
        cls = CLASSES[CONSENSUS.index(name)]
        ev = events[events["pattern"] == name] if len(events) else events
        bars = [(s / unit, d / unit) for s, d in zip(ev["start_s"], ev["duration_s"])]
        ax_ev.broken_barh(bars, (y + 0.15, 0.7), color=COLOURS[cls])
    ax_ev.set_ylim(0, len(lanes))
    ax_ev.set_yticks(np.arange(len(lanes)) + 0.5, lanes[::-1], fontsize=7)
    ax_ev.set_xlabel(f"time from the recording start ({unit_name})", fontsize=8)
    ax_ev.grid(axis="x", lw=0.3, alpha=0.5)
    assert set(PATTERNS) <= set(CLASSES)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out, ".png") as tmp:
        fig.savefig(tmp, bbox_inches="tight")
    plt.close(fig)
    return out

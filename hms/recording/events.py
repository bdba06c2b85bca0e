"""Events: contiguous runs of one harmful pattern in the per-window probabilities.

Each window stands for the `step` seconds around the centre of its labelled 10 s (its "slot"), so
consecutive windows tile the timeline without overlap. The probabilities are first smoothed by a
centred moving average over `smooth_s` seconds (single-window flicker is not an event). A slot
belongs to pattern k (one of the five; Other is the background, not an event) when k is the most
likely of the six classes there and its probability is at least `threshold`. Runs of one
pattern's slots separated by at most `merge_gap_s` are merged, and runs shorter than
`min_duration_s` are dropped (ACNS: a seizure lasts >= 10 s; periodic and rhythmic patterns need
>= 6 cycles, about 10 s at 0.5-1 Hz). The defaults were set from measurement on scripted
recordings (docs/scan.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from hms.constants import CLASSES, CONSENSUS
from hms.errors import ConfigError
from hms.recording import defaults

PATTERNS: tuple[str, ...] = CLASSES[:5]  # seizure, lpd, gpd, lrda, grda
EVENT_COLUMNS = ("pattern", "start_s", "end_s", "duration_s", "mean_p", "max_p", "n_windows")


@dataclass(frozen=True)
class EventConfig:
    threshold: float = defaults.EVENT_THRESHOLD
    min_duration_s: float = defaults.EVENT_MIN_DURATION_S
    merge_gap_s: float = defaults.EVENT_MERGE_GAP_S
    smooth_s: float = defaults.EVENT_SMOOTH_S

    def __post_init__(self) -> None:
        if not 0 < self.threshold < 1:
            raise ConfigError(f"event threshold (--threshold) must be in (0, 1), got {self.threshold}")
        if self.min_duration_s < 0 or self.merge_gap_s < 0 or self.smooth_s < 0:
            raise ConfigError("event durations (--min-duration, --merge-gap, --smooth) must be >= 0")


def smooth(p: np.ndarray, width: int) -> np.ndarray:
    """Centred moving average over `width` windows along axis 0 (shorter at the ends)."""
    if width <= 1 or len(p) == 0:
        return p
    c = np.cumsum(np.vstack([np.zeros((1, p.shape[1])), p]), axis=0)
    half = width // 2
    idx = np.arange(len(p))
    lo, hi = np.clip(idx - half, 0, len(p)), np.clip(idx + width - half, 0, len(p))
    return (c[hi] - c[lo]) / (hi - lo)[:, None]


def runs(on: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) index ranges of the True runs of a boolean vector."""
    d = np.diff(np.concatenate([[0], on.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist()))


def find_events(label_start_s: np.ndarray, probs: np.ndarray, step_s: float, cfg: EventConfig = EventConfig()) -> pd.DataFrame:
    """Events (EVENT_COLUMNS) of the windows' probabilities (n, 6) in class order, sorted by start."""
    centre = np.asarray(label_start_s, dtype=np.float64) + 5.0
    p = smooth(np.asarray(probs, dtype=np.float64), int(round(cfg.smooth_s / step_s)) if cfg.smooth_s else 1)
    best = p.argmax(axis=1) if len(p) else np.zeros(0, np.int64)
    rows = []
    for k, name in enumerate(PATTERNS):
        merged: list[list[int]] = []
        for a, b in runs((best == k) & (p[:, k] >= cfg.threshold)):
            gap = (centre[a] - centre[merged[-1][1] - 1]) - step_s if merged else None
            if merged and gap is not None and gap <= cfg.merge_gap_s + 1e-9:
                merged[-1][1] = b
            else:
                merged.append([a, b])
        for a, b in merged:
            start, end = centre[a] - step_s / 2, centre[b - 1] + step_s / 2
            if end - start + 1e-9 < cfg.min_duration_s:
                continue
            seg = np.asarray(probs)[a:b, k]
            rows.append((CONSENSUS[k], start, end, end - start, float(seg.mean()), float(seg.max()), b - a))
    events = pd.DataFrame(rows, columns=list(EVENT_COLUMNS))
    return events.sort_values(["start_s", "pattern"], kind="stable").reset_index(drop=True)

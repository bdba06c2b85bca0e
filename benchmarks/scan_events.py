"""Event settings against known truth (prints a table; not a test): for scans of scripted recordings
(`hms synth-recording` + `hms scan`), how many pattern segments each (threshold, min duration)
recovers, how much of them it covers, and how many false events it puts in the background. The
defaults of hms/recording/defaults.py were chosen from this table (docs/scan.md).

    python benchmarks/scan_events.py SCAN_DIR:SEGMENTS_CSV [SCAN_DIR:SEGMENTS_CSV ...]

A segment is recovered when an event of its class overlaps it; a background event is a pattern
event inside a background segment away from its edges (30 s at each end are left out: a window
sees 20 s before and 30 s after its labelled 10 s, so windows there legitimately see the pattern).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hms.constants import CLASSES  # noqa: E402
from hms.recording.events import EventConfig, find_events  # noqa: E402

EDGE_S = 30.0
THRESHOLDS = (0.2, 0.25, 0.3, 0.35, 0.4, 0.5)
MIN_DURATIONS = (10.0, 20.0)


def score(events: pd.DataFrame, truth: pd.DataFrame) -> tuple[int, int, float, int]:
    """(segments recovered, pattern segments, mean coverage by events of the right class, background events)."""
    found, cover, bg = 0, [], 0
    for s in truth.itertuples():
        if s.kind == "background":
            inner = (np.minimum(events["end_s"], s.end_s - EDGE_S) - np.maximum(events["start_s"], s.start_s + EDGE_S))
            bg += int((inner > 0).sum())
            continue
        ov = (np.minimum(events["end_s"], s.end_s) - np.maximum(events["start_s"], s.start_s)).clip(0)
        c = float(ov[events["pattern"] == s.pattern].sum()) / (s.end_s - s.start_s)
        found += int(c > 0)
        cover.append(c)
    return found, len(cover), float(np.mean(cover)) if cover else float("nan"), bg


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("scans", nargs="+", help="SCAN_DIR:SEGMENTS_CSV pairs (scan output dir, the recording's truth)")
    ap.add_argument("--step", type=float, default=2.0, help="the scans' --step (default 2)")
    args = ap.parse_args()
    pairs = []
    for item in args.scans:
        scan_dir, _, seg = item.partition(":")
        if not seg:
            ap.error(f"{item}: expected SCAN_DIR:SEGMENTS_CSV")
        pairs.append((pd.read_parquet(Path(scan_dir) / "windows.parquet"), pd.read_csv(seg), Path(scan_dir).name))
    print(f"{'threshold':>9} {'min dur':>7}  " + "  ".join(f"{name:>28}" for *_, name in pairs))
    print(f"{'':>9} {'':>7}  " + "  ".join(f"{'found  coverage  bg events':>28}" for _ in pairs))
    for thr in THRESHOLDS:
        for dur in MIN_DURATIONS:
            cfg = EventConfig(threshold=thr, min_duration_s=dur)
            cells = []
            for table, truth, _ in pairs:
                ev = find_events(table["start_s"].to_numpy(), table[list(CLASSES)].to_numpy(), args.step, cfg)
                f, n, c, bg = score(ev, truth)
                cells.append(f"{f:>3}/{n:<3}{c:>9.0%}{bg:>11}")
            print(f"{thr:>9g} {dur:>7g}  " + "  ".join(f"{c:>28}" for c in cells))


if __name__ == "__main__":
    main()

"""Defaults shared by the scan code and its command line, in a module with no heavy imports so
that `hms --help` stays instant."""

from __future__ import annotations

# Event detection (hms.recording.events.EventConfig); set from measurement, see docs/scan.md.
EVENT_THRESHOLD = 0.25  # docs/scan.md: recovers every scripted segment, no background event
EVENT_MIN_DURATION_S = 10.0
EVENT_MERGE_GAP_S = 10.0
EVENT_SMOOTH_S = 10.0

# `hms scan --fast` = --no-tta --min-weight FAST_MIN_WEIGHT: the measured >= 100x configuration (docs/scan.md)
FAST_MIN_WEIGHT = 0.05

# hms.synth.recording: a 60 min script (minutes), every pattern once, background between them.
DEFAULT_SCRIPT = ("background:8,lpd:5,background:5,seizure:3,background:6,grda:5,background:5,gpd:4,"
                  "background:4,lrda:5,background:10")
LABEL_SCHEMES = ("tuh", "plain", "1010")

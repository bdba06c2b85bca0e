"""`hms scan` and `hms synth-recording` (added to the main parser by hms.cli.build_parser)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def _scan(args: argparse.Namespace) -> None:
    from hms.recording.defaults import FAST_MIN_WEIGHT
    from hms.recording.events import EventConfig
    from hms.recording.scan import ScanOptions, scan_recording

    tta = not (args.no_tta or args.fast)
    min_weight = max(args.min_weight, FAST_MIN_WEIGHT) if args.fast else args.min_weight
    opts = ScanOptions(step_s=args.step, batch=args.batch, exact=args.exact, tta=tta, threads=args.threads,
                       min_weight=min_weight,
                       allow_missing=args.allow_missing, allow_truncated=args.allow_truncated,
                       events=EventConfig(threshold=args.threshold, min_duration_s=args.min_duration,
                                          merge_gap_s=args.merge_gap, smooth_s=args.smooth))
    result = scan_recording(Path(args.recording), Path(args.models), Path(args.out), opts)
    s = result.summary
    print(f"{args.recording}: {s['windows']} windows, {s['events']} events, {s['seconds']['total']:.1f} s "
          f"({s['x_real_time']:.0f}x real time) -> {result.out_dir}")
    if len(result.events):
        print(result.events.to_string(index=False, float_format=lambda v: f"{v:.1f}"))


def _synth_recording(args: argparse.Namespace) -> None:
    from hms.synth.recording import write_synth_recording

    written = write_synth_recording(Path(args.out), minutes=args.minutes, script=args.script, seed=args.seed, fs=args.fs,
                                    parquet=args.parquet, labels=args.labels, pattern_share=args.pattern_share)
    print(json.dumps(written, indent=2))


def add_commands(sub: argparse._SubParsersAction) -> None:
    from hms.recording import defaults as d
    p = sub.add_parser(
        "scan", help="score a long EEG recording (EDF/BDF or Kaggle parquet) window by window: table, events, timeline",
        description="Slide the 10 s window (with its 50 s EEG and 600 s spectrogram contexts) over the recording every "
                    "--step seconds, score each window with every saved model and the blender, and write windows.parquet/"
                    ".csv, events.csv, timeline.png and scan_summary.json to --out. Offline; see docs/scan.md.")
    p.add_argument("recording", help=".edf, .bdf or Kaggle-layout .parquet EEG file of any length")
    p.add_argument("--models", default="models", help="trained models directory (default models/)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--step", type=float, default=2.0, help="seconds between windows (default 2)")
    p.add_argument("--threshold", type=float, default=d.EVENT_THRESHOLD,
                   help=f"pattern probability that makes a window part of an event (default {d.EVENT_THRESHOLD})")
    p.add_argument("--min-duration", type=float, default=d.EVENT_MIN_DURATION_S,
                   help=f"shortest event kept, seconds (default {d.EVENT_MIN_DURATION_S:g})")
    p.add_argument("--merge-gap", type=float, default=d.EVENT_MERGE_GAP_S,
                   help=f"gaps up to this many seconds inside an event are merged (default {d.EVENT_MERGE_GAP_S:g})")
    p.add_argument("--smooth", type=float, default=d.EVENT_SMOOTH_S,
                   help=f"moving average of the probabilities before thresholding, seconds (default {d.EVENT_SMOOTH_S:g}; 0 = off)")
    p.add_argument("--batch", type=int, default=64, help="windows per feature/model batch (default 64)")
    p.add_argument("--threads", type=int, default=2,
                   help="batches scored at once, one torch thread each; the features are computed in one more thread "
                        "(default 2, for 2 cores; 1 = everything in one thread)")
    p.add_argument("--exact", action="store_true",
                   help="filter each 50 s window on its own, exactly as `hms predict` (slower; see docs/scan.md)")
    p.add_argument("--no-tta", action="store_true",
                   help="skip the neural nets' test-time averaging over flips and time shifts (faster; "
                        "costs accuracy, docs/scan.md)")
    p.add_argument("--min-weight", type=float, default=0.0, metavar="W",
                   help="do not run base models whose blend weight is below W (default 0: run every model; "
                        "docs/scan.md gives the measured effect)")
    p.add_argument("--fast", action="store_true",
                   help=f"--no-tta --min-weight {d.FAST_MIN_WEIGHT:g}: only the base models the blender weighs >= "
                        f"{d.FAST_MIN_WEIGHT:g}, no flip averaging; >= 100x real time on 2 cores with the default models "
                        "(measured effect on probabilities and events in docs/scan.md)")
    p.add_argument("--allow-missing", type=int, default=0, metavar="N",
                   help="scan with up to N missing 10-20 electrodes masked (default 0: missing channels are an error)")
    p.add_argument("--allow-truncated", action="store_true",
                   help="scan the complete data records of a truncated EDF instead of stopping with an error")
    p.set_defaults(func=_scan)

    p = sub.add_parser(
        "synth-recording", help="write a long synthetic EDF recording with scripted segments (known truth)",
        description="Generate one invented patient's recording from the synthetic signal model: scripted segments of "
                    "background and patterns; writes OUT (.edf, EDF+ annotations = segments), OUT's stem + "
                    ".segments.csv, and with --parquet the Kaggle-layout parquet.")
    p.add_argument("out", help="EDF path to write")
    p.add_argument("--minutes", type=float, default=60.0, help="length; the script's durations are scaled to it (default 60)")
    p.add_argument("--script", default=d.DEFAULT_SCRIPT,
                   help=f"KIND:MINUTES,... with KIND in background, seizure, lpd, gpd, lrda, grda (default {d.DEFAULT_SCRIPT})")
    p.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    p.add_argument("--fs", type=float, default=200.0, help="sample rate of the file, Hz (default 200)")
    p.add_argument("--labels", default="tuh", choices=list(d.LABEL_SCHEMES),
                   help="channel label scheme: tuh (EEG FP1-REF), plain (Fp1), 1010 (T7/P7 names, -LE) (default tuh)")
    p.add_argument("--pattern-share", type=float, default=0.85,
                   help="latent probability of a segment's pattern (the rest is Other; default 0.85)")
    p.add_argument("--parquet", action="store_true", help="also write the Kaggle-layout parquet (200 Hz only)")
    p.set_defaults(func=_synth_recording)

"""The `hms` command line. Each subcommand is a thin wrapper over the library; heavy imports
happen inside the subcommand so that `hms --help` is instant."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from hms import kaggle as kaggle_commands
from hms import tune_cli
from hms.recording import cli as recording_commands


# Kept here rather than imported from hms.synth.config so that `hms --help` stays instant;
# tests/test_badinput.py checks that they agree.
SYNTH_SIZES = ("tiny", "small", "default", "real")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _synth(args: argparse.Namespace) -> None:
    from hms.synth import run_synth

    summary = run_synth(Path(args.out), size=args.size, seed=args.seed, n_train_eegs=args.n_train,
                        n_test_eegs=args.n_test, workers=args.workers, force=args.force)
    print(json.dumps(summary, indent=2))


def _validate(args: argparse.Namespace) -> None:
    from hms.data.validate import validate_dir

    print("\n".join(validate_dir(Path(args.data_dir), folds=args.folds, workers=args.workers, quick=args.quick)))


def _plot_eeg(args: argparse.Namespace) -> None:
    from hms.plots.eeg import plot_eeg

    out = plot_eeg(Path(args.data_dir), args.split, args.eeg_id, Path(args.out), offset_s=args.offset)
    print(out)


def _predict(args: argparse.Namespace) -> None:
    from hms.predict import predict_dir

    out = predict_dir(Path(args.data_dir), Path(args.models), Path(args.out), workers=args.workers)
    print(out)


def _preset(args: argparse.Namespace) -> None:
    from hms.presets import apply_preset

    changed = apply_preset(args.name, Path(args.params))
    print(f"{args.params}: preset {args.name} ({len(changed)} value(s) changed{': ' + ', '.join(changed) if changed else ''})")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hms",
        description="HMS harmful brain activity classification: synthetic data, presets, validation, views and offline prediction. "
                    "Training runs through DVC: `dvc repro` (see README).")
    parser.add_argument("--log-level", default="INFO", type=str.upper, choices=LOG_LEVELS, metavar="LEVEL",
                        help="logging level: debug, info, warning, error (any case; default INFO)")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("synth", help="write a synthetic dataset in the exact Kaggle layout",
                       description="Generate a synthetic HMS dataset (train/test CSVs, EEG and spectrogram parquet files, "
                                   "synth_latent.csv) with the real label structure; prints its Bayes floor and prior KL.")
    p.add_argument("out", help="output data directory")
    p.add_argument("--size", default="default", choices=SYNTH_SIZES,
                   help="preset (default: default); real: every row of the real label structure, "
                        "about 23.5 GB, see docs/scale.md")
    p.add_argument("--n-train", type=_positive, default=None, help="number of train eegs (overrides the preset)")
    p.add_argument("--n-test", type=_positive, default=None, help="number of test eegs (overrides the preset)")
    p.add_argument("--seed", type=int, default=42, help="seed (default 42)")
    p.add_argument("--workers", type=_positive, default=2, help="worker processes (default 2)")
    p.add_argument("--force", action="store_true",
                   help="replace OUT even if it is a non-empty directory that hms synth did not write")
    p.set_defaults(func=_synth)

    p = sub.add_parser("validate", help="check a data directory against the Kaggle data contract",
                       description="Check CSV schemas, votes, every parquet file and every window; errors name file, row and column.")
    p.add_argument("data_dir", help="directory in the Kaggle layout")
    p.add_argument("--folds", type=_at_least_two, default=5, help="fold count to check patient numbers against (default 5)")
    p.add_argument("--workers", type=_positive, default=8, help="I/O threads (default 8)")
    p.add_argument("--quick", action="store_true",
                   help="skip reading every value of every file for impossible values (schemas, tables and windows only)")
    p.set_defaults(func=_validate, data_dir_origin="the DATA_DIR argument")

    p = sub.add_parser("plot-eeg", help="render one eeg's window (bipolar traces, mosaic, spectrogram, votes) to PNG")
    p.add_argument("--data-dir", required=True, help="directory in the Kaggle layout")
    p.add_argument("--eeg-id", type=int, required=True, help="eeg_id to draw")
    p.add_argument("--split", default="train", choices=["train", "test"], help="train or test (default train)")
    p.add_argument("--offset", type=float, default=None,
                   help="EEG label offset in seconds (train; default: the eeg's first labelled row)")
    p.add_argument("--out", required=True, help="PNG path to write")
    p.set_defaults(func=_plot_eeg, data_dir_origin="--data-dir")

    p = sub.add_parser("predict", help="offline prediction on a directory in the Kaggle test layout",
                       description="Compute features, run every saved fold model and the saved blender; no training, no network.")
    p.add_argument("--data-dir", required=True, help="directory with test.csv, sample_submission.csv, test_eegs/, test_spectrograms/")
    p.add_argument("--models", default="models", help="trained models directory (default models/)")
    p.add_argument("--out", default="submission.csv", help="submission CSV to write (default submission.csv)")
    p.add_argument("--workers", type=_positive, default=2, help="worker processes for features (default 2)")
    p.set_defaults(func=_predict, data_dir_origin="--data-dir")

    p = sub.add_parser("preset", help="switch params.yaml to a named configuration: tiny, default or full",
                       description="Rewrite params.yaml as preset NAME, in place: comments, blank lines and key order "
                                   "stay, only values change (git diff shows them). tiny: the test size; default: "
                                   "`make repro` on the embedded data; full: the real Kaggle data on one GPU. "
                                   "Then run `dvc repro` or `dvc exp run`.")
    p.add_argument("name", choices=["tiny", "default", "full"], help="the preset")
    p.add_argument("--params", default="params.yaml", help="params file to rewrite (default params.yaml)")
    p.set_defaults(func=_preset)
    kaggle_commands.add_commands(sub)
    recording_commands.add_commands(sub)  # scan, synth-recording (issue 12)
    tune_cli.add_commands(sub)
    return parser


def _positive(text: str) -> int:
    return _int_at_least(text, 1)


def _at_least_two(text: str) -> int:
    return _int_at_least(text, 2)


def _int_at_least(text: str, low: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"must be >= {low}, not {value}")
    return value


def main(argv: list[str] | None = None) -> int:
    """Run one command. Errors print one line on stderr (exit 2 for bad input or environment,
    1 for a bug); `--debug` or HMS_DEBUG=1 shows the traceback instead."""
    args = build_parser().parse_args(argv)  # bad arguments: argparse's usage line, exit 2
    from hms.data.errors import data_dir_origin
    from hms.errors import EXIT_BUG, EXIT_INTERRUPTED, EXIT_USER, debug_enabled, report, user_error_types
    from hms.logs import setup_logging

    setup_logging(args.log_level)
    prog = f"hms {args.command}"
    try:
        with data_dir_origin(getattr(args, "data_dir_origin", "the data directory argument")):
            args.func(args)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - the one place where errors become messages
        if args.debug or debug_enabled():
            import traceback

            traceback.print_exc()
            return EXIT_USER if isinstance(exc, user_error_types()) else EXIT_BUG
        return report(exc, prog, "run with --debug")
    return 0


if __name__ == "__main__":
    sys.exit(main())

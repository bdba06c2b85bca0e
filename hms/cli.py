"""The `hms` command line. Each subcommand is a thin wrapper over the library; heavy imports
happen inside the subcommand so that `hms --help` is instant."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from hms import kaggle as kaggle_commands


def _synth(args: argparse.Namespace) -> None:
    from hms.synth import run_synth

    summary = run_synth(Path(args.out), size=args.size, seed=args.seed, n_train_eegs=args.n_train,
                        n_test_eegs=args.n_test, workers=args.workers)
    print(json.dumps(summary, indent=2))


def _validate(args: argparse.Namespace) -> None:
    from hms.data.layout import DataDir
    from hms.data.prepare import PrepareConfig, prepare_test, prepare_train

    data = DataDir(Path(args.data_dir))
    cfg = PrepareConfig(workers=args.workers)
    train = prepare_train(data, cfg, n_folds=args.folds, seed=0)
    test = prepare_test(data, cfg)
    print(f"{args.data_dir}: OK: {len(train)} train eegs ({int((train['tier'] == 'hq').sum())} with >= 10 votes), "
          f"{train['patient_id'].nunique()} patients, {len(test)} test eegs")


def _plot_eeg(args: argparse.Namespace) -> None:
    from hms.plots.eeg import plot_eeg

    out = plot_eeg(Path(args.data_dir), args.split, args.eeg_id, Path(args.out), offset_s=args.offset)
    print(out)


def _predict(args: argparse.Namespace) -> None:
    from hms.predict import predict_dir

    out = predict_dir(Path(args.data_dir), Path(args.models), Path(args.out), workers=args.workers)
    print(out)


def _merge_params(args: argparse.Namespace) -> None:
    import yaml

    from hms.io import write_text
    from hms.params import merge_params_file

    merged = merge_params_file(args.params, args.config)
    write_text(yaml.safe_dump(merged, sort_keys=False), args.out or args.params)
    print(f"{args.config} merged into {args.out or args.params}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hms",
        description="HMS harmful brain activity classification: synthetic data, validation, views and offline prediction. "
                    "Training runs through DVC: `dvc repro` (see README).")
    parser.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("synth", help="write a synthetic dataset in the exact Kaggle layout",
                       description="Generate a synthetic HMS dataset (train/test CSVs, EEG and spectrogram parquet files, "
                                   "synth_latent.csv) with the real label structure; prints its Bayes floor and prior KL.")
    p.add_argument("out", help="output data directory")
    p.add_argument("--size", default="default", help="preset: tiny, small or default (default: default)")
    p.add_argument("--n-train", type=int, default=None, help="number of train eegs (overrides the preset)")
    p.add_argument("--n-test", type=int, default=None, help="number of test eegs (overrides the preset)")
    p.add_argument("--seed", type=int, default=42, help="seed (default 42)")
    p.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    p.set_defaults(func=_synth)

    p = sub.add_parser("validate", help="check a data directory against the Kaggle data contract",
                       description="Check CSV schemas, votes, every parquet file and every window; errors name file, row and column.")
    p.add_argument("data_dir", help="directory in the Kaggle layout")
    p.add_argument("--folds", type=int, default=5, help="fold count to check patient numbers against (default 5)")
    p.add_argument("--workers", type=int, default=8, help="I/O threads (default 8)")
    p.set_defaults(func=_validate)

    p = sub.add_parser("plot-eeg", help="render one eeg's window (bipolar traces, mosaic, spectrogram, votes) to PNG")
    p.add_argument("--data-dir", required=True, help="directory in the Kaggle layout")
    p.add_argument("--eeg-id", type=int, required=True, help="eeg_id to draw")
    p.add_argument("--split", default="train", choices=["train", "test"], help="train or test (default train)")
    p.add_argument("--offset", type=float, default=None,
                   help="EEG label offset in seconds (train; default: the eeg's first labelled row)")
    p.add_argument("--out", required=True, help="PNG path to write")
    p.set_defaults(func=_plot_eeg)

    p = sub.add_parser("predict", help="offline prediction on a directory in the Kaggle test layout",
                       description="Compute features, run every saved fold model and the saved blender; no training, no network.")
    p.add_argument("--data-dir", required=True, help="directory with test.csv, sample_submission.csv, test_eegs/, test_spectrograms/")
    p.add_argument("--models", default="models", help="trained models directory (default models/)")
    p.add_argument("--out", default="submission.csv", help="submission CSV to write (default submission.csv)")
    p.add_argument("--workers", type=int, default=2, help="worker processes for features (default 2)")
    p.set_defaults(func=_predict)

    p = sub.add_parser("merge-params", help="deep-merge a config file (e.g. configs/full.yaml) into params.yaml",
                       description="Write params.yaml with the blocks of CONFIG merged in key by key (comments are not kept; "
                                   "git shows the change). Use --out to write elsewhere.")
    p.add_argument("config", help="YAML file whose blocks override params.yaml")
    p.add_argument("--params", default="params.yaml", help="params file to read (default params.yaml)")
    p.add_argument("--out", default=None, help="file to write (default: overwrite --params)")
    p.set_defaults(func=_merge_params)
    kaggle_commands.add_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from hms.logs import setup_logging
    from hms.data.errors import DataError

    setup_logging(args.log_level)
    try:
        args.func(args)
    except DataError as exc:
        print(f"hms {args.command}: data error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

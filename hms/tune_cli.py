"""`hms tune`: Optuna over a model's declared search space (hms/tune.py, docs/tuning.md). Registered on
the `hms` parser by add_commands; hms.tune (pandas, optuna) is imported only when the command runs."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def _tune(args: argparse.Namespace) -> None:
    from hms.tune import apply_params_file, tune

    if args.apply:
        changed = apply_params_file(Path(args.apply), Path(args.params))
        print(f"{args.params}: {len(changed)} value(s) from {args.apply}{': ' + ', '.join(changed) if changed else ''}")
        return
    if args.trials is None:
        raise SystemExit("hms tune: give --trials N (or --apply FILE)")
    result = tune(args.model, args.trials, timeout=args.timeout, params_path=Path(args.params),
                  prepared=Path(args.prepared), features_root=Path(args.features), out_dir=Path(args.out),
                  metric=args.metric, prune=not args.no_prune, prune_startup=args.prune_startup,
                  baseline=not args.no_baseline)
    import pandas as pd

    shown = result.trials.drop(columns=[c for c in result.trials.columns if c.startswith("fold")] + ["error"],
                               errors="ignore")
    shown.columns = [c.removeprefix("param ").removeprefix(f"{args.model}.") for c in shown.columns]
    with pd.option_context("display.width", 200, "display.max_columns", 30, "display.float_format", "{:.4g}".format):
        print(shown.to_string(index=False))
    base = f" (current params: {result.baseline_value:.6f})" if result.baseline_value is not None else ""
    print(f"\nbest {args.metric}: {result.best_value:.6f}{base}; changes: {result.params_file}")
    print(result.command)


def add_commands(sub: Any) -> None:
    """Register `tune` on the `hms` subparsers."""
    p = sub.add_parser(
        "tune", help="Bayesian search (Optuna TPE) of a model's params on the pipeline's folds",
        description="Optuna over the search space hms/models/MODEL.py declares: every trial is the model's "
                    "cross-validation on data/prepared and features/<kind> (the pipeline's outputs; folds cached), "
                    "scored by OOF kl_hq, pruned after a fold that is worse than the median. Writes "
                    "reports/tune/MODEL/trials.csv and history.png, and reports/tune/MODEL.yaml with only the keys "
                    "the best trial changes; prints the `dvc exp run -S ...` line that runs them. docs/tuning.md")
    p.add_argument("model", help="a registered base model, e.g. lgbm")
    p.add_argument("--trials", type=_positive, default=None, help="number of trials (trial 0 = the current params)")
    p.add_argument("--timeout", type=float, default=None, metavar="S",
                   help="start no trial after S seconds (the running one finishes)")
    p.add_argument("--metric", default="kl_hq", choices=["kl_hq", "kl_all"], help="OOF metric to minimise (kl_hq)")
    p.add_argument("--no-prune", action="store_true", help="run every trial's every fold")
    p.add_argument("--prune-startup", type=int, default=5, metavar="N",
                   help="trials that run all folds before pruning starts (default 5)")
    p.add_argument("--no-baseline", action="store_true", help="do not start with the current params as trial 0")
    p.add_argument("--params", default="params.yaml", help="params file (default params.yaml)")
    p.add_argument("--prepared", default="data/prepared", help="prepared tables (default data/prepared)")
    p.add_argument("--features", default="features", help="features root (default features)")
    p.add_argument("--out", default="reports/tune", help="output folder (default reports/tune)")
    p.add_argument("--apply", metavar="FILE", default=None,
                   help="instead of tuning: write a result file (reports/tune/MODEL.yaml) into --params, comments kept")
    p.set_defaults(func=_tune)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, not {value}")
    return value

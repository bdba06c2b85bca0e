"""Learning curves: kl_hq of every base model when each fold trains on fewer eegs, to show which models
are data-limited. Each fold's training rows are subsampled (the same eegs for every model: a seeded
draw per fold and size); the validation folds stay whole, so every point is scored on the same OOF
eegs and the points are comparable. The largest point is the full training folds (4/5 of the
eegs with 5 folds), the committed run's setting. Runs through the real driver, in a temporary
directory with a fresh fold cache (nothing in the repo is touched).

After `dvc repro` (data/prepared and features/ exist):
    .venv/bin/python benchmarks/learning_curve.py --sizes 250 500 --full-from-metrics --out reports/learning_curve
    .venv/bin/python benchmarks/learning_curve.py --models lgbm wave --sizes 250 500 800
--full-from-metrics takes the full-size point from metrics/<model>.json (the committed run) instead of
training it again.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.committed_run import add_run_arguments, read_metrics, read_run  # noqa: E402
from hms.data.targets import TARGET_COLS  # noqa: E402
from hms.logs import setup_logging  # noqa: E402
from hms.metrics import cv_scores  # noqa: E402
from hms.models.registry import get_spec  # noqa: E402
from hms.models.spec import ModelSpec  # noqa: E402
from hms.seed import derive_seed  # noqa: E402
from hms.train.cache import FoldCache  # noqa: E402
from hms.train.crossval import cross_validate  # noqa: E402


def subsampled(spec: ModelSpec, n_train: int, seed: int) -> ModelSpec:
    """`spec` whose fit_fold trains on `n_train` of the fold's training rows (a seeded draw per fold,
    independent of the model, so every model sees the same eegs)."""
    def fit_fold(cfg: Any, inputs: Any, log: Any) -> Any:
        rows = np.asarray(inputs.train_rows)
        if n_train < len(rows):
            rng = np.random.default_rng(derive_seed(seed, "learning_curve", inputs.fold, n_train))
            rows = np.sort(rng.choice(rows, size=n_train, replace=False))
        return spec.fit_fold(cfg, dataclasses.replace(inputs, train_rows=rows), log)

    return dataclasses.replace(spec, fit_fold=fit_fold)


def point(name: str, params: dict[str, Any], train: pd.DataFrame, test: pd.DataFrame, features_root: Path,
          n_train: int) -> dict[str, Any]:
    spec = get_spec(name)
    family = params[spec.family]
    if spec.family == "nn":  # the subsampling wraps the spec, which worker processes cannot rebuild: one fold at a
        family = {**family, "fold_processes": 1}  # time, on every core (hms.train.processes.can_run)
    cfg = spec.config(family, params[name])
    y, votes = train[list(TARGET_COLS)].to_numpy(), train["n_votes"].to_numpy()
    with tempfile.TemporaryDirectory(prefix=f"learning_curve_{name}_") as tmp:
        start = time.perf_counter()
        result = cross_validate(subsampled(spec, n_train, params["seed"]), cfg, params["seed"], train, test,
                                features_root / spec.features, Path(tmp) / "models" / name,
                                cache=FoldCache(name, Path(tmp) / "cache"))
        seconds = time.perf_counter() - start
    s = cv_scores(y, result.oof, votes)
    return {"model": name, "train_eegs": n_train, "kl_all": round(s["kl_all"], 4), "kl_hq": round(s["kl_hq"], 4),
            "seconds": round(seconds, 1)}


def plot(table: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.ticker
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for name, g in table.groupby("model", sort=False):
        g = g.sort_values("train_eegs")
        ax.plot(g["train_eegs"], g["kl_hq"], marker="o", label=name)
    ax.set_xscale("log")
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ticks = sorted(table["train_eegs"].unique())
    ax.set_xticks(ticks, [str(t) for t in ticks])
    ax.set_xlabel("training eegs per fold")
    ax.set_ylabel("OOF kl_hq (eegs with >= 10 votes)")
    ax.set_title("Learning curves (same validation folds at every size)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> pd.DataFrame:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", nargs="+", type=int, default=[250, 500], help="training eegs per fold")
    ap.add_argument("--full-from-metrics", action="store_true",
                    help="add the full training folds' point from metrics/<model>.json instead of training it")
    add_run_arguments(ap)
    ap.add_argument("--out", type=Path, default=None, help="write OUT.csv and OUT.png")
    args = ap.parse_args(argv)
    setup_logging("WARNING")
    params, models, train, test = read_run(args)
    full = int(min((train["fold"] != k).sum() for k in train["fold"].unique()))
    rows = []
    for name in models:
        for n in sorted(args.sizes):
            rows.append(point(name, params, train, test, args.features_root, min(n, full)))
            print(json.dumps(rows[-1]), flush=True)
        if args.full_from_metrics:
            m = read_metrics(name)
            rows.append({"model": name, "train_eegs": full, "kl_all": round(m["kl_all"], 4),
                         "kl_hq": round(m["kl_hq"], 4), "seconds": None})
    table = pd.DataFrame(rows)
    wide = table.pivot(index="model", columns="train_eegs", values="kl_hq").reindex(models)
    print(f"{len(train)} eegs, {train['fold'].nunique()} folds (full training folds: {full}+ eegs); OOF kl_hq:")
    print(wide.to_string())
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(args.out.with_suffix(".csv"), index=False)
        plot(table, args.out.with_suffix(".png"))
        print(f"wrote {args.out.with_suffix('.csv')} and {args.out.with_suffix('.png')}")
    return table


if __name__ == "__main__":
    main()

"""Training time and OOF KL of the GBDT models (lgbm, catboost) against the class prior.

On the pipeline's own data (after `dvc repro prepare features@tabular`):
    .venv/bin/python benchmarks/bench_gbdt.py --features-dir features/tabular --prepared data/prepared
On a synthetic feature table with signal (no feature stage needed):
    .venv/bin/python benchmarks/bench_gbdt.py --toy 1000 300
Override params like `dvc exp run -S`:  --set lgbm.threads=1 --set gbdt.hq_stage=false
Models are trained from scratch in a temporary directory (nothing in the repo is touched).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from hms.data.targets import TARGET_COLS  # noqa: E402
from hms.logs import setup_logging  # noqa: E402
from hms.metrics import cv_scores  # noqa: E402
from hms.params import apply_overrides, load_params  # noqa: E402
from hms.prior import prior_oof  # noqa: E402
from hms.train.gbdt import fit  # noqa: E402
from hms.train.gbdt.toydata import toy_tables, write_toy_features  # noqa: E402


def scores(train: pd.DataFrame, probs) -> dict[str, float]:
    s = cv_scores(train[list(TARGET_COLS)].to_numpy(), probs, train["n_votes"].to_numpy())
    return {"kl_all": s["kl_all"], "kl_hq": s["kl_hq"]}


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--features-dir", type=Path, help="features/tabular (train.parquet, test.parquet, config.json)")
    ap.add_argument("--prepared", type=Path, default=Path("data/prepared"), help="dir with train.parquet, test.parquet")
    ap.add_argument("--toy", nargs=2, type=int, metavar=("N_TRAIN", "N_FEATURES"),
                    help="use a synthetic feature table instead of --features-dir")
    ap.add_argument("--models", nargs="+", default=["lgbm", "catboost"])
    ap.add_argument("--params", type=Path, default=REPO / "params.yaml")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="params override, e.g. lgbm.threads=1")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args(argv)
    setup_logging("WARNING")
    params = apply_overrides(load_params(args.params), args.set)

    with tempfile.TemporaryDirectory(prefix="bench_gbdt_") as tmp:
        tmp = Path(tmp)
        if args.toy:
            train, test, ftr, fte = toy_tables(args.toy[0], 20, args.toy[1], int(params["folds"]), int(params["seed"]))
            features_dir = write_toy_features(tmp / "features", ftr, fte)
            source = f"toy {args.toy[0]} eegs x {args.toy[1]} features"
        else:
            if args.features_dir is None:
                ap.error("give --features-dir or --toy")
            train = pd.read_parquet(args.prepared / "train.parquet")
            test = pd.read_parquet(args.prepared / "test.parquet")
            features_dir = args.features_dir
            source = str(features_dir)
        rows = [{"model": "prior", "seconds": 0.0, **scores(train, prior_oof(train))}]
        for name in args.models:
            start = time.perf_counter()
            result = fit(name, params, train, test, features_dir, tmp / "models" / name, live_dir=tmp / "dvclive" / name)
            seconds = time.perf_counter() - start
            fits = result.extra["fold_fits"].values()
            rows.append({"model": name, "seconds": round(seconds, 1), **scores(train, result.oof),
                         "rounds": [f["best_iteration"] for f in fits], "hq_rounds": [f["hq_rounds"] for f in fits]})
    print(f"data: {source}; {len(train)} train eegs, {params['folds']} folds, threads "
          f"lgbm={params['lgbm']['threads']} catboost={params['catboost']['threads']}")
    print(pd.DataFrame(rows).to_string(index=False))
    if args.json:
        args.json.write_text(json.dumps({"data": source, "results": rows}, indent=2) + "\n")
    return rows


if __name__ == "__main__":
    main()

"""Seed spread: how far kl_hq moves when only the training seed changes. Every base model is
cross-validated again with each seed of --seeds on the run's data, features and folds (the prepared
table keeps its folds: `seed` also draws them and the synthetic data, which stay fixed here), then
the stack stage's blender scores their blend by its nested CV. Two single runs that differ by less
than this spread do not show that one setting is better. Runs through the real driver, in a
temporary directory with a fresh fold cache (nothing in the repo is touched).

After `dvc repro` (data/prepared and features/ exist):
    .venv/bin/python benchmarks/seed_spread.py --seeds 43 44 --committed --out reports/seed_spread.csv
    .venv/bin/python benchmarks/seed_spread.py --seeds 43 --models lgbm catboost
--committed adds the run's own seed as a column, read from metrics/ and models/ensemble/ instead of
training it again (every model only). With --models, the ensemble row blends only those models.
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

from benchmarks.committed_run import add_run_arguments, read_metrics, read_run  # noqa: E402
from hms.ensemble import blended_models, run_stack, stack_config  # noqa: E402
from hms.ensemble.apply import BLENDER_FILE  # noqa: E402
from hms.logs import setup_logging  # noqa: E402
from hms.metrics import score_predictions, warn_outlier_folds  # noqa: E402
from hms.models.registry import get_spec  # noqa: E402
from hms.predictions import write_model_predictions  # noqa: E402
from hms.train.cache import FoldCache  # noqa: E402
from hms.train.crossval import cross_validate  # noqa: E402

ENSEMBLE = "ensemble"


def one_seed(seed: int, models: list[str], params: dict[str, Any], train: pd.DataFrame, test: pd.DataFrame,
             features_root: Path) -> list[dict[str, Any]]:
    """Rows (seed, model, kl_all, kl_hq, weight, seconds) of every model and of their blend."""
    rows = []
    with tempfile.TemporaryDirectory(prefix=f"seed_spread_{seed}_") as tmp:
        pred_dir = Path(tmp) / "predictions"
        for name in models:
            spec = get_spec(name)
            cfg = spec.config(params[spec.family], params[name])
            start = time.perf_counter()
            result = cross_validate(spec, cfg, seed, train, test, features_root / spec.features,
                                    Path(tmp) / "models" / name, cache=FoldCache(name, Path(tmp) / "cache"))
            oof = write_model_predictions(train, test, result.oof, result.test, pred_dir / name)
            s = score_predictions(train, oof)
            warn_outlier_folds(f"{name} (seed {seed})", s)
            rows.append({"seed": seed, "model": name, "kl_all": s["kl_all"], "kl_hq": s["kl_hq"],
                         "seconds": round(time.perf_counter() - start, 1)})
            print(json.dumps(rows[-1]), flush=True)
        stack = stack_config(params["stack"])
        blended = blended_models(stack, models)
        res = run_stack(stack, blended, train, test, pred_dir)
    weights = res.blender.get("weights", {})
    for row in rows:
        row["weight"] = weights.get(row["model"])
    rows.append({"seed": seed, "model": ENSEMBLE, "kl_all": res.metrics["kl_all"], "kl_hq": res.metrics["kl_hq"],
                 "weight": None, "seconds": None})
    return rows


def committed(seed: int, models: list[str]) -> list[dict[str, Any]]:
    """The run's own rows, from metrics/<model>.json, metrics/ensemble.json and the saved blender."""
    weights = json.loads((Path("models/ensemble") / BLENDER_FILE).read_text()).get("weights", {})
    rows = []
    for name in [*models, ENSEMBLE]:
        m = read_metrics(name)
        rows.append({"seed": seed, "model": name, "kl_all": m["kl_all"], "kl_hq": m["kl_hq"],
                     "weight": weights.get(name), "seconds": None})
    return rows


def summary(table: pd.DataFrame, models: list[str], value: str) -> pd.DataFrame:
    wide = table.pivot(index="model", columns="seed", values=value).reindex([m for m in [*models, ENSEMBLE]
                                                                             if m in set(table["model"])])
    seeds = list(wide.columns)
    wide["mean"], wide["range"] = wide[seeds].mean(axis=1), wide[seeds].max(axis=1) - wide[seeds].min(axis=1)
    return wide.round(4)


def main(argv: list[str] | None = None) -> pd.DataFrame:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", nargs="+", type=int, required=True, help="training seeds to run")
    ap.add_argument("--committed", action="store_true",
                    help="add the run's own seed (params.yaml `seed`) from metrics/ and models/ensemble/")
    add_run_arguments(ap)
    ap.add_argument("--out", type=Path, default=None, help="write the long table to this CSV")
    args = ap.parse_args(argv)
    setup_logging("WARNING")
    params, models, train, test = read_run(args)
    if args.committed and models != list(params["models"]):
        ap.error("--committed reads the run's blend of every model: leave out --models")
    rows = committed(params["seed"], models) if args.committed else []
    for seed in args.seeds:
        rows += one_seed(seed, models, params, train, test, args.features_root)
    table = pd.DataFrame(rows)
    print(f"{len(train)} eegs, {train['fold'].nunique()} folds, the same folds for every seed")
    print("OOF kl_hq (ensemble: the stack's nested CV)")
    print(summary(table, models, "kl_hq").to_string())
    print("blend weights")
    print(summary(table[table["model"] != ENSEMBLE], models, "weight").to_string())
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(args.out, index=False)
        print(f"wrote {args.out}")
    return table


if __name__ == "__main__":
    main()

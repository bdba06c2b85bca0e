"""Cross-validated accuracy and wall time of any base model through the real driver, on the
pipeline's data, against the class prior, in a temporary directory (nothing in the repo is touched;
a fresh fold cache, so every fold is really trained).

After `dvc repro prepare features@tabular features@mosaic features@waves`:
    .venv/bin/python benchmarks/bench_cv.py --models lgbm catboost wave
    .venv/bin/python benchmarks/bench_cv.py --models resnet --set nn.epochs=2 --set resnet.image_size=[96,96]
    .venv/bin/python benchmarks/bench_cv.py --models lgbm --preset full     # another preset's blocks
Overrides are `dvc exp run -S` style (--set KEY=VALUE).
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
from hms.metrics import cv_scores, warn_outlier_folds  # noqa: E402
from hms.models.registry import get_spec  # noqa: E402
from hms.params import apply_overrides, load_params  # noqa: E402
from hms.presets import preset  # noqa: E402
from hms.prior import prior_oof  # noqa: E402
from hms.train.cache import FoldCache  # noqa: E402
from hms.train.crossval import cross_validate  # noqa: E402


def run(name: str, params: dict[str, Any], train: pd.DataFrame, test: pd.DataFrame, features_root: Path) -> dict[str, Any]:
    spec = get_spec(name)
    cfg = spec.config(params[spec.family], params[name])
    y, votes = train[list(TARGET_COLS)].to_numpy(), train["n_votes"].to_numpy()
    with tempfile.TemporaryDirectory(prefix=f"bench_cv_{name}_") as tmp:
        start = time.perf_counter()
        result = cross_validate(spec, cfg, params["seed"], train, test, features_root / spec.features,
                                Path(tmp) / "models" / name, cache=FoldCache(name, Path(tmp) / "cache"))
        seconds = time.perf_counter() - start
    s = cv_scores(y, result.oof, votes, train["fold"].to_numpy())
    warn_outlier_folds(name, s)
    return {"model": name, "kl_all": s["kl_all"], "kl_hq": s["kl_hq"], "seconds": round(seconds, 1),
            "fold_seconds": [f["seconds"] for f in result.folds.values()]}


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", required=True)
    ap.add_argument("--params", type=Path, default=REPO / "params.yaml", help="params file (default params.yaml)")
    ap.add_argument("--preset", choices=["tiny", "default", "full"], help="use this preset instead of --params")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override, e.g. nn.epochs=2")
    ap.add_argument("--features-root", type=Path, default=Path("features"), help="dir holding tabular/ mosaic/ waves/")
    ap.add_argument("--prepared", type=Path, default=Path("data/prepared"), help="dir with train/test.parquet")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args(argv)
    setup_logging("WARNING")
    params = apply_overrides(preset(args.preset) if args.preset else load_params(args.params), args.set)
    train = pd.read_parquet(args.prepared / "train.parquet")
    test = pd.read_parquet(args.prepared / "test.parquet")
    prior = cv_scores(train[list(TARGET_COLS)].to_numpy(), prior_oof(train), train["n_votes"].to_numpy())
    rows = [{"model": "prior", "kl_all": prior["kl_all"], "kl_hq": prior["kl_hq"], "seconds": 0.0}]
    for name in args.models:
        rows.append(run(name, params, train, test, args.features_root))
        print(json.dumps(rows[-1]), flush=True)
    print(f"{len(train)} train eegs, {train['fold'].nunique()} folds; overrides {args.set}")
    print(pd.DataFrame(rows).drop(columns=["fold_seconds"], errors="ignore").to_string(index=False))
    if args.json:
        args.json.write_text(json.dumps({"overrides": args.set, "results": rows}, indent=2) + "\n")
    return rows


if __name__ == "__main__":
    main()

"""Scan benchmark (prints a table; not a timed test): `hms scan` speed in x real time and peak
memory on long synthetic EDF recordings, with the seconds of each step.

For each length in --hours: a recording of that length is written once with `hms synth-recording`
(the default script scaled to it, 200 Hz EDF; cached in --keep), then each configuration in
--configs is scanned in a fresh process, which reports its wall time, its CPU time (all threads),
its peak RSS and the per-step wall and CPU seconds (read, filter, spectrogram, spectrogram frames,
features per kind, each base model, blend, outputs). The load average before and after each run is
printed next to it: on a shared machine the wall figures depend on it, the CPU figures much less.

Configurations: `default` (2 batches scored at once, one torch thread each, the features in a
third thread; flip TTA as saved), `no-tta`, `1-thread`, `3-threads`, `4-threads`, `exact` (each
window filtered on its own, as `hms predict`), `step4` (a window every 4 s), `skip-weak` (base
models with a blend weight below 1e-3 not run), `skip-weak-no-tta`, `fast` (`hms scan --fast`: below 0.05
not run, no flip TTA); e.g.
    python benchmarks/bench_scan.py --models models --hours 1,4
    python benchmarks/bench_scan.py --models models --hours 1 --configs default,no-tta,step4
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

CONFIGS: dict[str, dict] = {
    "default": {},
    "no-tta": {"tta": False},
    "1-thread": {"threads": 1},
    "3-threads": {"threads": 3},
    "4-threads": {"threads": 4},
    "exact": {"exact": True},
    "step4": {"step_s": 4.0},
    "skip-weak": {"min_weight": 1e-3},
    "skip-weak-no-tta": {"min_weight": 1e-3, "tta": False},
    "fast": {"min_weight": 0.05, "tta": False},  # `hms scan --fast`
}

CHILD = r"""
import json, os, resource, sys, time
sys.path.insert(0, {repo!r})
from hms.recording.scan import ScanOptions, scan_recording
opts = ScanOptions(progress=False, **{opts!r})
t0, c0 = time.perf_counter(), time.process_time()
res = scan_recording({rec!r}, {models!r}, {out!r}, opts)
wall, cpu = time.perf_counter() - t0, time.process_time() - c0
print("RESULT " + json.dumps({{"wall": wall, "cpu": cpu, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
      "windows": res.summary["windows"], "events": res.summary["events"], "duration_s": res.summary["recording"]["duration_s"],
      "steps": res.summary["seconds"]["steps"]}}))
"""


def load() -> str:
    return " ".join(f"{v:.1f}" for v in os.getloadavg())


def make_recording(keep: Path, hours: float, seed: int) -> Path:
    path = keep / f"scripted_{hours:g}h.edf"
    if not path.is_file():
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "hms.cli", "--log-level", "WARNING", "synth-recording", str(path),
                        "--minutes", str(hours * 60), "--seed", str(seed)], check=True, cwd=REPO,
                       env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.DEVNULL)
        print(f"wrote {path} ({path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t0:.0f} s", flush=True)
    return path


def run(rec: Path, models: Path, out: Path, opts: dict) -> dict:
    code = CHILD.format(repo=str(REPO), opts=opts, rec=str(rec), models=str(models), out=str(out))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO), "HMS_LOG_LEVEL": "WARNING"})
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"scan of {rec} failed:\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def compare(keep: Path, hours: float, configs: list[str], truth: Path) -> None:
    """Each configuration's probabilities against `default` (at the windows both scored) and its
    event recovery against the script: the accuracy cost of the speed options."""
    import numpy as np
    import pandas as pd

    from hms.constants import CLASSES
    from hms.metrics import kl_per_row

    segs = pd.read_csv(truth)
    ref = pd.read_parquet(keep / f"out_{hours:g}h_default" / "windows.parquet") if "default" in configs else None
    print(f"\naccuracy cost, {hours:g} h ({len(segs)} scripted segments)")
    print(f"   {'config':<12}{'mean|dp|':>10}{'max|dp|':>10}{'KL(def||cfg)':>14}{'found':>7}{'coverage':>10}{'bg events':>11}")
    for name in configs:
        t = pd.read_parquet(keep / f"out_{hours:g}h_{name}" / "windows.parquet")
        ev = pd.read_csv(keep / f"out_{hours:g}h_{name}" / "events.csv")
        dp = mx = kl = float("nan")
        if ref is not None:
            m = ref.merge(t, on="start_s", suffixes=("", "_c"))
            a, b = m[list(CLASSES)].to_numpy(), m[[f"{c}_c" for c in CLASSES]].to_numpy()
            dp, mx, kl = float(np.abs(a - b).mean()), float(np.abs(a - b).max()), float(kl_per_row(a, b).mean())
        found, cover, bg = 0, [], 0
        for s in segs.itertuples():
            ov = (np.minimum(ev["end_s"], s.end_s) - np.maximum(ev["start_s"], s.start_s)).clip(0)
            if s.kind == "background":
                inner = (np.minimum(ev["end_s"], s.end_s - 30) - np.maximum(ev["start_s"], s.start_s + 30)).clip(0)
                bg += int((inner > 0).sum())
            else:
                c = ov[ev["pattern"] == s.pattern].sum() / (s.end_s - s.start_s)
                found += int(c > 0)
                cover.append(c)
        print(f"   {name:<12}{dp:>10.4f}{mx:>10.4f}{kl:>14.5f}{found:>4}/{len(cover):<2}{np.mean(cover):>10.0%}{bg:>11}")


def oof_cost(workdir: Path, models: Path) -> None:
    """Out-of-fold KL of each neural model with and without the flip TTA: each fold model (loaded by
    hms.models.trained, the prediction path) scores its own validation eegs of the run in `workdir`."""
    import dataclasses

    import numpy as np
    import pandas as pd
    import torch

    from hms.data.targets import TARGET_COLS
    from hms.ensemble.apply import load_ensemble
    from hms.features.store import open_array
    from hms.metrics import cv_scores
    from hms.models.trained import fits

    train = pd.read_parquet(workdir / "data" / "prepared" / "train.parquet")
    y = train[list(TARGET_COLS)].to_numpy()
    torch.set_num_threads(2)
    print(f"\nOOF KL of the neural models on {workdir} ({len(train)} eegs): flip TTA as saved / off")
    for name, tm in load_ensemble(models).models.items():
        if tm.spec.family != "nn":
            continue
        array, _ = open_array(workdir / "features" / tm.kind, "train", expected_ids=train["sample_id"].to_numpy())
        res, n_seeds = {}, tm.spec.n_seeds(tm.cfg)
        plan = fits(tm.config["folds"], n_seeds)
        for label, tta in (("tta", True), ("no-tta", False)):
            cfg = dataclasses.replace(tm.cfg, own=dataclasses.replace(tm.cfg.own, tta_flip=tta))
            oof = np.zeros((len(train), 6))
            t0 = time.process_time()
            for (k, _), model in zip(plan, tm.models):  # a fold's seeds: the mean, as the driver's OOF
                rows = np.flatnonzero(train["fold"].to_numpy() == k)
                oof[rows] += tm.spec.predict(cfg, model, array, rows) / n_seeds
            sc = cv_scores(y, oof, train["n_votes"].to_numpy())
            res[label] = (sc["kl_all"], sc["kl_hq"], time.process_time() - t0)
        print("   " + name + ": " + "; ".join(f"{k} kl_all {a:.4f} kl_hq {b:.4f} ({t:.0f} cpu s)" for k, (a, b, t) in res.items()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="models", help="trained models directory (default models/)")
    ap.add_argument("--hours", default="1,4", help="recording lengths in hours, comma-separated (default 1,4)")
    ap.add_argument("--configs", default="default", help=f"comma-separated, from {list(CONFIGS)} (default: default)")
    ap.add_argument("--keep", default=str(Path(os.environ.get("TMPDIR", "/tmp")) / "hms_bench_scan"),
                    help="directory for the recordings and scan outputs (reused between runs)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--oof", default=None, help="a trained pipeline directory (data/prepared, features/): also print the "
                                              "OOF KL of the neural models with and without flip TTA")
    args = ap.parse_args()
    keep = Path(args.keep)
    keep.mkdir(parents=True, exist_ok=True)
    configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    unknown = [c for c in configs if c not in CONFIGS]
    if unknown:
        ap.error(f"unknown config(s) {unknown}; known: {list(CONFIGS)}")
    print(f"cores: {len(os.sched_getaffinity(0))}, models: {args.models}, load average (1/5/15 min): {load()}")
    rows = []
    for hours in [float(h) for h in args.hours.split(",")]:
        rec = make_recording(keep, hours, args.seed)
        for name in configs:
            before = load()
            r = run(rec, Path(args.models), keep / f"out_{hours:g}h_{name}", CONFIGS[name])
            r.update(config=name, hours=hours, load_before=before, load_after=load())
            rows.append(r)
            print(f"\n== {hours:g} h, {name}: {r['windows']} windows, {r['events']} events; wall {r['wall']:.1f} s = "
                  f"{r['duration_s'] / r['wall']:.0f}x real time; CPU {r['cpu']:.1f} s (all threads) = "
                  f"{r['duration_s'] / r['cpu']:.0f}x real time per core-second; peak RSS {r['rss_mb']:.0f} MB; "
                  f"load {before} -> {r['load_after']}", flush=True)
            print(f"   {'step':<24}{'wall s':>9}{'cpu s':>9}{'cpu ms/window':>15}")
            for step, v in r["steps"].items():
                print(f"   {step:<24}{v['wall']:>9.2f}{v['cpu']:>9.2f}{1000 * v['cpu'] / max(r['windows'], 1):>15.2f}")
        compare(keep, hours, configs, rec.with_name(rec.stem + ".segments.csv"))
    if args.oof:
        oof_cost(Path(args.oof), Path(args.models))
    print("\nsummary")
    print(f"{'hours':>6} {'config':<10}{'windows':>8}{'wall s':>9}{'x real':>8}{'cpu s':>9}{'x/core':>8}{'RSS MB':>8}  load")
    for r in rows:
        print(f"{r['hours']:>6g} {r['config']:<10}{r['windows']:>8}{r['wall']:>9.1f}{r['duration_s'] / r['wall']:>8.0f}"
              f"{r['cpu']:>9.1f}{r['duration_s'] / r['cpu']:>8.0f}{r['rss_mb']:>8.0f}  {r['load_before']} -> {r['load_after']}")


if __name__ == "__main__":
    main()

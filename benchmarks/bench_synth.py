"""Benchmark of the synthetic dataset generator: EEGs generated per second and MB written.

Usage: python benchmarks/bench_synth.py [--size default] [--workers 2] [--n-train N] [--repeat 1] [--keep DIR]
The default-size figure of docs/synth.md comes from
`OMP_NUM_THREADS=1 python benchmarks/bench_synth.py --size default --workers 2` on a quiet machine.
Besides wall time it prints the CPU seconds of all processes (main + workers), which on a shared
machine is the comparable figure: the real-size figures of docs/scale.md come from
`nice -n 10 python benchmarks/bench_synth.py --size real [--n-train N] --keep DIR`."""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path

from hms.synth import run_synth


def dir_mb(root: Path) -> float:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) / 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="default", help="preset: tiny, small, default, real")
    ap.add_argument("--workers", type=int, default=2, help="worker processes")
    ap.add_argument("--n-train", type=int, default=None, help="train eegs (overrides the preset)")
    ap.add_argument("--n-test", type=int, default=None, help="test eegs (overrides the preset)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--repeat", type=int, default=1, help="runs; the fastest is reported")
    ap.add_argument("--keep", default=None, help="write here and keep it (default: a temporary directory)")
    args = ap.parse_args()

    runs = []
    for _ in range(args.repeat):
        base = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench_synth_"))
        out = base / "data" if not args.keep else base
        t0, c0 = time.perf_counter(), time.process_time()
        k0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        summary = run_synth(out, size=args.size, seed=args.seed, n_train_eegs=args.n_train,
                            n_test_eegs=args.n_test, workers=args.workers)
        wall = time.perf_counter() - t0
        k1 = resource.getrusage(resource.RUSAGE_CHILDREN)  # the worker processes, reaped by the pool
        cpu = time.process_time() - c0 + (k1.ru_utime + k1.ru_stime) - (k0.ru_utime + k0.ru_stime)
        mb = dir_mb(out)
        n = summary["n_train_eegs"] + summary["n_test_eegs"]
        runs.append({"seconds": round(wall, 2), "eegs": n, "eegs_per_second": round(n / wall, 2),
                     "mb_written": round(mb, 1), "mb_per_second": round(mb / wall, 1),
                     "main_process_cpu_s": round(time.process_time() - c0, 2), "cpu_s": round(cpu, 1),
                     # CPU time is the figure to compare on a shared machine (wall time depends on the load)
                     "eegs_per_cpu_s": round(n / cpu, 2), "mb_per_cpu_s": round(mb / cpu, 1)})
        if not args.keep:
            shutil.rmtree(base)
    best = min(runs, key=lambda r: r["seconds"])
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    print(json.dumps({"size": args.size, "workers": args.workers, "cpus": os.cpu_count(), "load_1min_after": load,
                      "best": best, "runs": runs, "floor_hq": summary["floor_hq"], "prior_kl_hq": summary["prior_kl_hq"]},
                     indent=2))


if __name__ == "__main__":
    main()

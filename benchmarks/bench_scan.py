"""Scan benchmark (prints a table; not a timed test): `hms scan` speed in x real time and peak
memory on long synthetic EDF recordings, with the seconds of each step.

For each length in --hours: a recording of that length is written once with `hms synth-recording`
(the default script scaled to it, 200 Hz EDF; cached in --keep), then each configuration in
--configs is scanned in a fresh process, which reports its wall time, its CPU time (all threads),
its peak RSS and the per-step wall and CPU seconds (read, filter, spectrogram, spectrogram frames,
features per kind, each base model, blend, outputs). The load average before and after each run is
printed next to it: on a shared machine the wall figures depend on it, the CPU figures much less.

Configurations: `default` (2 threads, flip TTA as saved), `no-tta`, `1-thread`, `exact` (each
window filtered on its own, as `hms predict`), `step4` (a window every 4 s); e.g.
    python benchmarks/bench_scan.py --models /work/baseline/models --hours 1,4
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
    "exact": {"exact": True},
    "step4": {"step_s": 4.0},
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="models", help="trained models directory (default models/)")
    ap.add_argument("--hours", default="1,4", help="recording lengths in hours, comma-separated (default 1,4)")
    ap.add_argument("--configs", default="default", help=f"comma-separated, from {list(CONFIGS)} (default: default)")
    ap.add_argument("--keep", default=str(Path(os.environ.get("TMPDIR", "/tmp")) / "hms_bench_scan"),
                    help="directory for the recordings and scan outputs (reused between runs)")
    ap.add_argument("--seed", type=int, default=0)
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
    print("\nsummary")
    print(f"{'hours':>6} {'config':<10}{'windows':>8}{'wall s':>9}{'x real':>8}{'cpu s':>9}{'x/core':>8}{'RSS MB':>8}  load")
    for r in rows:
        print(f"{r['hours']:>6g} {r['config']:<10}{r['windows']:>8}{r['wall']:>9.1f}{r['duration_s'] / r['wall']:>8.0f}"
              f"{r['cpu']:>9.1f}{r['duration_s'] / r['cpu']:>8.0f}{r['rss_mb']:>8.0f}  {r['load_before']} -> {r['load_after']}")


if __name__ == "__main__":
    main()

"""Scale benchmark: the whole pipeline (prepare, the three feature stages, both GBDTs, one epoch of
each neural model) on a data directory, in both aggregation modes; prints per stage the wall time,
CPU time, peak RSS of the stage's process tree (psutil, children included) and the disk of its outputs.

Each stage runs as its DVC stage script (`python stages/<stage>.py ...`) in a run directory of its
own (<work>/<aggregation>/) with a params.yaml = the repo's params.yaml + these overrides:
data.dir, prepare.aggregation, nn.epochs=1, nn.stage2_epochs=0 (one epoch per fold), + --set.
A stage's outputs are deleted before it runs (no resumed folds). On a machine shared with other
busy processes, pass --set nn.threads=1 --set lgbm.threads=1 --set catboost.threads=1: OpenMP
threads that wait for each other on oversubscribed cores burn CPU and stall (measured: lgbm 10x,
the CPU nets 50x slower than their quiet-machine speed).

    nice -n 10 python benchmarks/bench_scale.py --data /work/scale_data/real1k --work /work/scale_runs/1k \\
        --json /work/scale_runs/1k.json
    # a smaller data directory of whole spectrogram groups (symlinked files), e.g. 3,000 eegs:
    python benchmarks/bench_scale.py --subset /work/scale_data/real /work/scale_data/real3k 3000
    # fit time = a + b x samples per stage through two measured sizes, evaluated at the real size:
    python benchmarks/bench_scale.py --extrapolate /work/scale_runs/250.json /work/scale_runs/1k.json

On a shared machine compare CPU seconds (wall time depends on what else runs); the load average
before and after each stage is printed with it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import psutil
import yaml

from hms.errors import ConfigError
from hms.params import apply_overrides, deep_merge

REPO = Path(__file__).resolve().parents[1]

# stage name -> (command after `python`, outputs relative to the run directory)
STAGES: dict[str, tuple[list[str], list[str]]] = {
    "prepare": (["stages/prepare.py"], ["data/prepared"]),
    "tabular": (["stages/features.py", "tabular"], ["features/tabular"]),
    "mosaic": (["stages/features.py", "mosaic"], ["features/mosaic"]),
    "waves": (["stages/features.py", "waves"], ["features/waves"]),
    "lgbm": (["stages/train.py", "lgbm"], ["models/lgbm", "predictions/base/lgbm"]),
    "catboost": (["stages/train.py", "catboost"], ["models/catboost", "predictions/base/catboost"]),
    "efficientnet": (["stages/train.py", "efficientnet"], ["models/efficientnet", "predictions/base/efficientnet"]),
    "resnet": (["stages/train.py", "resnet"], ["models/resnet", "predictions/base/resnet"]),
    "wave": (["stages/train.py", "wave"], ["models/wave", "predictions/base/wave"]),
}
BENCH_OVERRIDES = {"nn": {"epochs": 1, "stage2_epochs": 0}}
CACHE_DIR = ".hms_cache"


def disk_bytes(path: Path) -> int:
    """Bytes allocated on disk under path (files once each; symlinks not followed)."""
    if not path.exists():
        return 0
    if path.is_file():
        return path.lstat().st_blocks * 512
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            total += os.lstat(os.path.join(root, f)).st_blocks * 512
    return total


def run_monitored(cmd: list[str], cwd: Path, env: dict[str, str], log_path: Path, poll_s: float = 0.2) -> dict[str, Any]:
    """Run cmd; return wall and CPU seconds (all descendants) and peak RSS of its process tree."""
    k0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
        root = psutil.Process(proc.pid)
        peak_tree = peak_one = 0
        n_procs = 1
        while proc.poll() is None:
            try:
                tree = [root, *root.children(recursive=True)]
            except psutil.Error:
                tree = []
            rss = []
            for p in tree:
                try:
                    rss.append(p.memory_info().rss)
                except psutil.Error:
                    pass
            if rss:
                peak_tree, peak_one, n_procs = max(peak_tree, sum(rss)), max(peak_one, max(rss)), max(n_procs, len(rss))
            time.sleep(poll_s)
    wall = time.perf_counter() - t0
    k1 = resource.getrusage(resource.RUSAGE_CHILDREN)  # the stage and every process it reaped
    cpu = (k1.ru_utime + k1.ru_stime) - (k0.ru_utime + k0.ru_stime)
    return {"rc": proc.returncode, "wall_s": round(wall, 1), "cpu_s": round(cpu, 1),
            "peak_rss_tree_mb": round(peak_tree / 2**20), "peak_rss_one_mb": round(peak_one / 2**20),
            "max_procs": n_procs, "load_before": round(load0, 1), "load_after": round(os.getloadavg()[0], 1)}


def data_summary(data: Path) -> dict[str, Any]:
    train = pd.read_csv(data / "train.csv", usecols=["eeg_id", "spectrogram_id"])
    return {"data": str(data), "n_eegs": int(train["eeg_id"].nunique()), "n_rows": len(train),
            "n_spectrograms": int(train["spectrogram_id"].nunique()),
            "data_gb": round(sum(f.stat().st_blocks * 512 for d in ("train_eegs", "train_spectrograms")
                                 for f in (data / d).iterdir()) / 1e9, 2)}  # stat follows subset symlinks


def bench(data: Path, work: Path, aggregations: list[str], stages: list[str], sets: list[str]) -> list[dict[str, Any]]:
    base = yaml.safe_load((REPO / "params.yaml").read_text())
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    summary = data_summary(data)
    print(f"# data {data}: {summary['n_eegs']} eegs, {summary['n_rows']} rows, {summary['n_spectrograms']} spectrograms, "
          f"{summary['data_gb']} GB; cpus {os.cpu_count()}", flush=True)
    results = []
    for agg in aggregations:
        run_dir = work / agg
        run_dir.mkdir(parents=True, exist_ok=True)
        params = deep_merge(base, {"data": {"dir": str(data.resolve())}, "prepare": {"aggregation": agg}, **BENCH_OVERRIDES})
        try:
            apply_overrides(params, sets)
        except ConfigError as exc:
            raise SystemExit(f"--set: {exc}") from None
        (run_dir / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        env["HMS_CACHE_DIR"] = str(run_dir / CACHE_DIR)  # the fold cache of hms.train.cache, per run
        for stage in stages:
            args, outs = STAGES[stage]
            # From scratch: no folds reused from the fold cache, no stale outputs in the disk figures.
            for o in [*outs, CACHE_DIR]:
                shutil.rmtree(run_dir / o, ignore_errors=True)
            cmd = [sys.executable, str(REPO / args[0]), *args[1:]]
            res = run_monitored(cmd, run_dir, env, run_dir / f"{stage}.log")
            disk = {o: round(disk_bytes(run_dir / o) / 2**20, 2) for o in outs}
            row = {"aggregation": agg, "stage": stage, **res, "disk_mb": round(sum(disk.values()), 2), "outputs": disk, **summary}
            if stage == "prepare" and res["rc"] == 0:
                row["n_samples"] = len(pd.read_parquet(run_dir / "data/prepared/train.parquet", columns=["sample_id"]))
            results.append(row)
            print(json.dumps(row), flush=True)
            if res["rc"] != 0:
                tail = (run_dir / f"{stage}.log").read_text(errors="replace")[-3000:]
                print(f"# {agg} {stage} FAILED (rc {res['rc']}); log tail:\n{tail}", flush=True)
                break
    print_table(results)
    return results


def print_table(results: list[dict[str, Any]]) -> None:
    if not results:
        return
    df = pd.DataFrame(results)[["n_eegs", "aggregation", "stage", "rc", "wall_s", "cpu_s", "peak_rss_tree_mb",
                                "peak_rss_one_mb", "disk_mb", "load_before", "load_after"]]
    print(df.to_string(index=False), flush=True)


def make_subset(src: Path, dst: Path, n_eegs: int) -> None:
    """dst: a data directory with whole spectrogram groups of src (in train.csv order) until
    n_eegs train eegs, every test file; parquet files are symlinks to src's."""
    train = pd.read_csv(src / "train.csv")
    first = train.drop_duplicates("eeg_id")
    per_spec = first.groupby("spectrogram_id", sort=False).size()
    keep = per_spec.index[: int((per_spec.cumsum() < n_eegs).sum()) + 1]
    sub = train[train["spectrogram_id"].isin(keep)]
    for d in ("train_eegs", "train_spectrograms", "test_eegs", "test_spectrograms"):
        (dst / d).mkdir(parents=True, exist_ok=True)
    for eeg in sub["eeg_id"].unique():
        _link(src / "train_eegs" / f"{eeg}.parquet", dst / "train_eegs" / f"{eeg}.parquet")
    for spec in keep:
        _link(src / "train_spectrograms" / f"{spec}.parquet", dst / "train_spectrograms" / f"{spec}.parquet")
    for d in ("test_eegs", "test_spectrograms"):
        for f in (src / d).iterdir():
            _link(f, dst / d / f.name)
    sub.to_csv(dst / "train.csv", index=False)
    for f in ("test.csv", "sample_submission.csv"):
        (dst / f).write_bytes((src / f).read_bytes())
    print(f"{dst}: {sub['eeg_id'].nunique()} eegs, {len(sub)} rows, {len(keep)} spectrograms (symlinks to {src})")


def _link(target: Path, link: Path) -> None:
    if not link.exists():
        link.symlink_to(target.resolve())


# the real train.csv: samples per aggregation mode (per eeg: one per eeg_id; per row: one per row)
REAL_SAMPLES = {"eeg": 17_089, "row": 106_800}


def extrapolate(paths: list[Path], scale: float = 1.0) -> pd.DataFrame:
    """Per (aggregation, stage): the line through the smallest and largest size's figures, with the
    number of samples of that mode as x (eegs per eeg, labelled rows per row: what a stage's work is
    proportional to), evaluated at the real sample count x `scale`. Peak RSS is fitted the same way,
    which overstates it where memory is bounded (streaming stages): compare the two measured sizes."""
    rows = [r for p in paths for r in json.loads(p.read_text())]
    df = pd.DataFrame(rows)
    samples = df[df["stage"] == "prepare"].set_index(["data", "aggregation"])["n_samples"].to_dict()
    df["n_samples"] = [samples.get((d, a)) for d, a in zip(df["data"], df["aggregation"])]
    out = []
    for (agg, stage), g in df[df["rc"] == 0].groupby(["aggregation", "stage"], sort=False):
        g = g.sort_values("n_samples")
        if g["n_samples"].nunique() < 2:
            continue
        a, b = g.iloc[0], g.iloc[-1]
        target = REAL_SAMPLES[agg] * scale
        rec: dict[str, Any] = {"aggregation": agg, "stage": stage, "samples": f"{a.n_samples}/{b.n_samples}",
                               "to": int(target)}
        for col in ("wall_s", "cpu_s", "peak_rss_tree_mb", "disk_mb"):
            slope = (b[col] - a[col]) / (b.n_samples - a.n_samples)
            rec[f"{col}_at"] = round(float(b[col] + slope * (target - b.n_samples)), 1)
        # growth: cost per sample at the larger size / at the smaller one (1 = linear or better with a
        # fixed start-up cost, > 1 = faster than linear)
        rec["cpu_per_sample_ratio"] = round(float((b.cpu_s / b.n_samples) / max(a.cpu_s / a.n_samples, 1e-9)), 2)
        out.append(rec)
    return pd.DataFrame(out)


def proportional(paths: list[Path], scale: float = 1.0) -> pd.DataFrame:
    """Per (aggregation, stage) at its largest measured size: CPU seconds and disk x (real samples /
    measured samples). An upper bound where the cost per sample does not rise with size (start-up
    costs are scaled too); check that with --extrapolate on two sizes first."""
    df = pd.DataFrame([r for p in paths for r in json.loads(p.read_text())])
    samples = df[df["stage"] == "prepare"].set_index(["data", "aggregation"])["n_samples"].to_dict()
    df["n_samples"] = [samples.get((d, a)) for d, a in zip(df["data"], df["aggregation"])]
    out = []
    for (agg, stage), g in df[(df["rc"] == 0) & df["n_samples"].notna()].groupby(["aggregation", "stage"], sort=False):
        b = g.sort_values("n_samples").iloc[-1]
        k = REAL_SAMPLES[agg] * scale / b.n_samples
        out.append({"aggregation": agg, "stage": stage, "from_samples": int(b.n_samples), "to": int(REAL_SAMPLES[agg] * scale),
                    "cpu_s_measured": b.cpu_s, "cpu_s_at": round(float(b.cpu_s * k)),
                    "disk_mb_measured": b.disk_mb, "disk_mb_at": round(float(b.disk_mb * k), 1),
                    "peak_rss_tree_mb_measured": b.peak_rss_tree_mb})
    return pd.DataFrame(out)


def model_costs(n_samples: int = 64) -> list[dict[str, Any]]:
    """Per neural model and preset (default, full): forward GFLOP per sample (torch's FLOP counter)
    and CPU milliseconds per training sample of its Dataset (memmap read, normalise, augment; one
    thread), the two inputs of the GPU estimate in docs/scale.md."""
    import tempfile

    import numpy as np
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from hms.models.registry import get_spec
    from hms.nets.augment import waves_augment
    from hms.nets.mosaic import mosaic_augment
    from hms.presets import preset
    from hms.signal.montage import WAVES_NAMES
    from hms.train.nn.data import FeatureDataset

    torch.set_num_threads(1)
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for name_p in ("default", "full"):
            p = preset(name_p)
            m, w = p["features"]["mosaic"], p["features"]["waves"]
            for name in [n for n, entry in p["models"].items() if entry["family"] == "nn"]:
                spec = get_spec(name)
                full = spec.config(p[spec.family], p[name])
                if getattr(full.own, "pretrained", False):
                    full = dataclasses.replace(full, own=dataclasses.replace(full.own, pretrained=False, weights=None))
                cfg = full.own
                if spec.features == "waves":
                    shape, make_augment = (len(WAVES_NAMES), int(w["seconds"] * w["fs_out"])), waves_augment
                else:
                    shape, make_augment = (len(m["panels"]), m["n_freqs"], m["n_frames"]), mosaic_augment
                net, augment = spec.build(full, shape), make_augment(cfg, shape)
                net.eval()
                with torch.no_grad(), FlopCounterMode(display=False) as fc:
                    net(torch.zeros(2, *shape))
                path = f"{tmp}/{name_p}_{name}.npy"
                arr = np.lib.format.open_memmap(path, mode="w+", dtype=np.float16, shape=(n_samples, *shape))
                arr[:] = np.random.default_rng(0).standard_normal(arr.shape).astype(np.float16)
                arr.flush()
                ds = FeatureDataset(np.load(path, mmap_mode="r"), np.arange(n_samples), cfg, augment=augment)
                ds[0]
                t = time.process_time()
                for i in range(n_samples):
                    ds[i]
                ms = (time.process_time() - t) / n_samples * 1e3
                out.append({"preset": name_p, "model": name, "input": list(shape),
                            "fwd_gflop_per_sample": round(fc.get_total_flops() / 2 / 1e9, 3),
                            "params_m": round(sum(q.numel() for q in net.parameters()) / 1e6, 2),
                            "loader_cpu_ms_per_train_sample": round(ms, 2)})
                print(json.dumps(out[-1]), flush=True)
    return out


# --- the one-GPU estimate (docs/scale.md states and justifies every assumption) -------------------
REAL = {"eeg": {"n": 17_089, "hq": 0.347}, "row": {"n": 106_800, "hq": 0.374}}  # samples, share with >= 10 votes
# Assumed training throughput on one H100 (bf16 autocast, channels_last, batch 32), samples/s: timm's
# published RTX 3090 AMP training benchmark (efficientnet_b0 1,752/s, resnet18 3,482/s at 224 x 224)
# scaled by pixels to 512 x 512 (/5.22), x3 for an H100 (memory bandwidth 3.35 vs 0.94 TB/s), x0.7
# for batch 32 instead of 512. The wave net: its counted FLOPs x 3 (forward + backward) at an assumed
# 30 TFLOP/s sustained (small 1D convolutions and a GRU do not fill the tensor cores).
GPU_TRAIN_PER_S = {"efficientnet": 1752 / 5.22 * 3 * 0.7, "resnet": 3482 / 5.22 * 3 * 0.7, "wave": None}
WAVE_TFLOPS = 30.0
LOADER_WORKERS = 8  # nn.num_workers -1 on cuda: min(8, cores - 1) on the 16-core machine
CPU_CORES = 16


def gpu_estimate(model_costs_path: Path) -> pd.DataFrame:
    """Hours per neural model on one GPU for the `full` preset, per aggregation mode: the larger of
    the GPU time (assumed throughput above) and the DataLoader time (measured CPU ms per sample /
    LOADER_WORKERS). Evaluation samples (every epoch's validation, the OOF pass, with flip TTA =
    2 forward passes) count as 2/3 of a training sample on the GPU and as one sample in the loader."""
    from hms.presets import preset

    full = preset("full")
    costs = {r["model"]: r for r in json.loads(model_costs_path.read_text()) if r["preset"] == "full"}
    folds, rows = int(full["folds"]), []
    for mode, real in REAL.items():
        for name in ("efficientnet", "resnet", "wave"):
            loop = {**full["nn"], **(full[name].get("loop") or {})}
            e1, e2 = int(loop["epochs"]), int(loop["stage2_epochs"])
            n_train, n_valid = real["n"] * (folds - 1) / folds, real["n"] / folds
            train = folds * (e1 * n_train + e2 * n_train * real["hq"])
            evals = folds * (e1 + e2 + 1) * n_valid
            rate = GPU_TRAIN_PER_S[name] or WAVE_TFLOPS * 1e12 / (3 * costs[name]["fwd_gflop_per_sample"] * 1e9)
            gpu_s = (train + evals * 2 / 3) / rate
            loader_s = (train + evals) * costs[name]["loader_cpu_ms_per_train_sample"] / 1e3 / LOADER_WORKERS
            rows.append({"aggregation": mode, "model": name, "epochs": f"{e1}+{e2}", "train_samples_M": round(train / 1e6, 2),
                         "eval_samples_M": round(evals / 1e6, 2), "gpu_train_per_s": round(rate),
                         "gpu_h": round(gpu_s / 3600, 2), "loader_h": round(loader_s / 3600, 2),
                         "estimate_h": round(max(gpu_s, loader_s) / 3600, 2)})
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, help="data directory in the Kaggle layout")
    ap.add_argument("--work", type=Path, help="run directories go here (<work>/<aggregation>)")
    ap.add_argument("--aggregation", nargs="+", default=["eeg", "row"], choices=["eeg", "row"])
    ap.add_argument("--stages", nargs="+", default=list(STAGES), choices=list(STAGES))
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="params override (YAML value)")
    ap.add_argument("--json", type=Path, help="write the results here (a list of rows)")
    ap.add_argument("--subset", nargs=3, metavar=("SRC", "DST", "N_EEGS"), help="make a subset data directory and exit")
    ap.add_argument("--extrapolate", nargs="+", type=Path, metavar="JSON", help="fit two sizes' results and exit")
    ap.add_argument("--proportional", nargs="+", type=Path, metavar="JSON", help="scale the largest size's CPU and disk per sample, then exit")
    ap.add_argument("--scale", type=float, default=1.0, help="--extrapolate to this fraction of the real sample counts")
    ap.add_argument("--model-costs", action="store_true", help="FLOPs and Dataset CPU cost per sample of the nets, then exit")
    ap.add_argument("--gpu-estimate", type=Path, metavar="MODEL_COSTS_JSON", help="one-GPU hours per net (full preset), then exit")
    args = ap.parse_args(argv)
    if args.gpu_estimate:
        print(gpu_estimate(args.gpu_estimate).to_string(index=False))
        return
    if args.model_costs:
        rows = model_costs()
        if args.json:
            args.json.write_text(json.dumps(rows, indent=1) + "\n")
        return
    if args.subset:
        make_subset(Path(args.subset[0]), Path(args.subset[1]), int(args.subset[2]))
        return
    if args.proportional:
        print(proportional(args.proportional, args.scale).to_string(index=False))
        return
    if args.extrapolate:
        print(extrapolate(args.extrapolate, args.scale).to_string(index=False))
        return
    if args.data is None or args.work is None:
        ap.error("give --data and --work (or --subset / --extrapolate)")
    results = bench(args.data, args.work, args.aggregation, args.stages, args.set)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()

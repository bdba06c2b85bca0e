"""Feature-stage benchmark (prints a table; not a timed test).

1. mosaic throughput (EEGs/s) of `build_features("mosaic")` with `--workers` processes (default 2:
   both cores) against a reference implementation of the popular starter's method run the way the
   starter runs it (one Python loop in one process: pd.read_parquet, then librosa melspectrogram
   sr 200, n_fft 1024, win_length 128, hop len/256, n_mels 128, fmax 20 per bipolar pair,
   power_to_db(ref=max), (db+40)/40, mean per chain) on the same files, in the same run; their
   ratio (the headline, target >= 10x); and CPU time per EEG of both (all our processes counted),
   whose ratio is the per-core speed-up, independent of the number of cores;
2. agreement: per-panel Pearson correlation of our E_* panels in the starter-alike configuration
   (no band-pass, no clipping, 128 x 256 mel) with the reference;
3. tabular and waves throughput, and the projected time of all feature stages on the real train
   set (17,089 EEGs);
4. peak memory of each stage (fresh process per run) at two dataset sizes.

Files: synthetic EEGs from hms.synth (`--n-files`), or any Kaggle-layout `--data-dir`. The
throughput runs use distinct eegs only (at most `--n-eegs`, as many as the directory has), so no
file is read twice: our stage reads a file once per chunk, and repeated files would flatter it.
Eegs of one recording share a spectrogram file (as in the real data), which our stage exploits.
The memory runs repeat the files to reach each size. Files come from the page cache for both
implementations (real disks make both slower). The load average is printed: on a busy machine
the EEGs/s figures are distorted, the CPU-per-EEG ones much less.

Quick run (a few minutes on a busy 2-core box):
    python benchmarks/bench_features.py
Full run (the figures to report; about 15-30 min on 2 cores):
    python benchmarks/bench_features.py --n-files 400 --n-eegs 400 --n-ref 200 --mem-sizes 200,2000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from hms.data.contract import read_train_csv  # noqa: E402
from hms.data.layout import DataDir  # noqa: E402
from hms.data.targets import make_samples  # noqa: E402
from hms.features.build import FEATURE_KINDS, build_features  # noqa: E402
from hms.params import load_params  # noqa: E402
from hms.signal.montage import CHAIN_PAIRS, CHAINS  # noqa: E402

REAL_TRAIN_EEGS = 17_089


# --- data ----------------------------------------------------------------------------------

def make_files(out: Path, n_files: int, seed: int) -> Path:
    from hms.synth import run_synth

    run_synth(out, size="small", seed=seed, n_train_eegs=n_files, n_test_eegs=3, workers=2)
    return out


def distinct_samples(data: DataDir, n: int) -> pd.DataFrame:
    """At most n samples, one per distinct train eeg of the data dir (no file repeated)."""
    return make_samples(read_train_csv(data.csv("train")), "eeg").iloc[:n].copy()


def samples_of_size(data: DataDir, n: int) -> pd.DataFrame:
    """n samples cycling over the data dir's train eegs (distinct sample_ids, repeated files)."""
    base = make_samples(read_train_csv(data.csv("train")), "eeg")
    reps = -(-n // len(base))
    out = pd.concat([base] * reps, ignore_index=True).iloc[:n].copy()
    out["sample_id"] = np.arange(n, dtype=np.int64)
    return out


# --- the reference: the popular starter's EEG spectrogram ----------------------------------

def reference_one(args: tuple[str, int, float]) -> np.ndarray:
    """(128, 256, 4) image of one EEG window, chains in our order LL, RL, LP, RP."""
    import librosa

    path, _, offset = args
    eeg = pd.read_parquet(path)
    start = int(offset * 200)
    eeg = eeg.iloc[start:start + 10_000]
    img = np.zeros((128, 256, 4), dtype=np.float32)
    for k, chain in enumerate(CHAINS):
        for a, b in CHAIN_PAIRS[chain]:
            x = eeg[a].to_numpy() - eeg[b].to_numpy()
            m = np.nanmean(x) if np.isfinite(x).any() else 0.0
            x = np.nan_to_num(x, nan=m)
            mel = librosa.feature.melspectrogram(y=x, sr=200, hop_length=len(x) // 256, n_fft=1024, n_mels=128,
                                                 fmin=0, fmax=20, win_length=128)
            width = (mel.shape[1] // 32) * 32
            db = librosa.power_to_db(mel, ref=np.max).astype(np.float32)[:, :width]
            img[:, :, k] += (db + 40) / 40
        img[:, :, k] /= 4.0
    return img


def run_reference(data: DataDir, samples: pd.DataFrame) -> tuple[float, float, list[np.ndarray]]:
    """The starter's way: one loop in one process. -> (wall s, CPU s, images). librosa's import and
    numba compilation happen in a warm-up call outside the timing."""
    jobs = [(str(data.eeg("train", r.eeg_id)), r.eeg_id, r.eeg_offset) for r in samples.itertuples()]
    reference_one(jobs[0])
    cpu, wall = time.process_time(), time.perf_counter()
    imgs = [reference_one(j) for j in jobs]
    return time.perf_counter() - wall, time.process_time() - cpu, imgs


# --- ours ----------------------------------------------------------------------------------

def starter_alike(params: dict) -> dict:
    """Our mosaic configured like the starter: raw bipolar signals, 128 x 256 mel, EEG panels only."""
    p = json.loads(json.dumps(params))
    p["signal"].update(band_hz=None, clip_uv=None)
    p["mosaic"].update(panels=["E_LL", "E_RL", "E_LP", "E_RP"], n_freqs=128, n_frames=256, freq_scale="mel",
                       n_fft=1024, win_length=128, fmin_hz=0.0, fmax_hz=20.0, top_db=80.0)
    return p


def full_size(params: dict) -> dict:
    p = json.loads(json.dumps(params))
    p["mosaic"].update(n_freqs=128, n_frames=256)
    return p


def _cpu_with_children() -> float:
    """CPU seconds of this process plus its finished (joined) child processes, e.g. pool workers."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def time_build(kind: str, data: DataDir, samples: pd.DataFrame, params: dict, workers: int, out: Path) -> float:
    return time_build_cpu(kind, data, samples, params, workers, out)[0]


def time_build_cpu(kind: str, data: DataDir, samples: pd.DataFrame, params: dict, workers: int,
                   out: Path) -> tuple[float, float]:
    """(wall s, CPU s of all processes involved, the pool workers included)."""
    cpu, t = _cpu_with_children(), time.perf_counter()
    build_features(kind, data, "train", samples, params, out, workers=workers)
    return time.perf_counter() - t, _cpu_with_children() - cpu


def child_main(kind: str, n: int, data_dir: str, params_json: str, workers: int, out: str) -> None:
    """One stage in a fresh process: prints seconds and peak RSS of this process and its workers."""
    data = DataDir(Path(data_dir))
    samples = samples_of_size(data, n)
    seconds = time_build(kind, data, samples, json.loads(params_json), workers, Path(out))
    out_bytes = sum(p.stat().st_size for p in Path(out).rglob("*") if p.is_file())
    # VmHWM (peak RSS of this process image); ru_maxrss would carry the parent's peak across exec.
    hwm_kb = next(int(line.split()[1]) for line in Path("/proc/self/status").read_text().splitlines() if line.startswith("VmHWM"))
    print(json.dumps({"seconds": seconds, "rss_main_mb": hwm_kb / 1024,
                      "rss_workers_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
                      "out_mb": out_bytes / 2**20}))


def measure_memory(kind: str, n: int, data: DataDir, params: dict, workers: int, tmp: Path) -> dict:
    out = tmp / f"mem_{kind}_{n}"
    cmd = [sys.executable, __file__, "--child", kind, str(n), str(data.root), json.dumps(params), str(workers), str(out)]
    env = {**os.environ, "TQDM_DISABLE": "1", "HMS_LOG_LEVEL": "WARNING"}
    res = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
    return json.loads(res.stdout.strip().splitlines()[-1])


# --- main ----------------------------------------------------------------------------------

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, default=None, help="Kaggle-layout dir (default: write synthetic files)")
    ap.add_argument("--n-files", type=int, default=64, help="synthetic train EEGs to write (default 64)")
    ap.add_argument("--n-eegs", type=int, default=64, help="distinct EEGs per throughput run of our stages (default 64)")
    ap.add_argument("--n-ref", type=int, default=24, help="EEGs for the reference starter run (default 24)")
    ap.add_argument("--n-agree", type=int, default=8, help="EEGs for the agreement check (default 8)")
    ap.add_argument("--mem-sizes", default="24,240", help="two dataset sizes for peak memory (default 24,240)")
    ap.add_argument("--workers", type=int, default=2, help="our worker processes (default 2; the reference is one process)")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    ap.add_argument("--child", nargs=6, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        kind, n, data_dir, params_json, workers, out = args.child
        child_main(kind, int(n), data_dir, params_json, int(workers), out)
        return
    os.environ.setdefault("TQDM_DISABLE", "1")
    params = load_params(REPO / "params.yaml")["features"]
    with tempfile.TemporaryDirectory(prefix="bench_features_") as tmp_s:
        tmp = Path(tmp_s)
        data = DataDir(args.data_dir) if args.data_dir else DataDir(make_files(tmp / "data", args.n_files, 7))
        rows: list[tuple[str, str]] = []
        res: dict = {"workers": args.workers, "data": str(args.data_dir or f"synthetic, {args.n_files} files")}

        res["load_avg_start"] = os.getloadavg()
        # 1. mosaic vs the starter, same files (ours: the first n_ref of its eegs are the reference's)
        ref_samples = distinct_samples(data, args.n_ref)
        ours = distinct_samples(data, args.n_eegs)
        n_ref, n_ours = len(ref_samples), len(ours)
        ref_wall, ref_cpu, ref_imgs = run_reference(data, ref_samples)
        res["ref_eegs_per_s"], res["ref_cpu_ms"] = n_ref / ref_wall, ref_cpu / n_ref * 1000
        build_features("mosaic", data, "train", ours.iloc[:4], params, tmp / "warmup", workers=1)  # imports
        for name, p in (("mosaic", params), ("mosaic_full", full_size(params)), ("mosaic_alike", starter_alike(params))):
            wall, cpu = time_build_cpu("mosaic", data, ours, p, args.workers, tmp / name)
            res[f"{name}_eegs_per_s"], res[f"{name}_cpu_ms"] = n_ours / wall, cpu / n_ours * 1000
        # CPU per EEG with everything in one process (no pool start-up, no transfer of results)
        for name, p in (("mosaic", params), ("mosaic_alike", starter_alike(params))):
            c = time.process_time()
            build_features("mosaic", data, "train", ours, p, tmp / f"cpu_{name}", workers=1)
            res[f"{name}_cpu1_ms"] = (time.process_time() - c) / n_ours * 1000
        ref = res["ref_eegs_per_s"]
        rows += [(f"reference starter (librosa, 4 panels 128x256), one process loop, {n_ref} EEGs",
                  f"{ref:.1f} EEGs/s, CPU {res['ref_cpu_ms']:.0f} ms/EEG"),
                 (f"ours, {args.workers} workers, {n_ours} EEGs: mosaic default 8 x 64 x 128",
                  f"{res['mosaic_eegs_per_s']:.1f} EEGs/s, CPU {res['mosaic_cpu_ms']:.1f} ms/EEG"),
                 ("ours: mosaic full 8 x 128 x 256",
                  f"{res['mosaic_full_eegs_per_s']:.1f} EEGs/s, CPU {res['mosaic_full_cpu_ms']:.1f} ms/EEG"),
                 ("ours: E panels only, starter-alike 4 x 128 x 256 (the reference's work)",
                  f"{res['mosaic_alike_eegs_per_s']:.1f} EEGs/s, CPU {res['mosaic_alike_cpu_ms']:.1f} ms/EEG"),
                 (f"speed-up, ours {args.workers} workers / reference 1 process: default",
                  f"{res['mosaic_eegs_per_s'] / ref:.1f}x (target >= 10x)"),
                 ("speed-up, ours / reference: full", f"{res['mosaic_full_eegs_per_s'] / ref:.1f}x"),
                 ("speed-up, ours / reference: like for like (starter-alike)", f"{res['mosaic_alike_eegs_per_s'] / ref:.1f}x"),
                 ("per-core speed-up (reference CPU/EEG / ours CPU/EEG): default / full / alike",
                  f"{res['ref_cpu_ms'] / res['mosaic_cpu_ms']:.1f}x / {res['ref_cpu_ms'] / res['mosaic_full_cpu_ms']:.1f}x / "
                  f"{res['ref_cpu_ms'] / res['mosaic_alike_cpu_ms']:.1f}x"),
                 ("ours, CPU per EEG in one process (workers=1): default / starter-alike",
                  f"{res['mosaic_cpu1_ms']:.1f} ms / {res['mosaic_alike_cpu1_ms']:.1f} ms")]

        # 2. agreement in the starter-alike configuration
        n_agree = min(args.n_agree, n_ref)
        build_features("mosaic", data, "train", ref_samples.iloc[:n_agree], starter_alike(params), tmp / "alike", workers=1)
        alike = np.load(tmp / "alike" / "train.npy").astype(np.float32)
        corr = np.array([[np.corrcoef(alike[i, k].ravel(), ref_imgs[i][:, :, k].ravel())[0, 1] for k in range(4)]
                         for i in range(n_agree)])
        res["agreement_min"], res["agreement_median"] = float(corr.min()), float(np.median(corr))
        rows.append((f"agreement, starter-alike config ({n_agree} EEGs x 4 panels)",
                     f"Pearson r min {corr.min():.4f}, median {np.median(corr):.4f} (target >= 0.99)"))

        # 3. the other stages and the projection (default mosaic config, measured above)
        total = 0.0
        for kind in FEATURE_KINDS:
            key = f"{kind}_eegs_per_s"
            if kind != "mosaic":
                res[key] = n_ours / time_build(kind, data, ours, params, args.workers, tmp / kind)
                rows.append((f"ours: {kind} stage", f"{res[key]:.1f} EEGs/s"))
            total += REAL_TRAIN_EEGS / res[key]
        res["projected_full_train_min"] = total / 60
        rows.append((f"projected: all 3 stages on {REAL_TRAIN_EEGS:,} real train EEGs", f"{total / 60:.1f} min"))

        # 4. peak memory, fresh process per (stage, size)
        mem_rows = []
        for kind in FEATURE_KINDS:
            for n in (int(v) for v in args.mem_sizes.split(",")):
                m = measure_memory(kind, n, data, params, args.workers, tmp)
                mem_rows.append((kind, n, m))
        res["memory"] = [{"kind": k, "n": n, **m} for k, n, m in mem_rows]

        res["load_avg_end"] = os.getloadavg()

    print(f"\nfeature benchmark: {res['data']}, workers={args.workers}, {os.cpu_count()} cores, load average "
          f"{res['load_avg_start'][0]:.1f} at the start, {res['load_avg_end'][0]:.1f} at the end\n")
    width = max(len(r[0]) for r in rows)
    print(f"| {'measure':<{width}} | value |\n|{'-' * (width + 2)}|-------|")
    for k, v in rows:
        print(f"| {k:<{width}} | {v} |")
    print("\n| stage | EEGs | seconds | peak RSS main MB | peak RSS per worker MB | output MB |\n|---|---|---|---|---|---|")
    for kind, n, m in mem_rows:
        print(f"| {kind} | {n} | {m['seconds']:.1f} | {m['rss_main_mb']:.0f} | {m['rss_workers_mb']:.0f} | {m['out_mb']:.1f} |")
    if args.json:
        args.json.write_text(json.dumps(res, indent=2) + "\n")


if __name__ == "__main__":
    main()

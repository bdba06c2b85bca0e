"""Feature-stage benchmark (prints a table; not a timed test).

1. mosaic throughput (EEGs/s with `--workers` processes) of `build_features("mosaic")` against a
   reference implementation of the popular starter's method run in the same way on the same files
   (librosa melspectrogram sr 200, n_fft 1024, win_length 128, hop len/256, n_mels 128, fmax 20
   per bipolar pair, power_to_db(ref=max), (db+40)/40, mean per chain), and their ratio;
2. agreement: per-panel Pearson correlation of our E_* panels in the starter-alike configuration
   (no band-pass, no clipping, 128 x 256 mel) with the reference;
3. tabular and waves throughput, and the projected time of all feature stages on the real train
   set (17,089 EEGs);
4. peak memory of each stage (fresh process per run) at two dataset sizes.

Files: a few synthetic EEGs from hms.synth (`--n-files`), or any Kaggle-layout `--data-dir`;
the sample table repeats them to reach each size, so sizes cost no extra generation (files are
then served from the page cache: real disks make both implementations slower).

Quick run (a few minutes on a busy 2-core box):
    python benchmarks/bench_features.py
Full run (the figures to report; about 30-60 min on 2 cores):
    python benchmarks/bench_features.py --n-files 200 --n-eegs 2000 --n-ref 200 --mem-sizes 200,2000
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
from concurrent.futures import ProcessPoolExecutor
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


def _ref_init() -> None:
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    import librosa  # noqa: F401  (import, and numba compilation, outside the timed part)

    reference_one  # noqa: B018


def run_reference(data: DataDir, samples: pd.DataFrame, workers: int) -> tuple[float, list[np.ndarray]]:
    jobs = [(str(data.eeg("train", r.eeg_id)), r.eeg_id, r.eeg_offset) for r in samples.itertuples()]
    with ProcessPoolExecutor(workers, initializer=_ref_init) as pool:
        list(pool.map(reference_one, jobs[:workers]))  # warm-up: librosa/numba compile in each worker
        t = time.perf_counter()
        imgs = list(pool.map(reference_one, jobs, chunksize=4))
        return time.perf_counter() - t, imgs


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


def time_build(kind: str, data: DataDir, samples: pd.DataFrame, params: dict, workers: int, out: Path) -> float:
    t = time.perf_counter()
    build_features(kind, data, "train", samples, params, out, workers=workers)
    return time.perf_counter() - t


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
    ap.add_argument("--n-files", type=int, default=24, help="synthetic train EEGs to write (default 24)")
    ap.add_argument("--n-eegs", type=int, default=48, help="EEGs per throughput run of our stages (default 48)")
    ap.add_argument("--n-ref", type=int, default=16, help="EEGs for the reference starter run (default 16)")
    ap.add_argument("--n-agree", type=int, default=8, help="EEGs for the agreement check (default 8)")
    ap.add_argument("--mem-sizes", default="24,240", help="two dataset sizes for peak memory (default 24,240)")
    ap.add_argument("--workers", type=int, default=2, help="worker processes, ours and the reference (default 2)")
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

        # 1. mosaic vs the starter
        ref_samples = samples_of_size(data, args.n_ref)
        ref_s, ref_imgs = run_reference(data, ref_samples, args.workers)
        res["ref_eegs_per_s"] = args.n_ref / ref_s
        ours = samples_of_size(data, args.n_eegs)
        for name, p in (("mosaic", params), ("mosaic_full", full_size(params)), ("mosaic_alike", starter_alike(params))):
            s = time_build("mosaic", data, ours, p, args.workers, tmp / name)
            res[f"{name}_eegs_per_s"] = args.n_eegs / s
        rows += [("reference starter (librosa, EEG panels 128x256 only)", f"{res['ref_eegs_per_s']:.1f} EEGs/s"),
                 ("ours: mosaic stage, default 8 x 64 x 128", f"{res['mosaic_eegs_per_s']:.1f} EEGs/s"),
                 ("ours: mosaic stage, full 8 x 128 x 256", f"{res['mosaic_full_eegs_per_s']:.1f} EEGs/s"),
                 ("ours: E panels only, starter-alike 4 x 128 x 256 (the reference's work)",
                  f"{res['mosaic_alike_eegs_per_s']:.1f} EEGs/s"),
                 ("speed-up, whole stage default / reference", f"{res['mosaic_eegs_per_s'] / res['ref_eegs_per_s']:.1f}x (target >= 10x)"),
                 ("speed-up, whole stage full / reference", f"{res['mosaic_full_eegs_per_s'] / res['ref_eegs_per_s']:.1f}x"),
                 ("speed-up, like for like (starter-alike / reference)",
                  f"{res['mosaic_alike_eegs_per_s'] / res['ref_eegs_per_s']:.1f}x")]

        # 1b. CPU per EEG in one process: robust to other load on the machine
        n_cpu = min(args.n_agree, args.n_ref)
        jobs = [(str(data.eeg("train", r.eeg_id)), r.eeg_id, r.eeg_offset) for r in ref_samples.iloc[:n_cpu].itertuples()]
        reference_one(jobs[0])  # librosa import and numba compilation outside the timing
        c = time.process_time()
        for j in jobs:
            reference_one(j)
        res["ref_cpu_ms"] = (time.process_time() - c) / n_cpu * 1000
        for name, p in (("mosaic", params), ("mosaic_alike", starter_alike(params))):
            c = time.process_time()
            build_features("mosaic", data, "train", ref_samples.iloc[:n_cpu], p, tmp / f"cpu_{name}", workers=1)
            res[f"{name}_cpu_ms"] = (time.process_time() - c) / n_cpu * 1000
        rows += [(f"CPU per EEG, one process ({n_cpu} EEGs): reference", f"{res['ref_cpu_ms']:.0f} ms"),
                 ("CPU per EEG, one process: ours default / starter-alike",
                  f"{res['mosaic_cpu_ms']:.0f} ms / {res['mosaic_alike_cpu_ms']:.0f} ms "
                  f"(speed-up {res['ref_cpu_ms'] / res['mosaic_cpu_ms']:.1f}x / {res['ref_cpu_ms'] / res['mosaic_alike_cpu_ms']:.1f}x)")]

        # 2. agreement in the starter-alike configuration
        n_agree = min(args.n_agree, args.n_ref)
        build_features("mosaic", data, "train", ref_samples.iloc[:n_agree], starter_alike(params), tmp / "alike", workers=1)
        alike = np.load(tmp / "alike" / "train.npy").astype(np.float32)
        corr = np.array([[np.corrcoef(alike[i, k].ravel(), ref_imgs[i][:, :, k].ravel())[0, 1] for k in range(4)]
                         for i in range(n_agree)])
        res["agreement_min"], res["agreement_median"] = float(corr.min()), float(np.median(corr))
        rows.append((f"agreement, starter-alike config ({n_agree} EEGs x 4 panels)",
                     f"Pearson r min {corr.min():.4f}, median {np.median(corr):.4f} (target >= 0.99)"))

        # 3. the other stages and the projection
        total = 0.0
        for kind in FEATURE_KINDS:
            key = f"{kind}_eegs_per_s"
            if kind != "mosaic":
                res[key] = args.n_eegs / time_build(kind, data, ours, params, args.workers, tmp / kind)
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

    print(f"\nfeature benchmark: {res['data']}, workers={args.workers}\n")
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

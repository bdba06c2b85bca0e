"""Expected training time of each model of the `full` preset on the real data, from what a CPU can
measure (docs/gpu.md). Prints, per neural model: forward GFLOPs per sample (counted by torch's
FlopCounterMode on the real input shape), measured CPU training throughput and data-loading cost per
sample, the work of a 5-fold run (samples trained and evaluated, from the preset's epochs and the real
data's size) and the GPU hours that gives at a stated share of the GPU's peak (MFU). With --gbdt
DATA_ROOT it also times the full preset's LightGBM and CatBoost on DATA_ROOT's prepared table and
tabular features (e.g. the default embedded data) and scales them to the real row count.

    python benchmarks/gpu_estimate.py                       # neural models
    python benchmarks/gpu_estimate.py --gbdt /path/to/repo  # + GBDTs timed on its data/prepared, features/tabular
    python benchmarks/gpu_estimate.py --gbdt /path/to/repo --no-neural  # the GBDTs only
Every number it derives is an estimate; the assumptions are printed with it."""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from hms.models.registry import get_spec  # noqa: E402
from hms.nets.augment import waves_augment  # noqa: E402
from hms.nets.mosaic import mosaic_augment  # noqa: E402
from hms.presets import preset  # noqa: E402
from hms.train.loss import kl_loss  # noqa: E402
from hms.train.nn.config import effective_loop  # noqa: E402
from hms.train.nn.data import FeatureDataset  # noqa: E402
from hms.signal.montage import WAVES_NAMES  # noqa: E402
from hms.train.nn.loop import make_optimizer  # noqa: E402

# The real competition data (train.csv): eegs, and eegs whose most-annotated row has >= 10 votes
# (hms/synth/resources/train_label_structure.csv.gz, the same count the prepare stage gives).
REAL_EEGS, REAL_HQ = 17_001, 5_903
GPUS = {  # dense bf16/fp16 tensor-core peak, TFLOPS (vendor datasheets)
    "H100 SXM (bf16)": 989.0,
    "A100 (bf16)": 312.0,
    "T4 (fp16, Kaggle)": 65.0,
}
# Share of that peak these small convnets reach in training (bf16 autocast, channels_last): an
# assumption, not a measurement. Depthwise convolutions (EfficientNet) and a GRU over ~100 steps
# (wave) sit far below dense GEMM rates; ResNet's 3x3 convolutions come closer.
# The CPU measurement below backs the ordering: per FLOP, efficientnet_b0 trains ~8x slower than resnet18 on
# CPU (depthwise convolutions are memory-bound), the wave model ~2x slower.
MFU = {"efficientnet": (0.03, 0.10), "resnet": (0.15, 0.35), "wave": (0.03, 0.10)}


def shape_of(params: dict[str, Any], kind: str) -> tuple[int, ...]:
    f = params["features"]
    if kind == "mosaic":
        return (len(f["mosaic"]["panels"]), f["mosaic"]["n_freqs"], f["mosaic"]["n_frames"])
    return (len(WAVES_NAMES), int(round(f["waves"]["seconds"] * f["waves"]["fs_out"])))


def forward_flops(model: torch.nn.Module, shape: tuple[int, ...]) -> float:
    """FLOPs of one sample's forward pass (a batch of 2, halved; eval mode: no dropout)."""
    model.eval()
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(torch.randn(2, *shape))
    return counter.get_total_flops() / 2


def cpu_train_rate(spec, cfg, shape: tuple[int, ...], batch: int, steps: int) -> float:
    """Samples per second of forward + backward + AdamW step on this CPU, fp32."""
    model = spec.build(cfg, shape)
    model.train()
    opt = make_optimizer(model, effective_loop(cfg.shared, cfg.own), 1e-4)
    x, y = torch.randn(batch, *shape), torch.softmax(torch.randn(batch, 6), 1)

    def step() -> None:
        loss = kl_loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    step()  # warm-up (allocations, oneDNN primitives)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return batch * steps / (time.perf_counter() - start)


def loader_cost(cfg, shape: tuple[int, ...], augment, n: int = 64) -> float:
    """CPU seconds per training sample of the Dataset (float16 read, normalise, augment) on one core."""
    rng = np.random.default_rng(0)
    array = rng.normal(size=(n, *shape)).astype(np.float16)
    ds = FeatureDataset(array, np.arange(n), cfg.own, augment=augment(cfg.own, shape))
    ds[0]
    start = time.process_time()
    for i in range(n):
        ds[i]
    return (time.process_time() - start) / n


def work(loop, tta: bool, folds: int) -> dict[str, float]:
    """Samples of a `folds`-fold run on the real data: trained (stage 1 + stage 2) and evaluated
    (validation after every epoch, OOF; x2 with flip TTA)."""
    per_fold_train = (folds - 1) / folds
    train = folds * (loop.epochs * REAL_EEGS + loop.stage2_epochs * REAL_HQ) * per_fold_train
    evals = (loop.epochs + loop.stage2_epochs + 1) * REAL_EEGS * (2 if tta else 1)  # each eeg validated once per epoch
    return {"train": train, "eval": evals}


def neural(args: argparse.Namespace) -> None:
    params = preset(args.preset)
    torch.set_num_threads(args.threads)
    print(f"preset {args.preset}; real data {REAL_EEGS} eegs ({REAL_HQ} with >= 10 votes), {params['folds']} folds; "
          f"CPU: {args.threads} torch thread(s), fp32, batch {args.batch}")
    rows = []
    for name in ("efficientnet", "resnet", "wave"):
        spec = get_spec(name)
        own = dict(params[name], pretrained=False, weights=None) if "pretrained" in params[name] else params[name]
        cfg = spec.config(params[spec.family], own)
        loop = effective_loop(cfg.shared, cfg.own)
        shape = shape_of(params, spec.features)
        torch.manual_seed(0)
        flops = forward_flops(spec.build(cfg, shape), shape)
        rate = cpu_train_rate(spec, cfg, shape, args.batch, args.steps)
        augment = mosaic_augment if spec.features == "mosaic" else waves_augment
        load_s = loader_cost(cfg, shape, augment)
        w = work(loop, cfg.own.tta_flip, params["folds"])
        total = 3 * flops * w["train"] + flops * w["eval"]  # backward ~ 2 x forward
        rows.append((name, shape, flops, rate, load_s, loop, w, total))
        print(f"{name}: input {shape}, {flops / 1e9:.2f} GFLOPs/sample forward; CPU {rate:.2f} samples/s training; "
              f"loader {load_s * 1e3:.2f} ms CPU/sample; {loop.epochs}+{loop.stage2_epochs} epochs x 5 folds: "
              f"{w['train'] / 1e6:.2f} M samples trained, {w['eval'] / 1e6:.2f} M evaluated; {total / 1e15:.1f} PFLOP",
              flush=True)
    print("\n| model | GFLOPs/sample (fwd) | CPU: samples/s, GFLOPS achieved | 5-fold work (PFLOP) | CPU here (h) | "
          "loader-bound, 8 workers (min) | " + " | ".join(f"{g} (min)" for g in GPUS) + " |")
    print("|---|---|---|---|---|---|" + "---|" * len(GPUS))
    for name, shape, flops, rate, load_s, loop, w, total in rows:
        cpu_h = (w["train"] / rate + w["eval"] / (3 * rate)) / 3600
        loader_min = (w["train"] + w["eval"]) * load_s / args.workers / 60
        lo, hi = MFU[name]
        gpu = [f"{total / (peak * 1e12 * hi) / 60:.0f}-{total / (peak * 1e12 * lo) / 60:.0f}" for peak in GPUS.values()]
        print(f"| {name} | {flops / 1e9:.2f} | {rate:.2f}, {3 * flops * rate / 1e9:.1f} | {total / 1e15:.1f} | {cpu_h:.0f} | "
              f"{loader_min:.0f} | " + " | ".join(gpu) + " |")
    print("\nGPU minutes = 5-fold FLOPs (3 x forward per trained sample) / (peak x MFU), MFU ranges (assumed): "
          + ", ".join(f"{k} {lo:.0%}-{hi:.0%}" for k, (lo, hi) in MFU.items())
          + f"; loader-bound = samples x loader CPU time / {args.workers} DataLoader workers (a floor on the wall time)")


def gbdt(args: argparse.Namespace) -> None:
    import pandas as pd

    from hms.train.cache import FoldCache
    from hms.train.crossval import cross_validate

    root = Path(args.gbdt)
    train = pd.read_parquet(root / "data/prepared/train.parquet")
    test = pd.read_parquet(root / "data/prepared/test.parquet")
    params = preset(args.preset)
    print(f"\nGBDTs of the {args.preset} preset on {root} ({len(train)} eegs), 1 thread; time scaled x{REAL_EEGS / len(train):.1f} "
          "(histogram boosting: linear in rows at a fixed number of rounds)")
    for name in ("lgbm", "catboost"):
        spec = get_spec(name)
        cfg = spec.config(params["gbdt"], dict(params[name], threads=1))
        out = Path(args.work) / name
        shutil.rmtree(out, ignore_errors=True)  # a fresh fold cache: a cached fold would time nothing
        start = time.perf_counter()
        res = cross_validate(spec, cfg, params["seed"], train, test, root / "features/tabular", out / "models" / name,
                             cache=FoldCache(name, out / "cache"))
        seconds = time.perf_counter() - start
        rounds = [f["info"].get("best_iteration") for f in res.folds.values()]
        print(f"{name}: {seconds:.0f} s for {len(res.folds)} folds, best rounds {rounds}; "
              f"at {REAL_EEGS} eegs: ~{seconds * REAL_EEGS / len(train) / 3600:.1f} h on 1 core", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="full")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--workers", type=int, default=8, help="DataLoader workers assumed per GPU (nn.num_workers: -1)")
    ap.add_argument("--gbdt", default=None, help="repo with data/prepared and features/tabular to time the GBDTs on")
    ap.add_argument("--work", default="/tmp/hms_gpu_estimate", help="scratch dir for the GBDT runs")
    ap.add_argument("--no-neural", action="store_true", help="only the GBDT timing (with --gbdt)")
    args = ap.parse_args()
    if not args.no_neural:
        neural(args)
    if args.gbdt:
        gbdt(args)


if __name__ == "__main__":
    main()

"""Speed of the neural base models, on random inputs of the configured feature shapes (no data
needed): training throughput (samples/s, forward + backward + optimizer step at nn.batch_size),
inference latency per eeg (batch of 1, with a second pass when tta_flip is on) and batched inference
throughput. On CPU in fp32; on a CUDA machine the same with AMP off and on (bf16, or fp16 without bf16).
    .venv/bin/python benchmarks/bench_nn.py
    .venv/bin/python benchmarks/bench_nn.py --preset full          # the real-data GPU configuration
Override params like `dvc exp run -S`: --set nn.batch_size=64 --set efficientnet.backbone=efficientnet_b0
Accuracy (cross-validated kl_hq, wall time): benchmarks/bench_cv.py.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from hms.io import write_json  # noqa: E402
from hms.logs import setup_logging  # noqa: E402
from hms.models.registry import get_spec  # noqa: E402
from hms.params import apply_overrides, load_params  # noqa: E402
from hms.presets import preset  # noqa: E402
from hms.train.loss import kl_loss  # noqa: E402
from hms.train.nn.config import effective_loop  # noqa: E402
from hms.train.nn.device import available_cores, make_runtime, place  # noqa: E402
from hms.signal.montage import WAVES_NAMES  # noqa: E402
from hms.train.nn.loop import make_optimizer  # noqa: E402


def feature_shape(params: dict[str, Any], kind: str) -> tuple[int, ...]:
    f = params.get("features", {})
    if kind == "mosaic":
        m = f.get("mosaic", {})
        return (len(m.get("panels", [0] * 8)), int(m.get("n_freqs", 64)), int(m.get("n_frames", 128)))
    w = f.get("waves", {})
    return (len(WAVES_NAMES), int(w.get("seconds", 50)) * int(w.get("fs_out", 40)))


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def speed(name: str, params: dict[str, Any], amp: str, steps: int, reps: int) -> dict[str, Any]:
    spec = get_spec(name)
    full = spec.config({**params[spec.family], "amp": amp}, params[name])
    cfg, loop = full.own, effective_loop(full.shared, full.own)
    shape = feature_shape(params, spec.features)
    rt = make_runtime(loop)
    torch.manual_seed(0)
    model = place(spec.build(full, shape), rt)
    opt = make_optimizer(model, loop, 1e-4)
    scaler = torch.amp.GradScaler(rt.device.type) if rt.needs_scaler else None
    x = torch.randn(loop.batch_size, *shape, device=rt.device)
    y = torch.softmax(torch.randn(loop.batch_size, 6, device=rt.device), dim=1)
    model.train()

    def step() -> None:
        with rt.autocast():
            loss = kl_loss(model(x), y)
        opt.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
        else:
            loss.backward()
            opt.step()

    for _ in range(2):  # warm-up (cudnn autotune, allocator)
        step()
    _sync(rt.device)
    t = time.perf_counter()
    for _ in range(steps):
        step()
    _sync(rt.device)
    train_sps = steps * loop.batch_size / (time.perf_counter() - t)

    model.eval()

    @torch.no_grad()
    def infer(batch: torch.Tensor) -> None:
        with rt.autocast():
            p = torch.softmax(model(batch).float(), dim=1)
            if cfg.tta_flip:
                p = p + torch.softmax(model(batch.flip(1)).float(), dim=1)  # the cost of a TTA pass

    one = x[:1]
    infer(one)
    lat = []
    for _ in range(reps):
        _sync(rt.device)
        t = time.perf_counter()
        infer(one)
        _sync(rt.device)
        lat.append(time.perf_counter() - t)
    xb = torch.randn(loop.eval_batch_size, *shape, device=rt.device)
    infer(xb)
    _sync(rt.device)
    t = time.perf_counter()
    for _ in range(max(1, reps // 5)):
        infer(xb)
    _sync(rt.device)
    infer_sps = max(1, reps // 5) * len(xb) / (time.perf_counter() - t)
    return {"model": name, "net": getattr(cfg, "backbone", None) or type(model).__name__, "input": list(shape),
            "image_size": getattr(cfg, "image_size", None), "device": str(rt.device),
            "amp": str(rt.amp_dtype).replace("torch.", "") if rt.amp_dtype else "off", "threads": torch.get_num_threads(),
            "batch_size": loop.batch_size, "train_samples_per_s": round(train_sps, 1),
            "latency_ms_per_eeg": round(1000 * statistics.median(lat), 2), "tta_flip": cfg.tta_flip,
            "infer_samples_per_s": round(infer_sps, 1),
            "params_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 2)}


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=["efficientnet", "resnet", "wave"])
    ap.add_argument("--params", type=Path, default=REPO / "params.yaml")
    ap.add_argument("--preset", choices=["tiny", "default", "full"], help="use this preset instead of --params")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="params override, e.g. nn.batch_size=64")
    ap.add_argument("--steps", type=int, default=5, help="timed training steps per model (speed)")
    ap.add_argument("--reps", type=int, default=20, help="timed single-eeg inferences per model (speed)")
    ap.add_argument("--out", type=Path, help="write the results as JSON here")
    args = ap.parse_args(argv)
    setup_logging("WARNING")
    params = apply_overrides(preset(args.preset) if args.preset else load_params(args.params), args.set)
    rows: list[dict[str, Any]] = []
    for name in args.models:
        # on a GPU: AMP off and on; on CPU the loop always trains in fp32
        for amp in (("off", "auto") if torch.cuda.is_available() else ("off",)):
            rows.append(speed(name, params, amp, args.steps, args.reps))
        print(json.dumps(rows[-1]), flush=True)
    return finish(rows, {}, args.out)


def finish(rows: list[dict[str, Any]], meta: dict[str, Any], out: Path | None) -> list[dict[str, Any]]:
    """Print the machine (and `meta`) as the last line, and write the results as JSON to `out`."""
    meta = {"cores": available_cores(), "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "torch": torch.__version__, **meta}
    if out:
        write_json({"meta": meta, "results": rows}, out)
    print(json.dumps(meta))
    return rows


if __name__ == "__main__":
    main()

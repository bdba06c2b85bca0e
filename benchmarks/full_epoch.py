"""Measured wall time of the neural models' epochs on this machine, through each model's own fit_fold
(DataLoader workers, augmentations, AMP, EMA, validation with its TTA), on one fold of the prepared data,
and that time scaled to a 5-fold run on the real competition data. Run it from a project directory whose
params.yaml is the configuration to time, usually the `full` preset on a GPU, with its data prepared and
its mosaic and waves features built (docs/gpu.md, "Measured on an H200"):

    python benchmarks/full_epoch.py --out full_epoch.json
    python benchmarks/full_epoch.py --models wave --set nn.batch_size=64

Each model trains `--epochs` stage-1 epochs and one stage-2 epoch; the first stage-1 epoch also pays the
warm-up (cuDNN autotuning, worker start). A model's 5-fold time on the real data is
    folds x seeds x ((epochs x stage-1 epoch + stage2_epochs x stage-2 epoch) x real eegs / timed eegs + warm-up),
with the last timed stage-1 epoch, the model's own epochs and seeds per fold (`loop.seeds`), the real data's 17,001 eegs, and the first
epoch's excess over the second as the warm-up. An epoch trains on 4/5 of the eegs and validates on 1/5 at
any size, so both parts scale with the eeg count; what does not (the workers' start, a fold's test
prediction) is best kept small next to it: `--repeat K` times an epoch that goes K times over the fold's
rows (their count then near the real data's with K = 17 on the embedded 1,000 eegs).
`--check-rows N` also predicts N validation rows with the trained fold on the CPU in fp32 and reports the
largest difference from the device's probabilities (AMP rounding; a wrong device path shows up as far more).
The model speed alone, without data loading: benchmarks/bench_nn.py."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import pandas as pd  # noqa: E402
import torch  # noqa: E402

from benchmarks.bench_nn import finish  # noqa: E402
from hms.data.targets import TARGET_COLS  # noqa: E402
from hms.logs import setup_logging  # noqa: E402
from hms.models.registry import get_spec  # noqa: E402
from hms.models.spec import FoldInputs, ModelConfig  # noqa: E402
from hms.params import apply_overrides, load_params  # noqa: E402
from hms.seed import derive_seed  # noqa: E402
from hms.train.crossval import load_inputs  # noqa: E402
from hms.train.nn.config import effective_loop  # noqa: E402
from hms.train.nn.device import make_runtime  # noqa: E402

REAL_EEGS = 17_001  # train.csv's eegs (docs/gpu.md, ../shared/hms-data.md)
NN_MODELS = ("efficientnet", "resnet", "wave", "sparcnet")


class GpuSampler:
    """Mean GPU utilisation (nvidia-smi's GPU-Util) sampled every 0.2 s while the block runs; None
    without an NVIDIA driver."""

    def __init__(self) -> None:
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> "GpuSampler":
        try:
            import pynvml

            pynvml.nvmlInit()
            handle = pynvml.nvmlDeviceGetHandleByIndex(0)
        except Exception:  # noqa: BLE001 - no library or driver: no utilisation figure, not an error
            return self

        def run() -> None:
            while not self._stop.wait(0.2):
                self.samples.append(int(pynvml.nvmlDeviceGetUtilizationRates(handle).gpu))

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    @property
    def mean(self) -> float | None:
        return round(float(np.mean(self.samples)), 1) if self.samples else None


def time_model(name: str, params: dict[str, Any], fold: int, epochs: int, repeat: int, check_rows: int) -> dict[str, Any]:
    spec = get_spec(name)
    full = spec.config(params[spec.family], params[name])
    real_loop = effective_loop(full.shared, full.own)
    # the model's own loop block wins over the family's, so the short schedule goes into both
    short = {"epochs": epochs, "stage2_epochs": 1}
    own_loop = {**(getattr(full.own, "loop", None) or {}), **short}
    cfg = ModelConfig(dataclasses.replace(full.shared, **short),
                      dataclasses.replace(full.own, loop=own_loop) if hasattr(full.own, "loop") else full.own)
    train = pd.read_parquet("data/prepared/train.parquet")
    test = pd.read_parquet("data/prepared/test.parquet")
    inputs = load_inputs(spec.features, Path("features") / spec.features, train, test)
    folds = train["fold"].to_numpy()
    fi = FoldInputs(fold, inputs.x, train[list(TARGET_COLS)].to_numpy(np.float64), train["n_votes"].to_numpy(),
                    np.tile(np.flatnonzero(folds != fold), repeat), np.tile(np.flatnonzero(folds == fold), repeat),
                    derive_seed(params["seed"], name, fold))
    marks: list[float] = []
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    with GpuSampler() as gpu:
        start = time.perf_counter()
        fit = spec.fit_fold(cfg, fi, lambda step, values: marks.append(time.perf_counter()))
    epoch_s = np.diff([start, *marks]).round(2).tolist()
    stage1, stage2 = epoch_s[-2], epoch_s[-1]
    scale = REAL_EEGS / (len(train) * repeat)
    warm_up = max(epoch_s[0] - stage1, 0.0)
    fits = int(params["folds"]) * real_loop.seeds  # a fold's seeds train one after the other on a GPU
    real_min = fits * ((real_loop.epochs * stage1 + real_loop.stage2_epochs * stage2) * scale + warm_up) / 60
    amp = make_runtime(real_loop).amp_dtype
    row = {"model": name, "device": fit.info["device"], "amp": str(amp).replace("torch.", "") if amp else "off",
           "batch_size": real_loop.batch_size,
           "train_rows": int(len(fi.train_rows)), "valid_rows": int(len(fi.valid_rows)),
           "stage2_rows": int((fi.n_votes[fi.train_rows] >= 10).sum()), "epoch_seconds": epoch_s,
           "repeat": repeat, "stage1_epoch_s": stage1, "stage2_epoch_s": stage2, "warm_up_s": round(warm_up, 2),
           "gpu_util_mean_pct": gpu.mean,
           "peak_gpu_gb": round(torch.cuda.max_memory_allocated() / 2**30, 2) if torch.cuda.is_available() else None,
           "real_schedule": [real_loop.epochs, real_loop.stage2_epochs], "seeds": real_loop.seeds,
           "real_5fold_min": round(real_min, 1)}
    if check_rows:
        row["cpu_vs_device_max_abs"] = cpu_check(spec, cfg, fit.model, inputs.x, fi.valid_rows[:check_rows])
    return row


def cpu_check(spec: Any, cfg: ModelConfig, state: dict[str, torch.Tensor], x: np.ndarray, rows: np.ndarray) -> float:
    """Largest |p_device - p_cpu| over `rows`: the trained fold, saved and loaded as the prediction path does,
    on this machine's device (with its AMP) against the same file on the CPU in fp32."""
    cpu_cfg = ModelConfig(dataclasses.replace(cfg.shared, device="cpu", amp="off"), cfg.own)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"fold{spec.suffix}"
        spec.save(state, path)
        on_device, on_cpu = (spec.predict(c, spec.load(c, path, tuple(x.shape[1:])), x, rows) for c in (cfg, cpu_cfg))
        return float(np.abs(on_device - on_cpu).max())


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=list(NN_MODELS))
    ap.add_argument("--params", type=Path, default=Path("params.yaml"))
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="params override, e.g. nn.batch_size=64")
    ap.add_argument("--fold", type=int, default=0, help="the fold to train (its validation rows are the other part)")
    ap.add_argument("--epochs", type=int, default=2, help="stage-1 epochs; the last one is the timed one (>= 2)")
    ap.add_argument("--repeat", type=int, default=1, help="go K times over the fold's rows per epoch (real-sized epochs)")
    ap.add_argument("--check-rows", type=int, default=0, help="also compare N validation rows' probabilities with the CPU's")
    ap.add_argument("--out", type=Path, help="write the results as JSON here")
    args = ap.parse_args(argv)
    if args.epochs < 2:
        ap.error("--epochs must be at least 2: the first epoch pays the warm-up")
    setup_logging("WARNING")
    params = apply_overrides(load_params(args.params), args.set)
    rows = []
    for name in args.models:
        rows.append(time_model(name, params, args.fold, args.epochs, args.repeat, args.check_rows))
        print(json.dumps(rows[-1]), flush=True)
    return finish(rows, {"real_eegs": REAL_EEGS, "folds": int(params["folds"])}, args.out)


if __name__ == "__main__":
    main()

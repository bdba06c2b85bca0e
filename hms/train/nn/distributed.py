"""Several GPUs through torch DDP, launched by torchrun, for the neural models' one training loop.

With `nn.ddp_processes: N` (N > 1) the nn family runs each fold as

    python -m torch.distributed.run --standalone --nproc-per-node N -m hms.train.nn.distributed JOB_DIR

(one process per GPU with NCCL; N gloo processes on CPU), so `dvc repro` still runs one command per
model and the driver, the fold cache and the predictions are those of one process. Every rank runs the
same fit_fold; the loop's hooks below (`wrap`, `shard`, `local_batch`, `grad_loss`, `all_sum`) make
N processes compute what one process computes:

- the same global batch: each step's `batch_size` rows of the epoch's seeded permutation are split into
  N contiguous shards, one per rank (augmentations are seeded per sample, not per process);
- the same loss: a rank's weighted-mean loss is rescaled to its share of the global weighted mean, so
  DDP's gradient average is the one-process gradient whatever the sample weights (lq_weight);
- the same BatchNorm: statistics over the global batch (torch's SyncBatchNorm on CUDA; on CPU, where
  SyncBatchNorm has no kernels, `global_batch_norm`, an all-reduce form of the same computation);
- the same weights on every rank: DDP broadcasts rank 0's initial weights and averages gradients, so
  every rank takes the same optimizer steps; validation runs on every rank without collectives, and
  rank 0 writes the fold.

What still differs from one process: float summation order (all-reduce, per-shard reductions), which
moves predictions in the last digits (tests/test_ddp.py states the tolerance), and anything random
per sample inside the net (dropout draws its masks per rank), which makes runs with dropout equal in
distribution, not in value. Mixup mixes within a rank's shard.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F

from hms.errors import ConfigError
from hms.models.spec import CurveLogger, FoldFit, FoldInputs, ModelConfig
from hms.train.processes import read_fold_job, write_fold_job

log = logging.getLogger(__name__)

STATE, INFO, CURVES = "state.pt", "info.json", "curves.json"


# ---- inside a rank: the loop's hooks (each is the identity in a single process) ----

def world() -> tuple[int, int]:
    """(rank, world size); (0, 1) outside torchrun."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def wrap(model: nn.Module, device: torch.device) -> tuple[nn.Module, nn.Module]:
    """(model, net): `net` is what training calls, `model` what is evaluated and saved (same weights;
    its state dict has the plain net's keys). In one process both are `model`."""
    rank, size = world()
    if size == 1:
        return model, model
    if device.type == "cuda":
        from timm.layers import convert_sync_batchnorm  # torch's SyncBatchNorm, timm's BatchNormAct2d too

        model = convert_sync_batchnorm(model)
        net = nn.parallel.DistributedDataParallel(model, device_ids=[torch.cuda.current_device()],
                                                  broadcast_buffers=False)
    else:
        F.batch_norm = global_batch_norm  # this process only trains this fold (see global_batch_norm)
        net = nn.parallel.DistributedDataParallel(model, broadcast_buffers=False)
    if rank > 0:  # the same initial weights (DDP broadcast rank 0's), but independent dropout masks per rank
        torch.manual_seed((torch.initial_seed() + 1_000_003 * rank) % 2**63)
    return model, net


def local_batch(batch_size: int) -> int:
    """This rank's share of a global batch (LoopConfig checks that batch_size is a multiple of N)."""
    return batch_size // world()[1]


def shard(order: np.ndarray, batch_size: int, drop_last: bool) -> np.ndarray:
    """This rank's part of an epoch's sample order: every global batch of `batch_size` consecutive
    entries split into N contiguous shards, shard `rank` kept. Read with batches of local_batch()."""
    rank, size = world()
    if size == 1:
        return order
    n_batches = len(order) // batch_size if drop_last else -(-len(order) // batch_size)
    parts = [np.array_split(order[b * batch_size:(b + 1) * batch_size], size)[rank] for b in range(n_batches)]
    if any(len(p) == 0 for p in parts):
        raise ValueError(f"nn.ddp_processes={size}: a batch of {len(order) % batch_size or batch_size} rows "
                         f"cannot be split over {size} processes; use fewer processes or more data")
    return np.concatenate(parts) if parts else order[:0]


def grad_loss(loss: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """The loss to backpropagate: this rank's weighted mean rescaled by N x (its weight / global weight),
    so that DDP's average over ranks is the weighted mean over the global batch."""
    _, size = world()
    if size == 1:
        return loss
    local = weight.detach().float().sum()
    total = local.clone()
    dist.all_reduce(total)
    return loss * (size * local / total.clamp_min(1e-12))


def all_sum(*values: float) -> tuple[float, ...]:
    """Sums over the ranks (e.g. the epoch's loss and weight sums, for a global train loss)."""
    if world()[1] == 1:
        return values
    t = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(t)
    return tuple(float(v) for v in t)


class _AllReduceSum(torch.autograd.Function):
    """Differentiable all-reduce (sum): every rank's loss depends on every rank's inputs through it,
    so its gradient is the all-reduced sum of the incoming gradients."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        x = x.clone()
        dist.all_reduce(x)
        return x

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:  # noqa: D102
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


_batch_norm = F.batch_norm


def global_batch_norm(input: torch.Tensor, running_mean: torch.Tensor | None, running_var: torch.Tensor | None,
                      weight: torch.Tensor | None = None, bias: torch.Tensor | None = None, training: bool = False,
                      momentum: float = 0.1, eps: float = 1e-5) -> torch.Tensor:
    """F.batch_norm with training statistics over the whole global batch (all ranks): SyncBatchNorm for
    devices where torch has no SyncBatchNorm kernels (CPU). Installed in place of F.batch_norm inside a
    DDP rank on CPU, so it serves every BatchNorm flavour (torch's, timm's BatchNormAct2d) unchanged;
    evaluation (running statistics) and single processes go to torch's own batch_norm."""
    if not training or world()[1] == 1:
        return _batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps)
    x = input.float()
    dims = [0, *range(2, x.ndim)]
    shape = [1, -1] + [1] * (x.ndim - 2)
    count = torch.tensor([x.numel() // x.shape[1]], dtype=x.dtype)
    sums = _AllReduceSum.apply(torch.cat([x.sum(dims), count]))
    n = sums[-1]
    mean = sums[:-1] / n
    centred = x - mean.view(shape)
    var = _AllReduceSum.apply((centred * centred).sum(dims)) / n  # two passes, as torch's CPU kernel
    y = centred * torch.rsqrt(var + eps).view(shape)
    if weight is not None:
        y = y * weight.view(shape)
    if bias is not None:
        y = y + bias.view(shape)
    if running_mean is not None and running_var is not None:
        with torch.no_grad():  # as F.batch_norm: the unbiased variance goes into the running estimate
            running_mean.mul_(1 - momentum).add_(mean.detach().to(running_mean.dtype), alpha=momentum)
            unbiased = var.detach() * n / (n - 1).clamp_min(1)
            running_var.mul_(1 - momentum).add_(unbiased.to(running_var.dtype), alpha=momentum)
    return y.to(input.dtype)


# ---- the launcher (the driver's process) and the worker (each rank) ----

def fit_fold(name: str, cfg: ModelConfig, inputs: FoldInputs, log_step: CurveLogger, processes: int) -> FoldFit:
    """Train fold `inputs.fold` of neural model `name` on `processes` DDP ranks (torchrun) and return
    what the single-process fit_fold returns: rank 0's best state dict and its info; the curves are
    replayed into `log_step`."""
    from hms.train.nn.config import effective_loop
    from hms.train.nn.device import available_cores

    loop = effective_loop(cfg.shared, cfg.own)
    cuda = torch.cuda.is_available() and loop.device != "cpu"
    if cuda and torch.cuda.device_count() < processes:
        raise ConfigError(f"nn.ddp_processes={processes} but torch sees {torch.cuda.device_count()} GPU(s); "
                          "set nn.ddp_processes to the number of GPUs (or fewer)")
    with tempfile.TemporaryDirectory(prefix=f"hms-ddp-{name}-") as tmp:
        job = Path(tmp)
        write_fold_job(job, name, {"nn": dataclasses.asdict(cfg.shared), name: dataclasses.asdict(cfg.own)}, inputs)
        env = dict(os.environ)
        if not cuda:
            # CPU ranks share the cores (torchrun would give each one thread)
            env.setdefault("OMP_NUM_THREADS", str(max(1, available_cores() // processes)))
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}",
               "-m", "hms.train.nn.distributed", str(job)]
        log.info("%s fold %d: DDP on %d processes: %s", name, inputs.fold, processes, " ".join(cmd[1:]))
        done = subprocess.run(cmd, env=env, check=False)
        if done.returncode != 0 or not (job / INFO).is_file():
            raise RuntimeError(f"{name} fold {inputs.fold}: DDP training on {processes} processes failed "
                               f"(torchrun exit code {done.returncode}); its messages are above")
        for step, values in json.loads((job / CURVES).read_text()):
            log_step(step, values)
        state = torch.load(job / STATE, map_location="cpu", weights_only=True)
        return FoldFit(state, json.loads((job / INFO).read_text()))


def _worker(job_dir: Path) -> None:
    """One rank: rebuild the fold's inputs and config from the job dir and run the model's fit_fold."""
    from hms.train.nn.config import effective_loop

    rank, local_rank = int(os.environ["RANK"]), int(os.environ["LOCAL_RANK"])
    spec, cfg, inputs, _ = read_fold_job(job_dir)
    loop = effective_loop(cfg.shared, cfg.own)
    cuda = torch.cuda.is_available() and loop.device != "cpu"
    if cuda:
        torch.cuda.set_device(local_rank)
    dist.init_process_group("nccl" if cuda else "gloo")
    try:
        if dist.get_world_size() != loop.ddp_processes:
            raise RuntimeError(f"torchrun started {dist.get_world_size()} processes, nn.ddp_processes is {loop.ddp_processes}")
        curves: list[list[Any]] = []
        fit = spec.fit_fold(cfg, inputs, lambda step, values: curves.append([int(step), {k: float(v) for k, v in values.items()}]))
        if rank == 0:
            spec.save(fit.model, job_dir / STATE)
            (job_dir / CURVES).write_text(json.dumps(curves))
            info = {**fit.info, "ddp_processes": dist.get_world_size(), "ddp_backend": dist.get_backend()}
            (job_dir / INFO).write_text(json.dumps(info))  # last: its presence means the fold is complete
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    if int(os.environ.get("RANK", "0")) != 0:
        os.environ["TQDM_DISABLE"] = "1"  # one progress bar and one log, rank 0's
        logging.basicConfig(level=logging.WARNING)
    else:
        from hms.logs import setup_logging

        setup_logging()
    _worker(Path(sys.argv[1]))

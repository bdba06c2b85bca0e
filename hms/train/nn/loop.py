"""The one training loop of the neural models: KL loss on log-softmax against the normalised votes,
optional two-stage schedule (all eegs, then >= 10-vote eegs), best epoch kept by validation KL."""

from __future__ import annotations

import copy
import logging
import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from hms.constants import HQ_MIN_VOTES, N_CLASSES
from hms.errors import ConfigError
from hms.metrics import cv_scores
from hms.models.spec import CurveLogger, FoldInputs
from hms.seed import derive_seed, seed_everything
from hms.train.loss import kl_loss
from hms.train.nn import distributed as ddp
from hms.train.nn.config import LoopConfig, NetConfig
from hms.train.nn.data import Augment, EpochOrder, FeatureDataset, shift_time
from hms.train.nn.device import Runtime, place

log = logging.getLogger(__name__)


@dataclass
class FoldResult:
    state: dict[str, torch.Tensor]
    best_epoch: int
    best_score: float
    history: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Stage:
    name: str
    rows: np.ndarray
    weights: np.ndarray
    epochs: int
    lr: float


def plan_stages(inputs: FoldInputs, loop: LoopConfig, lr: float) -> list[Stage]:
    """Stage 1: all training rows (lq rows weighted `lq_weight`, or hq rows only when `hq_only`);
    stage 2: hq rows at lr x stage2_lr_mult."""
    rows = inputs.train_rows
    hq = inputs.n_votes[rows] >= HQ_MIN_VOTES
    if loop.hq_only:
        rows1, w1 = rows[hq], np.ones(int(hq.sum()), np.float32)
    else:
        rows1, w1 = rows, np.where(hq, 1.0, loop.lq_weight).astype(np.float32)
    if len(rows1) == 0:
        raise ConfigError("nn.hq_only: no training eeg of this fold has >= 10 votes; set nn.hq_only: false")
    stages = [Stage("stage1", rows1, w1, loop.epochs, lr)]
    if loop.stage2_epochs > 0:
        if hq.sum() == 0:
            log.warning("stage 2 skipped: no eeg with >= %d votes in the training folds", HQ_MIN_VOTES)
        else:
            stages.append(Stage("stage2", rows[hq], np.ones(int(hq.sum()), np.float32), loop.stage2_epochs,
                                lr * loop.stage2_lr_mult))
    return stages


def smooth_few_votes(y: np.ndarray, n_votes: np.ndarray, loop: LoopConfig) -> np.ndarray:
    """Training targets: rows with at most `smooth_votes` votes mixed with the uniform distribution
    (weight `smooth_eps`): a target from a few annotators is mostly their noise (near one-hot)."""
    if loop.smooth_eps == 0:
        return y
    few = (np.asarray(n_votes) <= loop.smooth_votes)[:, None]
    return np.where(few, (1 - loop.smooth_eps) * y + loop.smooth_eps / N_CLASSES, y)


def make_optimizer(model: nn.Module, loop: LoopConfig, lr: float) -> torch.optim.Optimizer:
    # no weight decay on biases and norm parameters (the usual AdamW recipe)
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.ndim <= 1]
    groups = [{"params": decay, "weight_decay": loop.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if loop.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=lr)
    if loop.optimizer == "adam":
        return torch.optim.Adam(groups, lr=lr)
    return torch.optim.SGD(groups, lr=lr, momentum=loop.momentum, nesterov=loop.momentum > 0)


def make_scheduler(opt: torch.optim.Optimizer, loop: LoopConfig, lr: float, total_steps: int) -> torch.optim.lr_scheduler.LRScheduler:
    total_steps = max(total_steps, 1)
    if loop.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=total_steps,
                                                   pct_start=max(loop.warmup_frac, 1e-3), anneal_strategy="cos")
    warmup = int(loop.warmup_frac * total_steps)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        if loop.schedule == "constant":
            return 1.0
        progress = (step - warmup) / max(total_steps - warmup, 1)
        return 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))

    return torch.optim.lr_scheduler.LambdaLR(opt, factor)


def loader(dataset: FeatureDataset, batch_size: int, rt: Runtime, sampler: EpochOrder | None = None,
           drop_last: bool = False, persistent: bool = False) -> DataLoader:
    # The sampler gives the batch order (from our seeded numpy generator) and each epoch's seed. `persistent`
    # keeps a GPU run's workers for every pass of this loader (built once per stage or fold, not per epoch).
    # Not on the CPU: each pass that starts its workers draws their seed from torch's global generator, which
    # the CPU's dropout draws from too, so a loader whose workers persisted would change the fit.
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, shuffle=False, drop_last=drop_last,
                      num_workers=rt.num_workers, pin_memory=rt.pin_memory,
                      persistent_workers=persistent and rt.num_workers > 0 and rt.device.type == "cuda")


@torch.no_grad()
def predict_rows(model: nn.Module | list[nn.Module], array: np.ndarray, rows: np.ndarray, cfg: NetConfig,
                 flip_perm: list[int], rt: Runtime, batch_size: int) -> np.ndarray:
    """(len(rows), 6) float64 probabilities, the mean over the input's views (the input, its
    `tta_shifts` and, with `tta_flip`, the flips of all of them).

    A list of models (the folds of a trained model) gives the mean of their probabilities, summed
    in list order as one model at a time would be. Nets with `shared_input` (a parameter-free input
    transform, e.g. a spectrogram) and `forward_shared` compute that transform once per batch (and
    once for its flip) for all of them: the same operations, so the same numbers."""
    nets = model if isinstance(model, list) else [model]
    return predict_batches(nets, loader(FeatureDataset(array, rows, cfg), batch_size, rt), cfg, flip_perm, rt)[0]


@torch.no_grad()
def predict_batches(nets: list[nn.Module], batches: DataLoader, cfg: NetConfig, flip_perm: list[int], rt: Runtime,
                    with_loss: bool = False) -> tuple[np.ndarray, float | None]:
    """predict_rows over a loader of (x, targets, weights) batches (training keeps one validation loader per
    fold), and with `with_loss` the mean KL loss of the plain input's logits against the targets (one model)."""
    if with_loss and len(nets) != 1:
        raise ValueError("a validation loss needs exactly one model")
    for net in nets:
        net.eval()
    shared = getattr(nets[0], "shared_input", None)
    out, loss_sum, n = [], 0.0, 0
    for x, y, _ in batches:
        x = _to_device(x, rt)
        with rt.autocast():
            views = [x] + [shift_time(x, s) for s in cfg.tta_shifts]
            if cfg.tta_flip:
                views += [v[:, flip_perm] for v in views]
            if shared:
                views = [shared(v) for v in views]
            total = torch.zeros(len(x), N_CLASSES, dtype=torch.float64, device=x.device)
            for net in nets:
                run = net.forward_shared if shared else net
                logits = run(views[0]).float()
                probs = torch.softmax(logits.double(), dim=1)
                for v in views[1:]:
                    probs = probs + torch.softmax(run(v).double(), dim=1)
                total += probs / len(views)
        if with_loss:
            loss_sum += float(kl_loss(logits, y.to(rt.device))) * len(x)
        n += len(x)
        out.append((total / len(nets)).cpu().numpy())
    probs = np.concatenate(out) if out else np.zeros((0, N_CLASSES))
    return probs, (loss_sum / max(n, 1) if with_loss else None)


def _to_device(x: torch.Tensor, rt: Runtime) -> torch.Tensor:
    return x.to(rt.device, non_blocking=rt.pin_memory)


def train_fold(build: Callable[[], nn.Module], cfg: NetConfig, loop: LoopConfig, rt: Runtime, inputs: FoldInputs,
               augment: Augment | None, flip_perm: list[int], on_epoch: CurveLogger | None = None,
               name: str = "model") -> FoldResult:
    """Train one fold; returns the state dict of the epoch with the best validation `select_on`.
    `build` makes the untrained net (called after seeding, so its initial weights follow the seed)."""
    seed, fold, lr = inputs.seed, inputs.fold, loop.lr * cfg.lr_mult
    seed_everything(seed)
    # deterministic mode also fills every new tensor with NaN to expose reads of uninitialised
    # memory: a debugging aid that costs ~20% of a CPU step and changes no result
    torch.utils.deterministic.fill_uninitialized_memory = False
    model = place(build(), rt)
    model, net = ddp.wrap(model, rt.device)  # net: the DDP module under torchrun (distributed.py), else model
    scaler = torch.amp.GradScaler(rt.device.type) if rt.needs_scaler else None
    mix_gen = torch.Generator().manual_seed(derive_seed(seed, "mixup"))
    valid_targets = inputs.y[inputs.valid_rows]
    valid_votes = inputs.n_votes[inputs.valid_rows]
    ema = EMA(model, loop.ema_decay) if loop.ema_decay > 0 else None
    best: FoldResult | None = None
    history: list[dict[str, Any]] = []
    epoch = 0
    opt: torch.optim.Optimizer | None = None
    targets = smooth_few_votes(inputs.y, inputs.n_votes, loop)
    valid = loader(FeatureDataset(inputs.x, inputs.valid_rows, cfg, targets=valid_targets), loop.eval_batch_size, rt,
                   persistent=True)
    for stage in plan_stages(inputs, loop, lr):
        ds = FeatureDataset(inputs.x, stage.rows, cfg, targets[stage.rows], stage.weights, augment)
        drop_last = len(ds) > loop.batch_size  # no 1-sample tail batch: BatchNorm needs > 1 value
        steps_per_epoch = len(ds) // loop.batch_size if drop_last else 1
        sampler = EpochOrder()
        batches = loader(ds, ddp.local_batch(loop.batch_size), rt, sampler, drop_last, persistent=True)
        if opt is None or not loop.stage2_keep_opt:
            opt = make_optimizer(model, loop, stage.lr)
        else:
            # keep the moment estimates; the new stage's schedule starts from its own lr
            for group in opt.param_groups:
                group["lr"] = group["initial_lr"] = stage.lr
        sched = make_scheduler(opt, loop, stage.lr, steps_per_epoch * stage.epochs)
        for _ in range(stage.epochs):
            epoch += 1
            ep_seed = derive_seed(seed, stage.name, epoch)
            order = np.random.default_rng(ep_seed).permutation(len(ds))
            sampler.set(ddp.shard(order, loop.batch_size, drop_last), ep_seed)  # this rank's part of each global batch
            model.train()
            # summed on the device in float64 (the same numbers as Python floats): no host sync per step
            loss_sum = torch.zeros((), dtype=torch.float64, device=rt.device)
            weight_sum = torch.zeros((), dtype=torch.float64, device=rt.device)
            bar = tqdm(batches, desc=f"{name} fold {fold} {stage.name} ep {epoch}", leave=False, mininterval=2.0)
            for step, (x, y, w) in enumerate(bar, 1):
                x, y, w = _to_device(x, rt), y.to(rt.device), w.to(rt.device)
                if cfg.mixup_alpha > 0 and torch.rand(1, generator=mix_gen).item() < cfg.mixup_prob:
                    x, y, w = _mixup(x, y, w, cfg.mixup_alpha, mix_gen)
                with rt.autocast():
                    loss = kl_loss(net(x), y, w)
                opt.zero_grad(set_to_none=True)
                grad_loss = ddp.grad_loss(loss, w)  # DDP: the rank's share of the global batch's loss
                if scaler is not None:
                    scaler.scale(grad_loss).backward()
                    scaler.unscale_(opt)
                else:
                    grad_loss.backward()
                if loop.grad_clip:
                    nn.utils.clip_grad_norm_(model.parameters(), loop.grad_clip)
                if scaler is not None:
                    scaler.step(opt)
                    scaler.update()
                else:
                    opt.step()
                sched.step()
                if ema is not None:
                    ema.update(model)
                w_sum = w.sum().double()
                loss_sum += loss.detach().double() * w_sum
                weight_sum += w_sum
                if step % 50 == 0:
                    bar.set_postfix(loss=f"{float(loss_sum) / max(float(weight_sum), 1e-12):.4f}", refresh=False)
            loss_sum, weight_sum = ddp.all_sum(float(loss_sum), float(weight_sum))  # DDP: over the global batch
            eval_model = ema.module if ema is not None else model
            probs, valid_loss = predict_batches([eval_model], valid, cfg, flip_perm, rt, with_loss=True)
            scores = cv_scores(valid_targets, probs, valid_votes)
            row = {"epoch": epoch, "stage": stage.name, "lr": stage.lr, "train_loss": loss_sum / max(weight_sum, 1e-12),
                   "valid_loss": valid_loss, "valid_kl_all": scores["kl_all"], "valid_kl_hq": scores["kl_hq"]}
            history.append(row)
            if on_epoch is not None:
                on_epoch(epoch, {k: float(row[k]) for k in ("train_loss", "valid_loss", "valid_kl_all", "valid_kl_hq")
                                 if row[k] is not None})
            log.info("%s fold %d %s epoch %d: train %.4f valid %.4f kl_all %.4f kl_hq %s", name, fold, stage.name, epoch,
                     row["train_loss"], valid_loss, scores["kl_all"], scores["kl_hq"])
            score = scores[loop.select_on] if scores[loop.select_on] is not None else scores["kl_all"]
            if best is None or score < best.best_score:
                # deep copy on CPU: the model keeps training
                best = FoldResult({k: v.detach().to("cpu", copy=True) for k, v in eval_model.state_dict().items()}, epoch, score)
    assert best is not None
    best.history = history
    return best


class EMA:
    """Shadow copy of a model whose float weights follow e <- d e + (1 - d) w after each optimiser
    step. d ramps up as min(decay, (1 + n) / (10 + n)) so the random initial weights are forgotten
    within the first steps; buffers (BatchNorm statistics) are copied, not averaged."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.module = copy.deepcopy(model).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)
        self.decay = decay
        self.updates = 0

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.updates += 1
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        shadow, live = list(self.module.parameters()), [p.detach() for p in model.parameters()]
        torch._foreach_mul_(shadow, d)  # a few fused kernels on a GPU; on a CPU, the per-tensor ops
        torch._foreach_add_(shadow, live, alpha=1 - d)
        for e, b in zip(self.module.buffers(), model.buffers()):
            e.copy_(b)


def _mixup(x: torch.Tensor, y: torch.Tensor, w: torch.Tensor, alpha: float,
           gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    # lam from numpy seeded by the fold's torch generator: one generator drives all mixup draws
    lam = float(np.random.default_rng(int(torch.randint(2**31, (1,), generator=gen))).beta(alpha, alpha))
    perm = torch.randperm(len(x), generator=gen).to(x.device)
    return lam * x + (1 - lam) * x[perm], lam * y + (1 - lam) * y[perm], lam * w + (1 - lam) * w[perm]


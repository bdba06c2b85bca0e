"""The `nn` params block (the one training loop shared by every neural model) and the keys every
neural model block shares. The dataclass defaults are the `default` preset (tests/test_params.py
checks params.yaml against them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hms.errors import ConfigError

OPTIMIZERS = ("adamw", "adam", "sgd")
SCHEDULES = ("cosine", "onecycle", "constant")
NORMALIZE = ("none", "center", "sample", "fixed")

# The recipe that made the from-scratch nets learn in the CPU budget (docs/neural.md): 6 + 2 epochs, an
# EMA of the weights, stage 2 continuing stage 1's AdamW moments. A model's `loop` default starts from it
# with the epoch counts that model's validation curves asked for: `ema_recipe(epochs=8)` (resnet keeps `nn`).
EMA_RECIPE: dict[str, Any] = {"ema_decay": 0.99, "epochs": 6, "stage2_epochs": 2, "stage2_keep_opt": True}


def ema_recipe(**changes: Any) -> Any:
    """A dataclass field whose default is EMA_RECIPE with `changes` applied."""
    return field(default_factory=lambda: {**EMA_RECIPE, **changes})


@dataclass
class LoopConfig:
    lr: float = 0.001  # base learning rate; a model trains at lr x its lr_mult (`dvc exp run -S nn.lr=3e-4`)
    epochs: int = 3  # stage 1: every eeg of the training folds
    batch_size: int = 32
    eval_batch_size: int = 128
    optimizer: str = "adamw"  # adamw | adam | sgd
    weight_decay: float = 0.01
    momentum: float = 0.9  # sgd only
    schedule: str = "cosine"  # cosine (linear warm-up, then cosine) | onecycle | constant (after warm-up)
    warmup_frac: float = 0.1  # share of each stage's steps spent warming up (onecycle: pct_start)
    grad_clip: float | None = 1.0  # max gradient norm; null = off
    # Stage 1 trains on every eeg of the training folds, eegs with < 10 votes weighted lq_weight;
    # stage 2 fine-tunes on eegs with >= 10 votes for stage2_epochs at lr x stage2_lr_mult.
    lq_weight: float = 0.5
    hq_only: bool = False  # stage 1 on eegs with >= 10 votes only
    stage2_epochs: int = 1
    stage2_lr_mult: float = 0.3
    # Stage 2 continues stage 1's AdamW state (its moment estimates) at the stage-2 lr instead of
    # restarting from zero moments, whose first steps are large (measured: wave kl_hq, docs/neural.md).
    stage2_keep_opt: bool = False
    # > 0: validate, select and keep an exponential moving average of the weights (yu4u's ModelEmaV2
    # option in the top HMS solutions); smooths the noisy last steps of a small-data run. 0 = off.
    ema_decay: float = 0.0
    # Label smoothing of few-vote eegs (issue 11's recipe list): training targets of eegs with at most
    # smooth_votes votes become (1 - smooth_eps) y + smooth_eps / 6, in every stage (stage 2's eegs have
    # >= 10 votes, so in effect stage 1 unless smooth_votes reaches that). Validation keeps the votes. 0 = off.
    smooth_votes: int = 3
    smooth_eps: float = 0.0
    select_on: str = "kl_hq"  # validation metric that picks each fold's best epoch: kl_hq | kl_all
    device: str = "auto"  # auto (cuda when present) | cpu | cuda
    amp: str = "auto"  # auto (bf16 if supported, else fp16, on cuda; off on cpu) | bf16 | fp16 | off
    # 2D convolution weights in channels-last memory format, which oneDNN (CPU) and cuDNN (GPU) convolutions
    # run 2-3x faster (measured on CPU, docs/neural.md); the inputs follow the weights. No effect on 1D nets.
    channels_last: bool = True
    threads: int = 0  # torch CPU threads; 0 = the cores this process may use (capped by OMP_NUM_THREADS)
    num_workers: int = -1  # DataLoader workers; -1 = 0 on cpu, min(8, cores - 1) on cuda
    # > 1: DDP over this many processes (one per GPU; gloo processes on CPU), torchrun per fold
    # (hms/train/nn/distributed.py); batch_size stays the global batch, so it must be a multiple of it
    ddp_processes: int = 1
    # Folds trained at once on CPU, each in its own process with `threads` (0: cores / fold_processes) torch
    # threads: small nets use two cores better as two 1-thread processes than as one 2-thread one (docs/neural.md).
    # 0 = auto: cores / threads on CPU (at most the folds), 1 with a GPU or DDP. A fold's thread count is
    # part of its plan, so the same params on the same machine give the same bytes.
    fold_processes: int = 0
    # Nets trained per fold, each from its own seed (its initial weights, batch order, augmentations and
    # dropout); the fold's OOF and test predictions are the mean of their probabilities. The seed
    # averaging of the top HMS teams: the from-scratch nets' fold scores move by 0.01-0.09 from seed to
    # seed (docs/neural.md, "Seed spread"), and the mean of two is better than either. Each costs a fit.
    seeds: int = 1

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"nn.optimizer must be one of {OPTIMIZERS}, not {self.optimizer!r}")
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"nn.schedule must be one of {SCHEDULES}, not {self.schedule!r}")
        if self.select_on not in ("kl_hq", "kl_all"):
            raise ConfigError(f"nn.select_on must be kl_hq or kl_all, not {self.select_on!r}")
        if self.amp not in ("auto", "bf16", "fp16", "off"):
            raise ConfigError(f"nn.amp must be auto, bf16, fp16 or off, not {self.amp!r}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ConfigError(f"nn.device must be auto, cpu or cuda, not {self.device!r}")
        if self.epochs < 1 or self.stage2_epochs < 0 or self.batch_size < 1:
            raise ConfigError("nn: epochs must be >= 1, stage2_epochs >= 0, batch_size >= 1")
        if not 0 <= self.warmup_frac < 1:
            raise ConfigError(f"nn.warmup_frac must be in [0, 1), got {self.warmup_frac}")
        if not 0 <= self.ema_decay < 1:
            raise ConfigError(f"nn.ema_decay must be in [0, 1), got {self.ema_decay}")
        if not 0 <= self.smooth_eps < 1 or self.smooth_votes < 0:
            raise ConfigError(f"nn.smooth_eps must be in [0, 1) and nn.smooth_votes >= 0, got {self.smooth_eps} "
                              f"and {self.smooth_votes}")
        if self.lq_weight < 0 or self.lr <= 0:
            raise ConfigError("nn.lq_weight must be >= 0 and nn.lr > 0")
        if self.ddp_processes < 1 or self.batch_size % self.ddp_processes:
            raise ConfigError(f"nn.ddp_processes must be >= 1 and divide nn.batch_size (the global batch): "
                              f"{self.ddp_processes} and {self.batch_size}")
        if self.seeds < 1:
            raise ConfigError(f"nn.seeds must be >= 1 (nets trained per fold), got {self.seeds}")
        if self.fold_processes < 0 or (self.fold_processes > 1 and (self.ddp_processes > 1 or self.device == "cuda")):
            raise ConfigError(f"nn.fold_processes must be >= 0 (0 = auto) and, above 1, trains folds in CPU processes: "
                              f"got {self.fold_processes} with nn.device {self.device} and nn.ddp_processes "
                              f"{self.ddp_processes}; use 0 or 1 on a GPU")


@dataclass
class NetConfig:
    """Keys every neural model block shares (its net's own keys live in its module)."""

    lr_mult: float = 2.0  # the model's learning rate = nn.lr x lr_mult
    loop: dict[str, Any] = field(default_factory=dict)  # this model's overrides of the `nn` block, e.g. {epochs: 5}
    # The feature stages already scale their arrays (docs/features.md), so the default is none;
    # center: subtract each sample's mean over all its values | sample: also divide by their std |
    # fixed: divide by `scale`.
    normalize: str = "none"
    scale: float = 1.0  # divisor for normalize=fixed
    clip: float | None = None  # clip the (normalised) inputs to ±clip; null = off
    flip_prob: float = 0.5  # left/right flip (swap LL<->RL, LP<->RP), training only
    shift_frac: float = 0.05  # random time shift up to ±shift_frac of the window, training only
    mixup_alpha: float = 0.0  # Beta(alpha, alpha) mixup of inputs and targets; 0 = off
    mixup_prob: float = 0.5  # share of batches that are mixed when mixup_alpha > 0
    tta_flip: bool = True  # average predictions of the input and its flip (OOF, test, predict)
    # Time shifts (in input steps, zero-filled as in training) whose predictions are averaged with the
    # unshifted input's, in validation too. A strided stem sees a shift by part of its stride as new
    # samples of the signal, so the average is over the stem's phases (measured: docs/neural.md).
    tta_shifts: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.normalize not in NORMALIZE:
            raise ConfigError(f"normalize must be one of {NORMALIZE}, not {self.normalize!r}")
        if self.lr_mult <= 0 or self.scale <= 0:
            raise ConfigError("lr_mult and scale must be > 0")
        for key in ("flip_prob", "mixup_prob"):
            if not 0 <= getattr(self, key) <= 1:
                raise ConfigError(f"{key} must be in [0, 1], got {getattr(self, key)}")
        if any(isinstance(v, bool) or not isinstance(v, int) or v == 0 for v in self.tta_shifts):
            raise ConfigError(f"tta_shifts must be a list of non-zero integers (input steps), not {self.tta_shifts!r}")
        unknown = sorted(set(self.loop) - set(LoopConfig.__dataclass_fields__))
        if unknown:
            raise ConfigError(f"loop: unknown key(s) {unknown}; known: {sorted(LoopConfig.__dataclass_fields__)}")


def effective_loop(shared: LoopConfig, own: NetConfig) -> LoopConfig:
    """The `nn` block with the model block's `loop` overrides applied."""
    import dataclasses

    return dataclasses.replace(shared, **own.loop) if own.loop else shared

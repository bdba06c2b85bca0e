"""The `nn` params block: the one training loop shared by every neural model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hms.models.nets import NetConfig
from hms.params import to_dataclass

OPTIMIZERS = ("adamw", "adam", "sgd")
SCHEDULES = ("cosine", "onecycle", "constant")


@dataclass
class LoopConfig:
    epochs: int = 4  # stage 1 epochs
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
    lq_weight: float = 1.0
    hq_only: bool = False  # stage 1 on eegs with >= 10 votes only
    stage2_epochs: int = 0
    stage2_lr_mult: float = 0.3
    select_on: str = "kl_hq"  # validation metric that picks the best epoch: kl_hq | kl_all
    device: str = "auto"  # auto (cuda when present) | cpu | cuda
    amp: str = "auto"  # auto (bf16 if supported, else fp16, on cuda; off on cpu) | bf16 | fp16 | off
    channels_last: bool = True  # image models on cuda
    threads: int = 0  # torch CPU threads; 0 = the cores this process may use (capped by OMP_NUM_THREADS)
    num_workers: int = -1  # DataLoader workers; -1 = 0 on cpu, min(8, cores - 1) on cuda

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"nn.optimizer must be one of {OPTIMIZERS}, not {self.optimizer!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"nn.schedule must be one of {SCHEDULES}, not {self.schedule!r}")
        if self.select_on not in ("kl_hq", "kl_all"):
            raise ValueError(f"nn.select_on must be kl_hq or kl_all, not {self.select_on!r}")
        if self.amp not in ("auto", "bf16", "fp16", "off"):
            raise ValueError(f"nn.amp must be auto, bf16, fp16 or off, not {self.amp!r}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"nn.device must be auto, cpu or cuda, not {self.device!r}")
        if self.epochs < 1 or self.stage2_epochs < 0 or self.batch_size < 1:
            raise ValueError("nn: epochs must be >= 1, stage2_epochs >= 0, batch_size >= 1")
        if not 0 <= self.warmup_frac < 1:
            raise ValueError(f"nn.warmup_frac must be in [0, 1), got {self.warmup_frac}")
        if self.lq_weight < 0:
            raise ValueError("nn.lq_weight must be >= 0")


def loop_config(params: dict[str, Any], model_cfg: NetConfig, name: str) -> LoopConfig:
    """The `nn` block with the model block's `loop` overrides applied."""
    merged = {**(params.get("nn") or {}), **(model_cfg.loop or {})}
    return to_dataclass(LoopConfig, merged, f"nn (with {name}.loop)")

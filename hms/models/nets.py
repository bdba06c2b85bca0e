"""A small timm-style registry of the neural base models: name -> (config class, builder).

`create_model(name, cfg, input_shape)` builds the torch module that maps one batch of the model's
feature array (mosaic: (B, 8, F, T) panels, waves: (B, 18, T) signals, already normalised by the
data pipeline) to (B, 6) logits in class order. The config of a model is its params.yaml block
(`efficientnet`, `resnet`, `wave`), one dataclass per block: `model_config(name, block)`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import torch.nn as nn

from hms.params import to_dataclass


@dataclass
class NetConfig:
    """Keys every neural model block shares (augmentation and loop knobs live beside the net's)."""

    lr_mult: float = 1.0  # the model's learning rate = top-level `lr` x lr_mult
    loop: dict[str, Any] = field(default_factory=dict)  # per-model overrides of the `nn` block (e.g. epochs)
    # The feature stages already scale their arrays (docs/features.md), so the default is none;
    # sample: standardise each sample over all its values | fixed: divide by `scale`.
    normalize: str = "none"
    scale: float = 1.0  # divisor for normalize=fixed
    clip: float | None = None  # clip the (normalised) inputs to ±clip; null = off
    flip_prob: float = 0.5  # left/right flip (swap LL<->RL, LP<->RP), training only
    shift_frac: float = 0.05  # random time shift up to ±shift_frac of the window, training only
    mixup_alpha: float = 0.0  # Beta(alpha, alpha) mixup of inputs and targets; 0 = off
    mixup_prob: float = 0.5  # share of batches that are mixed when mixup_alpha > 0
    tta_flip: bool = True  # average predictions of the input and its flip (OOF, test, predict)

    def __post_init__(self) -> None:
        if self.normalize not in ("sample", "fixed", "none"):
            raise ValueError(f"normalize must be sample, fixed or none, not {self.normalize!r}")
        if self.lr_mult <= 0 or self.scale <= 0:
            raise ValueError("lr_mult and scale must be > 0")
        for key in ("flip_prob", "mixup_prob"):
            if not 0 <= getattr(self, key) <= 1:
                raise ValueError(f"{key} must be in [0, 1], got {getattr(self, key)}")


@dataclass(frozen=True)
class NetSpec:
    name: str
    config_cls: type[NetConfig]
    build: Callable[[Any, tuple[int, ...]], nn.Module]  # (cfg, input_shape without batch) -> module
    features: str  # mosaic | waves
    defaults: dict[str, Any]  # config values that differ per registered name (e.g. the timm backbone)


NETS: dict[str, NetSpec] = {}


def register(spec: NetSpec) -> None:
    NETS[spec.name] = spec


def get_net(name: str) -> NetSpec:
    _load_builtin()
    if name not in NETS:
        raise KeyError(f"unknown neural model {name!r}; registered: {sorted(NETS)}")
    return NETS[name]


def net_names() -> list[str]:
    """Every registered neural model name."""
    _load_builtin()
    return sorted(NETS)


def model_config(name: str, block: dict[str, Any] | None) -> NetConfig:
    """The dataclass of params block `name`, with the registry's per-name defaults filled in."""
    spec = get_net(name)
    values = {**spec.defaults, **{k: v for k, v in (block or {}).items() if v is not None or k not in spec.defaults}}
    return to_dataclass(spec.config_cls, values, name)


def create_model(name: str, cfg: NetConfig, input_shape: tuple[int, ...]) -> nn.Module:
    """Build registered net `name` for inputs of shape (B, *input_shape); returns logits (B, 6)."""
    return get_net(name).build(cfg, tuple(input_shape))


def _load_builtin() -> None:
    # Importing the modules registers their nets (idempotent); done lazily to keep `import hms` light.
    from hms.models import image, wave  # noqa: F401

"""The `gbdt` params block shared by the GBDT models (row weights, the hq stage). Each model's own
block is defined in its module (hms/models/lgbm.py, hms/models/catboost.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from hms.errors import ConfigError


@dataclass
class GbdtConfig:
    # Row weight = (min(n_votes, weight_cap) / weight_cap) ** weight_power; 0 = every eeg counts the same.
    weight_power: float = 0.5
    weight_cap: int = 10
    # Stage 2: continue boosting on the training eegs with >= hq_min_votes votes (the part of train that
    # resembles the hidden test set), early-stopped on the validation fold's rows of tier `hq_valid`.
    hq_stage: bool = True
    hq_min_votes: int = 10
    hq_rounds: int = 200
    hq_valid: Literal["hq", "all"] = "hq"

    def __post_init__(self) -> None:
        if self.weight_cap < 1 or self.weight_power < 0:
            raise ConfigError("params.yaml gbdt: weight_cap must be >= 1 and weight_power >= 0")
        if self.hq_valid not in ("hq", "all"):
            raise ConfigError(f"params.yaml gbdt.hq_valid must be 'hq' or 'all', not {self.hq_valid!r}")

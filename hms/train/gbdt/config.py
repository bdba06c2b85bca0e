"""The params blocks of the GBDT models: `gbdt` (shared: weights, hq stage) and one per library."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from hms.params import to_dataclass


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
            raise ValueError("params.yaml gbdt: weight_cap must be >= 1 and weight_power >= 0")
        if self.hq_valid not in ("hq", "all"):
            raise ValueError(f"params.yaml gbdt.hq_valid must be 'hq' or 'all', not {self.hq_valid!r}")


@dataclass
class LgbmConfig:
    learning_rate: float = 0.05
    num_leaves: int = 15
    max_depth: int = -1
    min_data_in_leaf: int = 20
    feature_fraction: float = 0.3  # per tree
    bagging_fraction: float = 0.8
    bagging_freq: int = 1
    lambda_l2: float = 1.0
    max_bin: int = 31
    num_boost_round: int = 500
    early_stopping_rounds: int = 30
    threads: int = 2
    device: Literal["cpu", "gpu", "cuda"] = "cpu"  # gpu = OpenCL build, cuda = CUDA build of LightGBM

    def __post_init__(self) -> None:
        if self.device not in ("cpu", "gpu", "cuda"):
            raise ValueError(f"params.yaml lgbm.device must be cpu, gpu or cuda, not {self.device!r}")


@dataclass
class CatboostConfig:
    learning_rate: float = 0.15
    depth: int = 4
    l2_leaf_reg: float = 3.0
    rsm: float = 0.2  # feature subsampling per split (CPU only)
    border_count: int = 32
    # Plain: classic gradient boosting. CatBoost's own default on small data is Ordered (less
    # overfitting on tiny sets, several times slower on CPU): blow the budget on the default data.
    boosting_type: Literal["Plain", "Ordered"] = "Plain"
    iterations: int = 500
    early_stopping_rounds: int = 30
    threads: int = 2
    device: Literal["cpu", "gpu"] = "cpu"

    def __post_init__(self) -> None:
        if self.device not in ("cpu", "gpu"):
            raise ValueError(f"params.yaml catboost.device must be cpu or gpu, not {self.device!r}")
        if self.boosting_type not in ("Plain", "Ordered"):
            raise ValueError(f"params.yaml catboost.boosting_type must be Plain or Ordered, not {self.boosting_type!r}")
        if self.device == "gpu" and self.rsm < 1:
            # CatBoost supports rsm on GPU only for pairwise losses; refusing beats silently ignoring it.
            raise ValueError("params.yaml catboost: rsm < 1 is not supported on GPU; set catboost.rsm: 1.0 with device: gpu")


MODEL_CONFIGS: dict[str, type] = {"lgbm": LgbmConfig, "catboost": CatboostConfig}


def load_configs(name: str, params: dict[str, Any]) -> tuple[GbdtConfig, Any]:
    """(gbdt block, model block) from the whole params dict; unknown keys are an error."""
    if name not in MODEL_CONFIGS:
        raise KeyError(f"hms.train.gbdt: no GBDT model {name!r}; known: {sorted(MODEL_CONFIGS)}")
    gbdt = to_dataclass(GbdtConfig, params.get("gbdt"), "gbdt")
    model = to_dataclass(MODEL_CONFIGS[name], params.get(name), name)
    return gbdt, model


def as_dict(cfg: Any) -> dict[str, Any]:
    return dataclasses.asdict(cfg)

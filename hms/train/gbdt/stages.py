"""The two training stages shared by both libraries: which rows stage 2 uses, and whether to keep it."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hms.train.gbdt.config import GbdtConfig
from hms.train.gbdt.data import FoldData

log = logging.getLogger(__name__)


@dataclass
class StageOutcome:
    """What one fold's training did; stored in fold{k}.json and reported in FitResult.extra."""

    best_iteration: int  # stage-1 boosting rounds kept
    valid_kl: float  # stage-1 validation KL (all validation rows) at best_iteration
    curve: list[float]  # stage-1 validation KL per round
    hq_stage: str = "off"  # off | kept | no gain | skipped: <reason>
    hq_rounds: int = 0  # stage-2 rounds kept (0 = the stage-1 model is the fold model)
    hq_valid_kl_before: float | None = None  # stage-2 validation KL of the stage-1 model
    hq_valid_kl: float | None = None  # ... of the fold model
    hq_curve: list[float] = field(default_factory=list)  # stage-2 validation KL per round

    def to_json(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["curve"] = [round(float(v), 7) for v in self.curve]
        out["hq_curve"] = [round(float(v), 7) for v in self.hq_curve]
        return out


def hq_rows(gb: GbdtConfig, data: FoldData) -> tuple[np.ndarray | None, np.ndarray | None, str]:
    """(stage-2 training rows, stage-2 validation rows, reason if stage 2 cannot run)."""
    if not gb.hq_stage:
        return None, None, "off"
    train_rows = np.flatnonzero(data.hq_train)
    valid_rows = np.flatnonzero(data.hq_valid) if gb.hq_valid == "hq" else np.arange(len(data.y_valid))
    if len(train_rows) == 0 or len(valid_rows) == 0:
        reason = (f"skipped: {len(train_rows)} training and {len(valid_rows)} validation eegs with "
                  f">= {gb.hq_min_votes} votes in fold {data.fold}")
        log.warning("fold %d: hq stage %s", data.fold, reason)
        return None, None, reason
    return train_rows, valid_rows, ""


def keep_stage2(best_kl: float, before_kl: float) -> bool:
    """Stage 2 is kept only if its best round beats the stage-1 model on the same validation rows."""
    return best_kl < before_kl

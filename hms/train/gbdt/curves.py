"""Per-round validation curves of every fold, through dvclive (`dvclive/<name>/plots/metrics`, x = step)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def log_curves(live_dir: Path, fold_outcomes: dict[int, dict[str, Any]]) -> None:
    """One series per fold and stage: `fold{k}/valid_kl` (stage 1, all validation rows) and
    `fold{k}/hq_valid_kl` (stage 2, its validation rows), whose steps continue after stage 1's best round."""
    from dvclive import Live

    # dvcyaml=False: dvc.yaml (shared, hand-written) already declares these plots; never let dvclive edit it.
    with Live(dir=str(live_dir), save_dvc_exp=False, dvcyaml=False, report=None) as live:
        for k, out in sorted(fold_outcomes.items()):
            for step, value in enumerate(out["curve"], start=1):
                live.step = step
                live.log_metric(f"fold{k}/valid_kl", value)
            for step, value in enumerate(out["hq_curve"], start=out["best_iteration"] + 1):
                live.step = step
                live.log_metric(f"fold{k}/hq_valid_kl", value)
        for k, out in sorted(fold_outcomes.items()):
            # Summary (dvclive/<name>/metrics.json) = each fold's final validation KL, not the last logged point.
            live.summary[f"fold{k}"] = {"valid_kl": out["valid_kl"], "hq_valid_kl": out["hq_valid_kl"],
                                        "best_iteration": out["best_iteration"], "hq_rounds": out["hq_rounds"]}
    log.info("validation curves written to %s", live_dir)

"""The `evaluate` stage as a function: score every model's OOF predictions on the same prepared
table, add the floor on synthetic data, write the plots' data and reports/summary.md."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hms.data.layout import DataDir
from hms.data.targets import TARGET_COLS
from hms.ensemble.inputs import load_oof
from hms.io import write_csv, write_json, write_text
from hms.metrics import cv_scores
from hms.report.figures import plot_blend_weights, plot_calibration, plot_class_kl
from hms.report.scores import calibration, class_kl, confusion_rows, floor_scores
from hms.submission import load_sample_submission, validate_submission

log = logging.getLogger(__name__)


@dataclass
class ReportPaths:
    metrics: Path = Path("metrics/evaluate.json")
    summary: Path = Path("reports/summary.md")
    plots: Path = Path("reports/plots")


def evaluate(train: pd.DataFrame, base_models: list[str], pred_dir: Path, blender_json: Path, data_dir: Path,
             submission: Path | None, paths: ReportPaths = ReportPaths()) -> dict[str, Any]:
    """One row per model: prior (pred_dir/prior), the base models (pred_dir/base/<name>), the ensemble
    (pred_dir/ensemble)."""
    pred_dir = Path(pred_dir)
    models = ["prior", *base_models, "ensemble"]
    probs = np.concatenate([load_oof(pred_dir, ["prior"], train), load_oof(pred_dir / "base", base_models, train),
                            load_oof(pred_dir, ["ensemble"], train)])
    y = train[list(TARGET_COLS)].to_numpy(np.float64)
    n_votes = train["n_votes"].to_numpy()
    # Each model's kl_hq (the headline number) at the top level and kl_all in a block: short column
    # names, so `dvc exp show` compares every model in one screen (README).
    metrics: dict[str, Any] = {}
    scores = {name: cv_scores(y, p, n_votes) for name, p in zip(models, probs)}
    metrics.update({name: s["kl_hq"] for name, s in scores.items()})
    metrics["kl_all"] = {name: s["kl_all"] for name, s in scores.items()}
    metrics["n_all"], metrics["n_hq"] = int(len(train)), int((train["tier"] == "hq").sum())
    data = DataDir(data_dir)
    if data.latent.is_file():
        metrics.update(floor_scores(train, data.latent))

    blender = json.loads(Path(blender_json).read_text())
    weights = blender["weights"] if blender["blender"] == "pool" else blender["importance"]
    sub_rows = None
    if submission is not None:
        sub = pd.read_csv(submission)
        validate_submission(sub, load_sample_submission(data_dir), where=str(submission))
        sub_rows = len(sub)

    final = models[-1]  # the ensemble: the model the plots describe
    paths.plots.mkdir(parents=True, exist_ok=True)
    write_csv(confusion_rows(train, probs[-1]), paths.plots / "confusion_hq.csv")
    plot_blend_weights(weights, blender["blender"], paths.plots / "blend_weights.png")
    tables = {name: class_kl(train, p) for name, p in zip(models, probs)}
    plot_class_kl(tables, paths.plots / "class_kl.png")
    plot_calibration(calibration(train, probs[-1]), paths.plots / "calibration.png",
                     f"Reliability of {final} (nested-CV OOF, all samples)")
    write_json(metrics, paths.metrics)
    write_text(summary_markdown(metrics, models, blender, weights, tables[final], sub_rows), paths.summary)
    log.info("evaluate (kl_hq): %s", {m: metrics[m] for m in models})
    return metrics


def summary_markdown(metrics: dict[str, Any], models: list[str], blender: dict[str, Any], weights: dict[str, float],
                     final_class_kl: pd.DataFrame, sub_rows: int | None) -> str:
    def fmt(v: float | None) -> str:
        return "-" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{v:.4f}"

    lines = ["# Evaluation summary", "",
             f"Cross-validated KL divergence (lower is better) on {metrics['n_all']} samples, "
             f"{metrics['n_hq']} with >= 10 votes (hq). Base models: out-of-fold; ensemble: nested CV "
             "(blender fitted without the fold it scores).", "",
             "| model | kl_all | kl_hq |", "|---|---|---|"]
    lines += [f"| {m} | {fmt(metrics['kl_all'][m])} | {fmt(metrics[m])} |" for m in models]
    if "floor_all" in metrics:
        lines.append(f"| floor (latent truth, synthetic) | {fmt(metrics['floor_all'])} | {fmt(metrics['floor_hq'])} |")
    kind = "weights" if blender["blender"] == "pool" else "importance (share of coefficient mass, not mixture weights)"
    extra = (f", space {blender['space']}" if blender["blender"] == "pool"
             else f", form {blender['form']}, l2 {blender['l2']}, temperature {blender['temperature']:.3f}")
    lines += ["", f"## Blender: {blender['blender']}{extra}", "", f"Model {kind}:", "",
              "| model | weight |", "|---|---|"]
    lines += [f"| {m} | {w:.3f} |" for m, w in weights.items()]
    lines += ["", f"In-sample fit on all OOF rows (optimistic, for judging over-fitting): kl_all "
              f"{fmt(blender['in_sample']['kl_all'])}, kl_hq {fmt(blender['in_sample']['kl_hq'])}.", "",
              f"## Per-class KL contribution of {models[-1]}", "", "| class | kl_all | kl_hq |", "|---|---|---|"]
    lines += [f"| {r['class']} | {fmt(r['kl_all'])} | {fmt(r['kl_hq'])} |" for _, r in final_class_kl.iterrows()]
    if sub_rows is not None:
        lines += ["", f"submission.csv: {sub_rows} rows, valid against sample_submission.csv."]
    lines += ["", "## Plots", "", "`dvc plots show` renders them all; the PNGs read without DVC:", "",
              "![blend weights](plots/blend_weights.png)", "", "![per-class KL](plots/class_kl.png)", "",
              "![calibration](plots/calibration.png)", "", "Training curves (every fold; colour = fold, line style = metric):", ""]
    lines += [f"![{m} curves](curves/{m}.png)" for m in models[1:-1]]
    lines.append("")
    return "\n".join(lines)

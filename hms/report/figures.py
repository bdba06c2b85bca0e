"""PNG figures of the evaluation report (matplotlib, headless)."""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")  # stages run without a display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from hms.constants import CLASSES  # noqa: E402
from hms.io import atomic_path  # noqa: E402


def _save(fig: plt.Figure, path: str | os.PathLike) -> None:
    with atomic_path(path, suffix=".png") as tmp:
        # no date in the metadata, so the same inputs give the same bytes
        fig.savefig(tmp, dpi=100, metadata={"Software": None})
    plt.close(fig)


def plot_class_kl(tables: dict[str, pd.DataFrame], path: str | os.PathLike, column: str = "kl_hq") -> None:
    """Grouped bars: each model's per-class KL contribution (bars of one model sum to its KL)."""
    fig, ax = plt.subplots(figsize=(9, 4))
    width = 0.8 / max(1, len(tables))
    x = np.arange(len(CLASSES))
    for i, (model, table) in enumerate(tables.items()):
        ax.bar(x + i * width, table[column].to_numpy(), width, label=f"{model} ({table[column].sum():.3f})")
    ax.set_xticks(x + 0.4 - width / 2, CLASSES)
    ax.set_ylabel(f"KL contribution ({column})")
    ax.set_title("Per-class KL contribution, eegs with >= 10 votes" if column == "kl_hq" else "Per-class KL contribution")
    ax.legend(fontsize=7)
    fig.tight_layout()
    _save(fig, path)


def plot_calibration(table: pd.DataFrame, path: str | os.PathLike, title: str) -> None:
    """One reliability panel per class; marker area ~ samples in the bin."""
    fig, axes = plt.subplots(2, 3, figsize=(10, 6.5), sharex=True, sharey=True)
    for ax, cls in zip(axes.ravel(), CLASSES):
        t = table[table["class"] == cls]
        ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
        ax.plot(t["mean_pred"], t["mean_target"], color="C0", lw=1)
        ax.scatter(t["mean_pred"], t["mean_target"], s=10 + 200 * t["n"] / max(1, table["n"].max()), color="C0")
        ax.set_title(cls)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
    for ax in axes[-1]:
        ax.set_xlabel("mean predicted probability")
    for ax in axes[:, 0]:
        ax.set_ylabel("mean target share")
    fig.suptitle(title)
    fig.tight_layout()
    _save(fig, path)


def plot_blend_weights(weights: dict[str, float], blender: str, path: str | os.PathLike) -> None:
    """Horizontal bars of the blender's per-model weights, titled by the blender used."""
    kind = "mixture weight" if blender == "pool" else "share of coefficient mass"
    fig, ax = plt.subplots(figsize=(6, 0.45 * len(weights) + 1.2))
    names = list(weights)[::-1]
    ax.barh(names, [weights[n] for n in names], color="C0")
    for i, n in enumerate(names):
        ax.text(weights[n], i, f" {weights[n]:.3f}", va="center", fontsize=8)
    ax.set_xlabel(kind)
    ax.set_xlim(0, max(1e-9, max(weights.values())) * 1.25)
    ax.set_title(f"Blend weights of the {blender} blender (nested-CV fit on all OOF rows)")
    fig.tight_layout()
    _save(fig, path)

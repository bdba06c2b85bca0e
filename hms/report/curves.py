"""Training curves of one model: every fold overlaid, train and validation together, as a table
for `dvc plots` (template .dvc/plots/curves.json: colour = fold, dash = metric) and as a PNG that
reads without DVC (reports/summary.md links it)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # stages run without a display
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from hms.io import atomic_path, write_csv  # noqa: E402

DASHES = ("-", "--", ":", "-.")


def write_curves(curves: pd.DataFrame, name: str, out_dir: Path) -> tuple[Path, Path]:
    """out_dir/<name>.csv (step, value, fold, metric) and out_dir/<name>.png."""
    out_dir = Path(out_dir)
    table = curves.assign(fold=curves["fold"].map(lambda k: f"fold {k}"))[["step", "value", "fold", "metric"]]
    csv = out_dir / f"{name}.csv"
    write_csv(table, csv, float_format="%.6g")
    png = out_dir / f"{name}.png"
    fig, ax = plt.subplots(figsize=(8, 4.5))
    metrics = list(dict.fromkeys(table["metric"]))
    for i, fold in enumerate(dict.fromkeys(table["fold"])):
        for j, metric in enumerate(metrics):
            t = table[(table["fold"] == fold) & (table["metric"] == metric)]
            ax.plot(t["step"], t["value"], color=f"C{i}", ls=DASHES[j % len(DASHES)], lw=1.2,
                    label=f"{fold} {metric}")
    ax.set_xlabel("epoch" if "train_loss" in metrics else "boosting round")
    ax.set_ylabel("KL divergence")
    ax.set_title(f"{name}: training curves, every fold ({', '.join(metrics)})")
    ax.legend(fontsize=6, ncol=max(1, len(metrics)), loc="upper right")
    fig.tight_layout()
    with atomic_path(png, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=90, metadata={"Software": None})
    plt.close(fig)
    return csv, png

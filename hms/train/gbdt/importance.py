"""Feature importance of a GBDT model: a table and a bar plot of the top features."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from hms.io import atomic_path, write_csv

TOP_N = 30


def importance_table(per_fold: list[np.ndarray], columns: list[str]) -> pd.DataFrame:
    """Mean and std over folds of each fold's importance normalised to shares summing to 1."""
    shares = []
    for imp in per_fold:
        total = imp.sum()
        shares.append(imp / total if total > 0 else np.zeros_like(imp))
    arr = np.vstack(shares)
    df = pd.DataFrame({"feature": columns, "importance": arr.mean(axis=0), "importance_std": arr.std(axis=0)})
    return df.sort_values(["importance", "feature"], ascending=[False, True], kind="stable").reset_index(drop=True)


def write_importance(table: pd.DataFrame, out_dir: Path, title: str) -> tuple[Path, Path]:
    """`importance.csv` (every feature) and `importance.png` (top 30) in out_dir."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    csv_path, png_path = Path(out_dir) / "importance.csv", Path(out_dir) / "importance.png"
    write_csv(table, csv_path, float_format="%.6g")
    top = table.head(TOP_N).iloc[::-1]
    fig, ax = plt.subplots(figsize=(7, 0.25 * len(top) + 1.2))
    ax.barh(top["feature"], top["importance"], xerr=top["importance_std"], color="#4c72b0")
    ax.set_xlabel("share of importance (mean over folds, bar = std)")
    ax.set_title(title)
    ax.tick_params(axis="y", labelsize=7)
    fig.tight_layout()
    with atomic_path(png_path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=100, format="png", metadata={"Software": None})
    plt.close(fig)
    return csv_path, png_path

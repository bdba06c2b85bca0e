"""Offline prediction in a Kaggle kernel (internet off) with a folder written by `hms export-kaggle`.

Attach the exported dataset and the competition to the kernel, then run this file (the notebook
hms-predict.ipynb holds the same code). It installs hms from the dataset's wheels/ with
`pip install --no-index`: nothing is downloaded, and the packages the image already has in a version
hms accepts (torch, torchvision, ...) are kept. Then `hms predict` writes /kaggle/working/submission.csv.
HMS_EXPORT_DIR, HMS_DATA_DIR and HMS_OUT override the folders it finds on its own.

This file runs on the Kaggle image before hms is installed: standard library only."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

COMPETITION = "hms-harmful-brain-activity-classification"
INPUT = Path("/kaggle/input")
MARKER = "hms-export.json"
# Folders with thousands of files or nothing to find: not searched.
SKIP = {"train_eegs", "train_spectrograms", "test_eegs", "test_spectrograms", "wheels", "models", "example_figures"}


def _dirs_with(root: Path, wanted: tuple[str, ...], max_depth: int = 4) -> list[Path]:
    """Folders under `root` (depth <= max_depth) that hold every name in `wanted`."""
    hits = []
    for here, dirs, files in os.walk(root):
        here_path = Path(here)
        names = set(files) | set(dirs)
        if all(w in names for w in wanted):
            hits.append(here_path)
        depth = len(here_path.relative_to(root).parts)
        dirs[:] = [] if depth >= max_depth else sorted(d for d in dirs if d not in SKIP)
    return hits


def find_export() -> Path:
    if os.environ.get("HMS_EXPORT_DIR"):
        return Path(os.environ["HMS_EXPORT_DIR"])
    hits = _dirs_with(INPUT, (MARKER,))
    if len(hits) != 1:
        sys.exit(f"{'no' if not hits else 'several'} hms export(s) under {INPUT} ({', '.join(map(str, hits))}): "
                 "attach the dataset made by `hms export-kaggle` once, or set HMS_EXPORT_DIR")
    return hits[0]


def find_data() -> Path:
    if os.environ.get("HMS_DATA_DIR"):
        return Path(os.environ["HMS_DATA_DIR"])
    hits = _dirs_with(INPUT, ("test.csv", "sample_submission.csv", "test_eegs"))
    named = [h for h in hits if h.name == COMPETITION]
    if named or len(hits) == 1:
        return (named or hits)[0]
    sys.exit(f"cannot tell the competition data under {INPUT} (found {', '.join(map(str, hits)) or 'none'}): "
             f"attach {COMPETITION}, or set HMS_DATA_DIR")


def run(cmd: list[str]) -> None:
    print("$", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)


def main() -> None:
    export, data = find_export(), find_data()
    out = Path(os.environ.get("HMS_OUT", "/kaggle/working/submission.csv"))
    run([sys.executable, "-m", "pip", "install", "--no-index", "--find-links", str(export / "wheels"), "hms"])
    run([sys.executable, "-m", "hms.cli", "predict", "--data-dir", str(data), "--models", str(export / "models"),
         "--out", str(out), "--workers", str(os.cpu_count() or 1)])
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

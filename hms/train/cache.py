"""The fold checkpoint cache: finished folds live outside DVC's outputs (DVC deletes a stage's outs
before it reruns it), under a key that hashes everything a fold depends on (config, data, code,
library versions), so an interrupted `dvc repro` resumes at the first unfinished fold and a rerun
with the same inputs reuses every fold. Location: $HMS_CACHE_DIR, default .hms_cache/ (delete it
at will: it only saves time)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any, Callable

from hms.io import write_json

DEFAULT_DIR = ".hms_cache"


def cache_root() -> Path:
    return Path(os.environ.get("HMS_CACHE_DIR", DEFAULT_DIR))


def digest(obj: Any) -> str:
    """sha256 of a JSON-able object (keys sorted)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def file_digest(paths: list[Path]) -> str:
    """sha256 over the names and bytes of `paths`."""
    h = hashlib.sha256()
    for p in paths:
        h.update(p.name.encode())
        with open(p, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 22), b""):
                h.update(block)
    return h.hexdigest()


class FoldCache:
    """fold model file + fold JSON (its info and curves) per key, under root/folds/<model>/."""

    def __init__(self, model: str, root: Path | None = None) -> None:
        self.root = root or cache_root()
        self.dir = self.root / "folds" / model

    def _paths(self, key: str, suffix: str) -> tuple[Path, Path]:
        return self.dir / f"{key}{suffix}", self.dir / f"{key}.record.json"

    def get(self, key: str, suffix: str) -> tuple[Path, dict[str, Any]] | None:
        """(model file, record) of a finished fold, None if it must be trained."""
        model, record = self._paths(key, suffix)
        if model.is_file() and record.is_file():
            return model, json.loads(record.read_text())
        return None

    def put(self, key: str, suffix: str, save: Callable[[Any, Path], None], model: Any, record: dict[str, Any]) -> Path:
        """Write the model, then the record: a fold counts as finished only when both exist."""
        path, rec = self._paths(key, suffix)
        path.parent.mkdir(parents=True, exist_ok=True)
        save(model, path)
        write_json(record, rec)
        return path


def copy_into(src: Path, dst: Path) -> None:
    """Copy a cached fold file into the model dir (a copy, not a link: DVC may make its outputs read-only)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.tmp")
    shutil.copyfile(src, tmp)
    os.replace(tmp, dst)

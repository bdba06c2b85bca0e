"""Folds trained at once, each in its own process: the groups of a spec's `fold_groups` (neural nets on
CPU, where two 1-thread processes train more samples per second than one 2-thread process).

For every fold of a group the driver writes a job dir (the model's name, the fold's config blocks, its
rows, targets and seed, where its inputs are) and starts `python -m hms.train.processes JOB_DIR`. The
worker runs the model's own fit_fold and puts the fold into the fold cache exactly as the driver does
in-process, so the driver then reads each fold of the group as a finished one. Only files cross between
the processes: the fold model in its native format, JSON and .npy arrays. The job dir (write_fold_job,
read_fold_job) is also how the DDP launcher hands a fold to its ranks (hms.train.nn.distributed)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hms.models.spec import FoldInputs, ModelConfig, ModelSpec
from hms.train.cache import FoldCache

log = logging.getLogger(__name__)

JOB = "job.json"
ARRAYS = ("y", "n_votes", "train_rows", "valid_rows")


@dataclass(frozen=True)
class FoldJob:
    cfg: ModelConfig  # the fold's own config (its thread count)
    inputs: FoldInputs
    key: str  # its fold-cache key


def can_run(spec: ModelSpec) -> bool:
    """A worker rebuilds the spec from the registry, so only a registered spec (not a wrapped one, e.g. the
    learning-curve benchmark's subsampling) can train in another process."""
    from hms.models.registry import get_spec

    try:
        return get_spec(spec.name) is spec
    except Exception:  # noqa: BLE001 - an unregistered name: it cannot run elsewhere
        return False


def train_in_processes(spec: ModelSpec, jobs: list[FoldJob], cache: FoldCache) -> None:
    """Train `jobs` at once, one process each; every finished fold is in `cache` when this returns.
    A failed worker is an error naming its fold (the others still finish and are cached)."""
    with tempfile.TemporaryDirectory(prefix=f"hms-folds-{spec.name}-") as tmp:
        procs: list[tuple[FoldJob, subprocess.Popen[bytes]]] = []
        try:
            for job in jobs:
                job_dir = Path(tmp) / f"fold{job.inputs.fold}"
                write_fold_job(job_dir, spec.name, spec.blocks(job.cfg), job.inputs,
                               key=job.key, cache=str(Path(cache.root).resolve()))
                env = {**os.environ, "TQDM_DISABLE": "1"}  # one progress bar: the driver's
                procs.append((job, subprocess.Popen([sys.executable, "-m", "hms.train.processes", str(job_dir)], env=env)))
            log.info("%s folds %s: training at once, one process each", spec.name, ", ".join(str(j.inputs.fold) for j, _ in procs))
            codes = [p.wait() for _, p in procs]
        except BaseException:
            for _, p in procs:
                p.kill()
                p.wait()
            raise
    failed = [f"fold {j.inputs.fold} (exit code {c})" for (j, _), c in zip(procs, codes)
              if c != 0 or cache.get(j.key, spec.suffix) is None]
    if failed:
        raise RuntimeError(f"{spec.name}: training failed in {', '.join(failed)}; its messages are above. "
                           "Finished folds are cached: rerun to resume")


def write_fold_job(job_dir: Path, name: str, blocks: dict[str, Any], inputs: FoldInputs, **extra: Any) -> None:
    """One fold of model `name` as files another process can train: its config blocks, rows, targets and
    seed, and its inputs as the memory-mapped features file itself (nothing copied) or, when they are not
    one, saved beside. `extra`: more JSON fields for the worker. Read back with read_fold_job."""
    job_dir.mkdir(parents=True, exist_ok=True)
    for key in ARRAYS:
        np.save(job_dir / f"{key}.npy", np.asarray(getattr(inputs, key)), allow_pickle=False)
    x = inputs.x
    if isinstance(x, np.memmap) and x.filename:
        x_path = str(Path(x.filename).resolve())
    else:
        x_path = str(job_dir / "x.npy")
        np.save(x_path, np.ascontiguousarray(x), allow_pickle=False)
    (job_dir / JOB).write_text(json.dumps({"name": name, "blocks": blocks, "fold": int(inputs.fold),
                                           "seed": int(inputs.seed), "x": x_path, **extra}))


def read_fold_job(job_dir: Path) -> tuple[ModelSpec, ModelConfig, FoldInputs, dict[str, Any]]:
    """(the registered spec, the fold's config, its inputs, the job's JSON) of a write_fold_job dir."""
    from hms.models.registry import get_spec

    job: dict[str, Any] = json.loads((job_dir / JOB).read_text())
    spec = get_spec(job["name"])
    cfg = spec.config(job["blocks"][spec.family], job["blocks"][spec.name])
    arrays = {key: np.load(job_dir / f"{key}.npy", allow_pickle=False) for key in ARRAYS}
    inputs = FoldInputs(job["fold"], np.load(job["x"], mmap_mode="r"), arrays["y"], arrays["n_votes"],
                        arrays["train_rows"], arrays["valid_rows"], job["seed"])
    return spec, cfg, inputs, job


def _worker(job_dir: Path) -> None:
    spec, cfg, inputs, job = read_fold_job(job_dir)
    curves: list[list[Any]] = []  # the driver's record format: [step, metric, value]

    def log_step(step: int, values: Any) -> None:
        curves.extend([int(step), metric, float(value)] for metric, value in values.items())

    start = time.perf_counter()
    fit = spec.fit_fold(cfg, inputs, log_step)
    record = {"fold": inputs.fold, "info": fit.info, "seconds": round(time.perf_counter() - start, 2), "curves": curves}
    FoldCache(spec.name, Path(job["cache"])).put(job["key"], spec.suffix, spec.save, fit.model, record)


if __name__ == "__main__":
    from hms.logs import setup_logging

    setup_logging()
    _worker(Path(sys.argv[1]))

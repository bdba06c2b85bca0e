"""Folds trained at once, each in its own process: the groups of a spec's `fold_groups` (neural nets on
CPU, where two 1-thread processes train more samples per second than one 2-thread process).

For every fold of a group the driver writes a job dir (the model's name, the fold's config blocks, its
rows, targets and seed, where its inputs are) and hands it to a worker, `python -m hms.train.processes`
(job dirs on its stdin, one answer per line on its stdout). The worker runs the model's own fit_fold and
puts the fold into the fold cache exactly as the driver does in-process, so the driver then reads each
fold of the group as a finished one. Only files cross between the processes: the fold model in its native
format, JSON and .npy arrays. The workers (`Workers`) live for the whole training run and train one job
after another, so a run pays Python's and torch's start-up (3-9 s on 2 cores) once per worker, not once
per group; a fit depends on nothing its process did before (tests/test_crossval.py), so a worker's third
fold is the fold a fresh process trains. The job dir (write_fold_job, read_fold_job) is also how the DDP
launcher hands a fold to its ranks (hms.train.nn.distributed)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

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
    tag: str  # the fit as the logs name it: its fold, or "k-seed<j>" (hms.train.crossval.fit_tag)


def can_run(spec: ModelSpec) -> bool:
    """A worker rebuilds the spec from the registry, so only a registered spec (not a wrapped one, e.g. the
    learning-curve benchmark's subsampling) can train in another process."""
    from hms.models.registry import get_spec

    try:
        return get_spec(spec.name) is spec
    except Exception:  # noqa: BLE001 - an unregistered name: it cannot run elsewhere
        return False


DONE, FAILED = "done", "failed"  # a worker's answer to a job, one line on its protocol pipe


class Workers:
    """Worker processes for train_in_processes, started on first use and kept for the run (a `with` block):
    each reads job dirs from its stdin, one per line, trains them one after the other and answers each with
    one line on its stdout. A worker that dies (killed, out of memory) is replaced at the next use."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[str]] = []

    def __enter__(self) -> "Workers":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close(kill=exc[0] is not None)

    def run(self, job_dirs: list[Path]) -> list[str]:
        """Train the jobs at once, one worker each; returns each job's answer (DONE, FAILED or the exit code
        of a worker that died)."""
        self.procs = [p for p in self.procs if p.poll() is None]
        while len(self.procs) < len(job_dirs):
            env = {**os.environ, "TQDM_DISABLE": "1"}  # one progress bar: the driver's
            self.procs.append(subprocess.Popen([sys.executable, "-m", "hms.train.processes"], env=env,
                                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))
        for proc, job_dir in zip(self.procs, job_dirs):
            assert proc.stdin is not None
            proc.stdin.write(f"{job_dir}\n")
            proc.stdin.flush()
        answers = []
        for proc in self.procs[:len(job_dirs)]:
            assert proc.stdout is not None
            line = proc.stdout.readline().strip()
            answers.append(line if line else f"exit code {proc.wait()}")
        return answers

    def close(self, kill: bool = False) -> None:
        for proc in self.procs:
            if kill:
                proc.kill()
            elif proc.stdin is not None:
                proc.stdin.close()  # end of jobs: the worker exits
        for proc in self.procs:
            proc.wait()
        self.procs = []


def train_in_processes(spec: ModelSpec, jobs: list[FoldJob], cache: FoldCache, workers: Workers) -> None:
    """Train `jobs` at once, one worker each; every finished fold is in `cache` when this returns.
    A failed job is an error naming its fold (the others still finish and are cached)."""
    with tempfile.TemporaryDirectory(prefix=f"hms-folds-{spec.name}-") as tmp:
        job_dirs = []
        for job in jobs:
            job_dirs.append(Path(tmp) / f"fold{job.tag}")
            write_fold_job(job_dirs[-1], spec.name, spec.blocks(job.cfg), job.inputs,
                           key=job.key, cache=str(Path(cache.root).resolve()))
        log.info("%s folds %s: training at once, one process each", spec.name, ", ".join(j.tag for j in jobs))
        answers = workers.run(job_dirs)
    failed = [f"fold {j.tag} ({a})" for j, a in zip(jobs, answers)
              if a != DONE or cache.get(j.key, spec.suffix) is None]
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


def serve(jobs: IO[str], answers: IO[str]) -> None:
    """Train each job dir read from `jobs` (one per line, until its end) and answer each on `answers`."""
    for line in jobs:
        try:
            _worker(Path(line.strip()))
            answer = DONE
        except Exception:  # noqa: BLE001 - reported with its traceback; the driver names the fold and stops
            traceback.print_exc()
            answer = FAILED
        answers.write(answer + "\n")
        answers.flush()


if __name__ == "__main__":
    from hms.logs import setup_logging

    setup_logging()
    # the answers get the real stdout to themselves: anything a fit prints goes to stderr with the logs
    protocol = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    serve(sys.stdin, protocol)

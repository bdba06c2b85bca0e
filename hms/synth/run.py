"""run_synth: the entry point of the `synth` stage and the `hms synth` command."""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from hms.constants import HQ_MIN_VOTES, SUBMISSION_COLUMNS, VOTE_COLS
from hms.data.targets import TARGET_COLS, make_samples
from hms.metrics import kl_divergence
from hms.seed import single_thread
from hms.synth.config import get_config
from hms.synth.files import generate_spectrogram_group
from hms.synth.labels import LabelPlan, sample_labels

log = logging.getLogger(__name__)


def summarize_labels(train: pd.DataFrame, latent: pd.DataFrame) -> dict[str, Any]:
    """Bayes floor (targets vs latent p) and prior KL (targets vs the mean target), over all eegs
    and over eegs with >= 10 votes, with targets built exactly as make_samples(aggregation='eeg')."""
    samples = make_samples(train, "eeg")
    lat = latent.set_index("eeg_id").loc[samples["eeg_id"], list(VOTE_COLS)].to_numpy()
    y = samples[list(TARGET_COLS)].to_numpy()
    hq = samples["n_votes"].to_numpy() >= HQ_MIN_VOTES
    prior = np.tile(y.mean(axis=0), (len(y), 1))
    r = lambda v: round(float(v), 6)  # noqa: E731
    return {
        "n_train_eegs": int(len(samples)), "n_train_rows": int(len(train)), "n_hq_eegs": int(hq.sum()),
        "n_patients": int(train["patient_id"].nunique()), "n_spectrograms": int(train["spectrogram_id"].nunique()),
        "floor_all": r(kl_divergence(y, lat)), "floor_hq": r(kl_divergence(y[hq], lat[hq])) if hq.any() else None,
        "prior_kl_all": r(kl_divergence(y, prior)),
        "prior_kl_hq": r(kl_divergence(y[hq], prior[hq])) if hq.any() else None,
    }


def _write_tables(plan: LabelPlan, tmp: Path) -> None:
    plan.train.to_csv(tmp / "train.csv", index=False)
    plan.test.to_csv(tmp / "test.csv", index=False)
    sub = pd.DataFrame({"eeg_id": plan.test["eeg_id"]})
    for c in VOTE_COLS:
        sub[c] = 1 / len(VOTE_COLS)
    sub[list(SUBMISSION_COLUMNS)].to_csv(tmp / "sample_submission.csv", index=False)
    plan.latent.sort_values("eeg_id").to_csv(tmp / "synth_latent.csv", index=False)


def _one_thread() -> None:
    """Worker processes share the cores: no nested BLAS/OpenMP threads."""
    single_thread()


# Written into every dataset hms synth makes: only a directory holding it may be replaced.
MARKER = ".hms-synth"


def check_replaceable(out_dir: Path, force: bool = False) -> None:
    """Refuse to delete anything hms synth did not write: `out_dir` must be absent, empty, or
    hold MARKER (or `force`). A FileExistsError says which, before any work starts."""
    if force or not (out_dir.exists() or out_dir.is_symlink()):
        return
    if not out_dir.is_dir():
        raise FileExistsError(f"{out_dir}: exists and is not a directory; refusing to replace it "
                              "(pick another output path, or --force)")
    if (out_dir / MARKER).is_file() or not any(out_dir.iterdir()):
        return
    raise FileExistsError(f"{out_dir}: directory is not empty and was not written by hms synth (no {MARKER} file); "
                          "refusing to delete it. Pick an empty or new directory, or pass --force to replace it")


def run_synth(out_dir: Path, size: str = "default", seed: int = 42, n_train_eegs: int | None = None,
              n_test_eegs: int | None = None, workers: int = 2, force: bool = False) -> dict:
    """Write a synthetic dataset in the exact Kaggle layout to out_dir (replacing an earlier
    synthetic dataset there; anything else only with `force`) and return its summary."""
    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    check_replaceable(out_dir, force)
    cfg = get_config(size, n_train_eegs, n_test_eegs)
    plan = sample_labels(cfg, seed)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    # Leftovers of an interrupted run are removed; the new data appear under out_dir only when complete.
    for stale in out_dir.parent.glob(f".{out_dir.name}.tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    try:
        for d in ("train_eegs", "train_spectrograms", "test_eegs", "test_spectrograms"):
            (tmp / d).mkdir()
        _write_tables(plan, tmp)
        (tmp / MARKER).write_text(f"written by hms synth (size {size}, seed {seed}, {cfg.n_train_eegs} train / "
                                  f"{cfg.n_test_eegs} test eegs); `hms synth` may replace this directory\n")
        # Big jobs first so that the processes finish together.
        jobs = sorted(plan.specs, key=lambda s: -(s.span_s + 4 * sum(e.length_s for e in s.eegs)))
        bar = tqdm(total=len(plan.train["eeg_id"].unique()) + len(plan.test), desc="synth eegs", unit="eeg")
        n_bytes = 0
        if workers <= 1:
            # One BLAS thread here too: results must not depend on the number of workers.
            with single_thread():
                for job in jobs:
                    res = generate_spectrogram_group(job, str(tmp))
                    n_bytes += res["bytes"]
                    bar.update(res["eegs"])
        else:
            with ProcessPoolExecutor(max_workers=workers, initializer=_one_thread) as pool:
                for res in pool.map(generate_spectrogram_group, jobs, [str(tmp)] * len(jobs), chunksize=4):
                    n_bytes += res["bytes"]
                    bar.update(res["eegs"])
        bar.close()
        if out_dir.is_dir() and not out_dir.is_symlink():
            shutil.rmtree(out_dir)
        elif out_dir.exists() or out_dir.is_symlink():  # a file or link, replaced only with force
            out_dir.unlink()
        os.replace(tmp, out_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    seconds = time.perf_counter() - t0
    n_eegs = cfg.n_train_eegs + cfg.n_test_eegs
    summary = {"size": size, "seed": seed, **summarize_labels(plan.train, plan.latent),
               "n_test_eegs": int(len(plan.test)), "mb_written": round(n_bytes / 1e6, 1),
               "seconds": round(seconds, 2), "eegs_per_second": round(n_eegs / seconds, 2), "workers": workers}
    log.info("synth: %s", json.dumps(summary))
    return summary

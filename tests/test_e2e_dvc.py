"""End to end: `dvc repro` of the whole DAG on the `tiny` preset in a temporary copy of the repo;
then, in that copy, what DVC must guarantee: up to date after a run, an interrupted `dvc repro`
resumes finished folds with byte-identical predictions, the real-data preset generates no
synthetic data, and a sixth model costs one module + one params block + one line."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.conftest import REPO, load_tiny_params

pytestmark = pytest.mark.slow


def copy_repo(dst: Path) -> Path:
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=REPO,
                           check=True, capture_output=True, text=True).stdout.split("\0")
    for rel in filter(None, files):
        src = REPO / rel
        if src.is_file():
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / rel)
    (dst / "metrics").mkdir(exist_ok=True)
    git(["init", "-q"], dst)
    commit(dst, "snapshot")  # dvclive needs a commit
    return dst


def git(args: list[str], cwd: Path) -> str:
    cmd = ["git", "-c", "user.name=hms-test", "-c", "user.email=hms-test@example.invalid", *args]
    return subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, text=True).stdout


def commit(repo: Path, message: str) -> None:
    git(["add", "-A"], repo)
    git(["commit", "-qm", message], repo)


def run(args: list[str], cwd: Path, env: dict[str, str] | None = None, ok: bool = True) -> subprocess.CompletedProcess[str]:
    bin_dir = Path(sys.executable).parent
    full_env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": str(cwd), **(env or {})}
    proc = subprocess.run([str(bin_dir / args[0]), *args[1:]], cwd=cwd, env=full_env, capture_output=True, text=True)
    if ok:
        assert proc.returncode == 0, f"{' '.join(args)} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc


@pytest.fixture(scope="module")
def repro(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = copy_repo(tmp_path_factory.mktemp("repo"))
    run(["hms", "preset", "tiny"], repo)
    run(["dvc", "repro"], repo)
    return repo


def test_repro_prepares_and_scores_baseline(repro: Path) -> None:
    train = pd.read_parquet(repro / "data/prepared/train.parquet")
    assert len(train) == n_train_tiny() and train["fold"].nunique() == 3
    prior = json.loads((repro / "metrics/prior.json").read_text())
    assert prior["kl_all"] > 0 and prior["kl_hq"] > 0 and set(prior["folds"]) == {"0", "1", "2"}


def test_repro_runs_the_whole_dag(repro: Path) -> None:
    table = json.loads((repro / "metrics/evaluate.json").read_text())
    models = yaml.safe_load((repro / "params.yaml").read_text())["models"]
    for name in ("prior", *models, "ensemble"):
        assert table[name] > 0 and table["kl_all"][name] > 0, name
    assert table["floor_hq"] < table["prior"]
    sub = pd.read_csv(repro / "submission.csv")
    sample = pd.read_csv(repro / "data/synthetic/sample_submission.csv")
    assert list(sub.columns) == list(sample.columns) and sub["eeg_id"].tolist() == sample["eeg_id"].tolist()
    assert json.loads((repro / "models/ensemble/blender.json").read_text())["models"] == list(models)
    for name in models:  # DVC metrics hold quality numbers only; timings live in the run's record
        metrics = json.loads((repro / f"metrics/{name}.json").read_text())
        assert set(metrics) == {"kl_all", "kl_hq", "n_all", "n_hq", "folds"}, name
        assert json.loads((repro / f"dvclive/{name}/run.json").read_text())["seconds"] > 0, name
        assert "seconds" not in (repro / f"models/{name}/fit.json").read_text(), name
        assert (repro / f"reports/curves/{name}.png").read_bytes()[:4] == b"\x89PNG"


def test_repro_is_up_to_date_after_a_run(repro: Path) -> None:
    out = run(["dvc", "status"], repro).stdout
    assert "changed" not in out and "modified" not in out, out


def test_an_interrupted_repro_resumes_finished_folds(repro: Path, tmp_path: Path) -> None:
    """Kill `dvc repro train@wave` after fold 1 (a real SIGKILL), rerun: folds 0-1 (both seeds of each: wave
    trains two per fold) come from the fold cache, fold 2 is trained, and the predictions equal those of the
    uninterrupted run byte for byte."""
    uninterrupted = (repro / "predictions/base/wave/oof.parquet").read_bytes()
    model_dir = {p.name: p.read_bytes() for p in (repro / "models/wave").iterdir()}
    env = {"HMS_CACHE_DIR": str(tmp_path / "cache")}  # an empty fold cache: as if wave never ran
    killed = run(["dvc", "repro", "--force", "--single-item", "train@wave"], repro,
                 env={**env, "HMS_KILL_AFTER_FOLD": "1"}, ok=False)
    assert killed.returncode != 0
    assert len(list((tmp_path / "cache/folds/wave").glob("*.pt"))) == 4  # folds 0 and 1 finished, two seeds each
    run(["dvc", "repro", "--single-item", "train@wave"], repro, env=env)
    run_record = json.loads((repro / "dvclive/wave/run.json").read_text())
    assert run_record["resumed_folds"] == [0, "0-seed1", 1, "1-seed1"]
    assert [run_record["folds"][k]["resumed"] for k in ("0", "0-seed1", "1", "1-seed1", "2", "2-seed1")] == [
        True, True, True, True, False, False]
    assert (repro / "predictions/base/wave/oof.parquet").read_bytes() == uninterrupted
    assert {p.name: p.read_bytes() for p in (repro / "models/wave").iterdir()} == model_dir  # the same DVC output
    assert "changed" not in run(["dvc", "status"], repro).stdout


def test_the_real_data_preset_generates_no_synthetic_data(repro: Path, tmp_path: Path) -> None:
    work = copy_repo(tmp_path / "repo")
    run(["hms", "preset", "full"], work)
    run(["dvc", "repro", "--single-item", "synth"], work)
    assert not any((work / "data/synthetic").iterdir())
    assert "skipped" in json.loads((work / "metrics/synth.json").read_text())


TOY_MODEL = '''"""`toy`: the class prior of the training folds, shrunk towards uniform (a sixth model for the test)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hms.io import write_json
from hms.models.spec import FoldFit, ModelSpec
from hms.train.gbdt.config import GbdtConfig


@dataclass
class ToyConfig:
    shrink: float = 0.5


def fit_fold(cfg, inputs, log):
    prior = inputs.y[inputs.train_rows].mean(axis=0)
    probs = (1 - cfg.own.shrink) * prior + cfg.own.shrink / 6
    log(1, {"valid_kl": 0.0})
    return FoldFit(probs.tolist(), {"n_train": len(inputs.train_rows)})


def predict(cfg, model, x, rows=None):
    n = len(x) if rows is None else len(rows)
    return np.tile(np.asarray(model, dtype=np.float64), (n, 1))


SPEC = ModelSpec(name="toy", features="tabular", family="gbdt", shared_config=GbdtConfig, own_config=ToyConfig,
                 fit_fold=fit_fold, predict=predict, save=lambda m, p: write_json(m, p),
                 load=lambda cfg, p, shape: json.loads(Path(p).read_text()), suffix=".json")
'''


def test_a_sixth_model_is_one_module_one_params_block_one_line(repro: Path) -> None:
    (repro / "hms/models/toy.py").write_text(TOY_MODEL)
    params = (repro / "params.yaml").read_text()
    params = params.replace("  wave: {family: nn, features: waves}\n",
                            "  wave: {family: nn, features: waves}\n  toy: {family: gbdt, features: tabular}\n")
    (repro / "params.yaml").write_text(params + "toy:\n  shrink: 0.5\n")
    touched = git(["status", "--porcelain", "--untracked-files=all", "--", "hms", "params.yaml", "dvc.yaml"], repro)
    assert sorted(line[3:] for line in touched.splitlines()) == ["hms/models/toy.py", "params.yaml"]
    out = run(["dvc", "repro"], repro).stdout
    ran = sorted(line.split("'")[1] for line in out.splitlines() if line.startswith("Running stage"))
    assert ran == ["evaluate", "stack", "submit", "train@toy"], out
    assert "toy" in json.loads((repro / "models/ensemble/blender.json").read_text())["models"]
    assert json.loads((repro / "metrics/evaluate.json").read_text())["kl_all"]["toy"] > 0


def n_train_tiny() -> int:
    from hms.synth import get_config

    p = load_tiny_params()["synth"]
    return get_config(p["size"], p["n_train_eegs"]).n_train_eegs

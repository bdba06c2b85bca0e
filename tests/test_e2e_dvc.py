"""End to end: `dvc repro` of the whole DAG on the tiny synthetic size, in a temporary copy of the repo."""

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
    git = ["git", "-c", "user.name=hms-test", "-c", "user.email=hms-test@example.invalid"]
    subprocess.run(["git", "init", "-q"], cwd=dst, check=True)
    subprocess.run([*git, "add", "-A"], cwd=dst, check=True)
    subprocess.run([*git, "commit", "-qm", "snapshot"], cwd=dst, check=True)  # dvclive needs a commit
    return dst


def dvc(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run([str(Path(sys.executable).parent / "dvc"), *args], cwd=cwd, env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 0, f"dvc {' '.join(args)} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc


@pytest.fixture(scope="module")
def repro(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = copy_repo(tmp_path_factory.mktemp("repo"))
    (repo / "params.yaml").write_text(yaml.safe_dump(load_tiny_params(), sort_keys=False))
    dvc(["repro"], repo)
    return repo


def test_repro_prepares_and_scores_baseline(repro: Path) -> None:
    train = pd.read_parquet(repro / "data/prepared/train.parquet")
    assert len(train) == load_tiny_params_n_train() and train["fold"].nunique() == 3
    prior = json.loads((repro / "metrics/prior.json").read_text())
    assert prior["kl_all"] > 0 and prior["kl_hq"] > 0 and set(prior["folds"]) == {"0", "1", "2"}


def test_repro_runs_the_whole_dag(repro: Path) -> None:
    from hms.models.registry import BASE_MODELS

    table = json.loads((repro / "metrics/evaluate.json").read_text())
    for name in ("prior", *BASE_MODELS, "ensemble"):
        assert table[name]["kl_all"] > 0, name
    assert table["floor_hq"] < table["prior"]["kl_hq"]
    sub = pd.read_csv(repro / "submission.csv")
    sample = pd.read_csv(repro / "data/synthetic/sample_submission.csv")
    assert list(sub.columns) == list(sample.columns) and sub["eeg_id"].tolist() == sample["eeg_id"].tolist()
    assert (repro / "models/ensemble/blender.json").is_file()


def test_repro_is_up_to_date_after_a_run(repro: Path) -> None:
    out = dvc(["status"], repro).stdout
    assert "changed" not in out, out


def load_tiny_params_n_train() -> int:
    from hms.synth import get_config

    p = load_tiny_params()["synth"]
    return get_config(p["size"], p.get("n_train_eegs")).n_train_eegs

"""Folds trained at once in processes (`nn.fold_processes`): the plan, and the same bytes as one by one;
several seeds per fold (`nn.seeds`)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hms.errors import ConfigError
from hms.features.store import open_array
from hms.models.trained import load_trained
from hms.models.registry import get_spec
from hms.train.nn import family
from hms.train.nn.config import LoopConfig
from hms.train.processes import FAILED, Workers, serve
from tests.modelkit import fit, toy_inputs


def _params(tiny_params: dict[str, Any], seeds: int = 1, **nn: Any) -> dict[str, Any]:
    """The tiny params with `nn` keys changed and wave's seeds per fold (its `loop` block wins over `nn`)."""
    wave = {**tiny_params["wave"], "loop": {**tiny_params["wave"]["loop"], "seeds": seeds}}
    return {**tiny_params, "nn": {**tiny_params["nn"], **nn}, "wave": wave}


def _outputs(root: Path, name: str) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((root / "models" / name).iterdir())}


@pytest.mark.parametrize(("cores", "threads", "fold_processes", "groups", "fold_threads"), [
    (2, 0, 0, [[0, 1], [2, 3], [4]], [1, 1, 1, 1, 1]),  # the default on this project's 2-core machines
    (16, 0, 0, [[0, 1, 2, 3, 4]], [3, 3, 3, 3, 3]),
    (1, 0, 0, [[0], [1], [2], [3], [4]], [0, 0, 0, 0, 0]),  # one process: the config as it is
    (2, 0, 1, [[0], [1], [2], [3], [4]], [0, 0, 0, 0, 0]),
    (8, 2, 0, [[0, 1, 2, 3], [4]], [2, 2, 2, 2, 2]),  # nn.threads fixes every fold's threads
])
def test_the_fold_plan(monkeypatch: pytest.MonkeyPatch, tiny_params: dict[str, Any], cores: int, threads: int,
                       fold_processes: int, groups: list[list[int]], fold_threads: list[int]) -> None:
    monkeypatch.setattr(family, "available_cores", lambda: cores)
    monkeypatch.setattr(family.torch.cuda, "is_available", lambda: False)
    spec = get_spec("wave")
    cfg = spec.config(_params(tiny_params, threads=threads, fold_processes=fold_processes)["nn"], tiny_params["wave"])
    plan = spec.fold_groups(cfg, [0, 1, 2, 3, 4])
    assert [[k for k, _ in g] for g in plan] == groups
    assert [c.shared.threads for g in plan for _, c in g] == fold_threads
    assert all(c.own == cfg.own for g in plan for _, c in g)


def test_folds_at_once_need_the_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(family.torch.cuda, "is_available", lambda: True)
    assert family.processes_at_once(LoopConfig(), 5) == 1  # auto: the GPU trains one fold at a time
    with pytest.raises(ConfigError, match="fold_processes=2 trains folds in CPU processes"):
        family.processes_at_once(LoopConfig(fold_processes=2), 5)
    with pytest.raises(ConfigError, match="nn.fold_processes must be >= 0"):
        LoopConfig(fold_processes=-1)
    with pytest.raises(ConfigError, match="use 0 or 1 on a GPU"):
        LoopConfig(fold_processes=2, device="cuda")
    with pytest.raises(ConfigError, match="nn.seeds must be >= 1"):
        LoopConfig(seeds=0)


def test_folds_in_processes_give_the_bytes_of_folds_in_this_process(tiny_params: dict[str, Any], tmp_path: Path) -> None:
    """At one torch thread per fold, three folds trained at once (one process each) write the same fold
    models, fit.json and predictions as the same folds trained one by one in this process; a run whose
    cache holds one fold resumes it and trains the two others at once."""
    data = toy_inputs("waves", tmp_path / "features")
    one = fit("wave", _params(tiny_params, fold_processes=1), data, tmp_path / "one")
    apart = fit("wave", _params(tiny_params, fold_processes=3), data, tmp_path / "apart")
    assert json.loads((tmp_path / "apart/dvclive/wave/run.json").read_text())["fold_groups"] == [[0, 1, 2]]
    assert (one.oof == apart.oof).all() and (one.test == apart.test).all()
    first, second = _outputs(tmp_path / "one", "wave"), _outputs(tmp_path / "apart", "wave")
    assert first.keys() == second.keys() and all(first[f] == second[f] for f in first if f != "config.json")
    assert one.curves.equals(apart.curves)

    keys = json.loads((tmp_path / "apart/models/wave/config.json").read_text())["fold_keys"]
    for k in ("0", "2"):
        for p in (tmp_path / "apart/cache/folds/wave").glob(f"{keys[k]}*"):
            p.unlink()
    resumed = fit("wave", _params(tiny_params, fold_processes=3), data, tmp_path / "apart")
    run = json.loads((tmp_path / "apart/dvclive/wave/run.json").read_text())
    assert resumed.resumed == [1] and [run["folds"][k]["resumed"] for k in ("0", "1", "2")] == [False, True, False]
    assert (resumed.oof == apart.oof).all() and _outputs(tmp_path / "apart", "wave") == second


def test_seeds_average_more_nets_per_fold(tiny_params: dict[str, Any], tmp_path: Path) -> None:
    """`seeds: 2` (here in wave's `loop` block) trains a second net per fold from its own seed. fold<k>.pt is
    the one-seed run's net byte for byte and fold<k>-seed1.pt another net; the OOF and test predictions are the
    mean of the two seeds' probabilities, and the prediction path loads all six nets. The two seeds of a fold
    train at once (one process each), and a run whose cache lost one seed trains only that one again."""
    data = toy_inputs("waves", tmp_path / "features")
    one = fit("wave", _params(tiny_params, fold_processes=1), data, tmp_path / "one")
    two = fit("wave", _params(tiny_params, fold_processes=2, seeds=2), data, tmp_path / "two")
    first, second = _outputs(tmp_path / "one", "wave"), _outputs(tmp_path / "two", "wave")
    extra = [f"fold{k}-seed1.pt" for k in range(3)]
    assert sorted(second) == sorted([*first, *extra])
    assert all(second[f"fold{k}.pt"] == first[f"fold{k}.pt"] for k in range(3))
    assert all(second[f"fold{k}-seed1.pt"] != second[f"fold{k}.pt"] for k in range(3))
    run = json.loads((tmp_path / "two/dvclive/wave/run.json").read_text())
    assert run["fold_groups"] == [[0, "0-seed1"], [1, "1-seed1"], [2, "2-seed1"]]
    assert set(json.loads((tmp_path / "two/models/wave/fit.json").read_text())["folds"]) == {"0", "1", "2", *(
        f"{k}-seed1" for k in range(3))}

    train, _, features_dir = data
    trained = load_trained(tmp_path / "two/models", "wave")
    assert len(trained.models) == 6
    x, _ = open_array(features_dir, "train", expected_ids=train["sample_id"].to_numpy())
    for k in range(3):
        rows = np.flatnonzero(train["fold"].to_numpy() == k)
        seeds = [trained.spec.predict(trained.cfg, m, x, rows) for m in trained.models[2 * k:2 * k + 2]]
        assert np.array_equal(seeds[0], one.oof[rows]) and not np.allclose(seeds[0], seeds[1])
        np.testing.assert_allclose(two.oof[rows], (seeds[0] + seeds[1]) / 2, rtol=0, atol=1e-12)
    x_test, _ = open_array(features_dir, "test", expected_ids=data[1]["sample_id"].to_numpy())
    each = [trained.spec.predict(trained.cfg, m, x_test, None) for m in trained.models]
    np.testing.assert_allclose(two.test, np.mean(each, axis=0), rtol=0, atol=1e-6)

    keys = json.loads((tmp_path / "two/models/wave/config.json").read_text())["fold_keys"]
    for p in (tmp_path / "two/cache/folds/wave").glob(f"{keys['1-seed1']}*"):
        p.unlink()
    again = fit("wave", _params(tiny_params, fold_processes=2, seeds=2), data, tmp_path / "two")
    assert again.resumed == [0, "0-seed1", 1, 2, "2-seed1"]
    assert np.array_equal(again.oof, two.oof) and _outputs(tmp_path / "two", "wave") == second


def test_a_worker_reports_a_failed_job_and_serves_the_next(tmp_path: Path) -> None:
    """A job that fails in a worker is answered `failed` (its traceback on stderr), and the same worker
    process takes the next job; closing the workers ends them."""
    (tmp_path / "bad").mkdir()  # no job.json
    with Workers() as workers:
        assert workers.run([tmp_path / "bad"]) == [FAILED]
        pid = workers.procs[0].pid
        assert workers.run([tmp_path / "missing"]) == [FAILED] and workers.procs[0].pid == pid
    assert workers.procs == []

    answers = io.StringIO()
    serve(io.StringIO(f"{tmp_path / 'bad'}\n"), answers)
    assert answers.getvalue() == f"{FAILED}\n"

"""`hms tune` (hms/tune.py): Optuna TPE over a model's declared search space, scored by the OOF kl_hq of the
one driver on the pipeline's prepared table and features, pruned between folds; every trial recorded, the best
written as a params file that reproduces it (through the fold cache)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from hms.models.registry import get_spec, model_names
from hms.params import deep_merge
from hms.tune import _apply, _current_values, exp_run_command, space_keys, tune
from tests.conftest import REPO
from tests.modelkit import fit


@pytest.fixture()
def pipeline(tmp_path: Path, tiny_prepared, tiny_features: Path, tiny_params: dict[str, Any],
             monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """A tiny pipeline's outputs where `hms tune` reads them: params.yaml (the tiny preset), data/prepared,
    features/<kind>; its own fold cache."""
    from hms.presets import apply_preset

    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    apply_preset("tiny", tmp_path / "params.yaml")
    # no GBDT stage 2 here: on ~5 hq eegs per fold a sampled min_data_in_leaf leaves LightGBM no feature it can
    # split ("num_features() > 0" check), which `hms tune` records as a failed trial (tested below)
    text = (tmp_path / "params.yaml").read_text()
    (tmp_path / "params.yaml").write_text(text.replace("  hq_stage: true ", "  hq_stage: false", 1))
    prepared = tmp_path / "data" / "prepared"
    prepared.mkdir(parents=True)
    train, test = tiny_prepared
    train.to_parquet(prepared / "train.parquet")
    test.to_parquet(prepared / "test.parquet")
    monkeypatch.setenv("HMS_CACHE_DIR", str(tmp_path / "cache"))
    return {"root": tmp_path, "params": tmp_path / "params.yaml", "prepared": prepared, "features": tiny_features,
            "out": tmp_path / "reports" / "tune"}


def _tune(p: dict[str, Path], trials: int, **kw: Any):
    return tune("lgbm", trials, params_path=p["params"], prepared=p["prepared"], features_root=p["features"],
                out_dir=p["out"], **kw)


def test_three_tiny_trials_are_recorded_and_the_best_reproduces(pipeline, tiny_params, tiny_prepared,
                                                                 tiny_features: Path) -> None:
    result = _tune(pipeline, 3)
    table = pd.read_csv(pipeline["out"] / "lgbm" / "trials.csv")
    assert list(table["trial"]) == [0, 1, 2] and set(table["state"]) == {"COMPLETE"}
    keys = space_keys(get_spec("lgbm"))
    assert [f"param {k}" for k in keys] == sorted(c for c in table.columns if c.startswith("param "))
    assert {"fold0", "fold1", "fold2", "kl_hq", "kl_all", "seconds"} <= set(table.columns)
    # trial 0 is the current params; the two others were sampled (TPE seeded by params `seed`)
    current = _current_values({"gbdt": tiny_params["gbdt"], "lgbm": tiny_params["lgbm"]}, "lgbm", "gbdt")
    assert all(table.loc[0, f"param {k}"] == current[k] for k in keys)
    assert result.baseline_value == pytest.approx(table.loc[0, "kl_hq"])
    assert result.best_value == pytest.approx(table["kl_hq"].min())
    assert (pipeline["out"] / "lgbm" / "history.png").stat().st_size > 0
    # the params file holds only changed keys of the search space, and says how to run them
    text = result.params_file.read_text()
    best = yaml.safe_load(text) or {}
    flat = {f"lgbm.{k}": v for k, v in best.get("lgbm", {}).items()}
    assert set(best) <= {"lgbm"} and set(flat) <= set(keys) and flat == result.best
    assert all(current[k] != v for k, v in flat.items())
    assert "dvc exp run" in text and result.command.startswith("dvc exp run")
    # the best trial is the pipeline's result for those params: same OOF kl_hq, every fold from the cache
    from hms.params import load_params

    params = deep_merge(load_params(pipeline["params"]), best)
    train, test = tiny_prepared
    again = fit("lgbm", params, (train, test, tiny_features / "tabular"), pipeline["root"] / "again",
                cache=pipeline["root"] / "cache")
    from hms.metrics import cv_scores
    from hms.data.targets import TARGET_COLS

    assert sorted(again.resumed) == [0, 1, 2]
    kl_hq = cv_scores(train[list(TARGET_COLS)].to_numpy(), again.oof, train["n_votes"].to_numpy())["kl_hq"]
    assert kl_hq == pytest.approx(result.best_value, abs=1e-12)
    # the same command again replays the same trials from the fold cache
    rerun = _tune(pipeline, 3)
    assert (rerun.trials["resumed_folds"] == 3).all()
    assert np.array_equal(rerun.trials["kl_hq"].to_numpy(), result.trials["kl_hq"].to_numpy())


def test_a_bad_trial_is_pruned_after_its_folds_and_family_keys_are_flagged(pipeline) -> None:
    def space(trial, cfg):  # a family key (gbdt, shared with catboost) and an own key
        return {"gbdt.weight_power": trial.suggest_float("gbdt.weight_power", 0.0, 1.0),
                "lgbm.learning_rate": trial.suggest_float("lgbm.learning_rate", 1e-4, 0.3, log=True)}

    # trial 1: a learning rate so small that 60 rounds stay near uniform: worse than trial 0 after 2 folds
    result = _tune(pipeline, 3, space=space, prune_startup=1,
                   enqueue=[{"gbdt.weight_power": 0.5, "lgbm.learning_rate": 1e-4}])
    table = result.trials.set_index("trial")
    assert table.loc[0, "state"] == "COMPLETE" and table.loc[1, "state"] == "PRUNED"
    assert table.loc[1, "folds_done"] == 2 and np.isnan(table.loc[1, "kl_hq"])  # fold 3 never ran


def test_failed_trials_are_recorded_and_bad_setups_are_clear(pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    from hms.errors import ConfigError

    def space(trial, cfg):  # a value LgbmConfig refuses: the trial fails, the study goes on
        device = trial.suggest_categorical("lgbm.device", ["cpu", "tpu"])
        return {"lgbm.device": device}

    result = _tune(pipeline, 4, space=space, baseline=False, prune=False)
    states = dict(zip(result.trials["state"], result.trials.get("error", pd.Series(dtype=str))))
    assert "COMPLETE" in states and "FAIL" in states and "lgbm.device must be cpu, gpu or cuda" in str(states["FAIL"])
    with pytest.raises(ConfigError, match="not in block `lgbm` or `gbdt`"):
        _tune(pipeline, 1, space=lambda t, cfg: {"nn.lr": 0.1}, baseline=False)
    with pytest.raises(FileNotFoundError, match="run `dvc repro features@mosaic` first"):
        tune("efficientnet", 1, params_path=pipeline["params"], prepared=pipeline["prepared"],
             features_root=pipeline["root"] / "features", out_dir=pipeline["out"])


@pytest.mark.parametrize("name", model_names())
def test_every_search_space_builds_a_valid_config(name: str, tiny_params: dict) -> None:
    """Each declared key is a key of the model's blocks, and sampled values make a config the model accepts."""
    import optuna

    spec = get_spec(name)
    assert spec.search_space is not None
    cfg = spec.config(tiny_params[spec.family], tiny_params[name])
    blocks = spec.blocks(cfg)
    known = _current_values(blocks, name, spec.family)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    for _ in range(5):
        over = spec.search_space(study.ask(), cfg)
        assert set(over) <= set(known), set(over) - set(known)
        b = _apply(blocks, over, name, spec.family)
        spec.config(b[spec.family], b[name])


def test_exp_run_line_and_apply_keep_the_params_file(pipeline) -> None:
    from hms.params import load_params
    from hms.tune import apply_params_file

    params = load_params(pipeline["params"])
    line = exp_run_command({"lgbm.num_leaves": 9, "wave.loop.weight_decay": 0.02}, params)
    assert line == "dvc exp run -S 'lgbm.num_leaves=9' -S '+wave.loop.weight_decay=0.02'"
    before = pipeline["params"].read_text()
    best = pipeline["root"] / "best.yaml"
    best.write_text("# a result\nlgbm:\n  learning_rate: 0.1\nwave:\n  loop:\n    weight_decay: 0.02\n")
    assert apply_params_file(best, pipeline["params"]) == ["lgbm.learning_rate", "wave.loop"]
    after = pipeline["params"].read_text()
    changed = [(a, b) for a, b in zip(before.splitlines(), after.splitlines()) if a != b]
    assert len(changed) == 2 and len(before.splitlines()) == len(after.splitlines())
    assert changed[0][1].startswith("  learning_rate: 0.1 ") and "# full (real data)" in changed[0][1]  # comment kept
    old_loop, new_loop = (yaml.safe_load(c.strip())["loop"] for c in changed[1])
    assert new_loop == {**old_loop, "weight_decay": 0.02}  # merged into the model's loop overrides, the rest kept
    # a result that changes a family block says which other models it changes
    from hms.tune import _write_best

    _write_best(best, {"gbdt.weight_power": 0.7}, "lgbm", "gbdt", params, "kl_hq", 0.5, 0.6, 3, line, 2)
    assert "`gbdt` is shared: these `gbdt` keys change catboost too" in best.read_text()
    assert yaml.safe_load(best.read_text()) == {"gbdt": {"weight_power": 0.7}}


def test_cli(pipeline, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from hms.cli import main

    monkeypatch.chdir(pipeline["root"])
    (pipeline["root"] / "features").symlink_to(pipeline["features"], target_is_directory=True)
    assert main(["tune", "lgbm", "--trials", "1"]) == 0
    out = capsys.readouterr().out
    assert "best kl_hq:" in out and "dvc exp run" in out and (pipeline["root"] / "reports/tune/lgbm.yaml").is_file()
    assert main(["tune", "nosuchmodel", "--trials", "1"]) == 2
    assert "unknown model 'nosuchmodel'" in capsys.readouterr().err


def test_a_stopped_study_keeps_the_trials_it_finished(pipeline) -> None:
    """Ctrl-C (or a kill) in the middle of a study: trials.csv already holds every trial that ended."""
    calls = {"n": 0}

    def space(trial, cfg):
        calls["n"] += 1
        if calls["n"] == 4:  # call 1 is the check before the study; trials 0 and 1 run, trial 2 is stopped
            raise KeyboardInterrupt
        return {"lgbm.num_leaves": trial.suggest_int("lgbm.num_leaves", 3, 15)}

    with pytest.raises(KeyboardInterrupt):
        _tune(pipeline, 5, space=space, prune=False)
    table = pd.read_csv(pipeline["out"] / "lgbm" / "trials.csv")
    assert list(table["trial"]) == [0, 1] and set(table["state"]) == {"COMPLETE"} and table["kl_hq"].notna().all()

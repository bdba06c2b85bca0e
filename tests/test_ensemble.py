"""Blenders, nested CV and the stack/evaluate stages on synthetic noisy predictions (no training)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import check_grad
from scipy.special import softmax

from hms.constants import CONSENSUS, VOTE_COLS
from hms.data.targets import TARGET_COLS, tier
from hms.ensemble import (PoolBlender, StackerBlender, blended_models, blender_from_json, load_blender, nested_cv,
                          run_stack, stack_config, write_stack)
from hms.ensemble.config import PoolConfig, StackerConfig
from hms.metrics import cv_scores, kl_divergence
from hms import predictions as pred_files

MODELS = ["lgbm", "catboost", "efficientnet", "resnet", "wave"]


def noisy_inputs(n: int = 600, seed: int = 0, perfect: bool = False) -> dict:
    """Latent class distributions, votes drawn from them, and five base models that see the latent
    logits through different noise levels, temperatures and class biases (model 0 = the latent
    truth itself when `perfect`)."""
    rng = np.random.default_rng(seed)
    latent = rng.dirichlet(np.full(6, 0.4), size=n)
    latent = np.clip(latent, 1e-4, None)
    latent /= latent.sum(1, keepdims=True)
    n_votes = np.where(rng.random(n) < 0.4, rng.integers(10, 20, n), rng.integers(1, 5, n))
    votes = np.array([rng.multinomial(k, p) for k, p in zip(n_votes, latent)])
    y = votes / votes.sum(1, keepdims=True)
    logits = np.log(latent)
    probs = []
    for noise, temp, bias in [(0.8, 1.0, 0.0), (1.0, 0.6, 0.0), (1.2, 1.5, 0.5), (1.5, 1.0, 0.0), (2.0, 0.8, 0.3)]:
        probs.append(softmax(temp * (logits + noise * rng.normal(size=logits.shape)) + bias * rng.normal(size=6), axis=1))
    if perfect:
        probs[0] = latent
    return {"probs": np.stack(probs), "y": y, "n_votes": n_votes, "votes": votes, "latent": latent,
            "folds": rng.permutation(np.arange(n) % 4)}


@pytest.fixture(scope="module")
def inputs() -> dict:
    return noisy_inputs()


@pytest.mark.parametrize("space", ["linear", "log"])
def test_pool_weights_are_a_distribution(inputs: dict, space: str) -> None:
    b = PoolBlender(MODELS, PoolConfig(space=space)).fit(inputs["probs"], inputs["y"])
    w = np.array(list(b.model_weights().values()))
    assert (w >= 0).all() and abs(w.sum() - 1) < 1e-12
    pred = b.predict(inputs["probs"])
    np.testing.assert_allclose(pred.sum(axis=1), 1, atol=1e-12)
    # the fit is at least as good as equal weights (its starting point)
    equal = PoolBlender(MODELS, PoolConfig(space=space))
    equal.weights = np.full(5, 0.2)
    assert kl_divergence(inputs["y"], pred) < kl_divergence(inputs["y"], equal.predict(inputs["probs"]))


@pytest.mark.parametrize("make", [
    lambda: PoolBlender(MODELS, PoolConfig(space="linear")),
    lambda: PoolBlender(MODELS, PoolConfig(space="log")),
], ids=["linear", "log"])
def test_pool_puts_its_weight_on_a_perfect_model(make) -> None:
    d = noisy_inputs(perfect=True, seed=1)
    w = make().fit(d["probs"], d["y"]).model_weights()
    assert w["lgbm"] > 0.9, w


def test_stacker_leans_on_a_perfect_model() -> None:
    d = noisy_inputs(perfect=True, seed=1)
    s = StackerBlender(MODELS, StackerConfig(form="diagonal", l2=0.01)).fit(d["probs"], d["y"])
    imp = s.model_weights()
    assert imp["lgbm"] > 0.7, imp
    assert abs(sum(imp.values()) - 1) < 1e-12


@pytest.mark.parametrize("blender", [
    PoolBlender(MODELS[:3], PoolConfig(space="linear")),
    PoolBlender(MODELS[:3], PoolConfig(space="log")),
    StackerBlender(MODELS[:3], StackerConfig(form="diagonal", l2=0.05)),
    StackerBlender(MODELS[:3], StackerConfig(form="full", l2=0.05)),
    StackerBlender(MODELS[:3], StackerConfig(form="full", l2=0.0, bias=False, temperature=True)),
    StackerBlender(MODELS[:3], StackerConfig(form="diagonal", l2=0.0, bias=True, temperature=False)),
], ids=["pool-linear", "pool-log", "stacker-diagonal", "stacker-full", "stacker-full-no-bias", "stacker-diagonal-no-t"])
def test_analytic_gradients_match_finite_differences(blender) -> None:
    d = noisy_inputs(n=80, seed=2)
    w = np.where(d["n_votes"] >= 10, 3.0, 1.0)
    f = blender.objective(d["probs"][:3], d["y"], w)
    rng = np.random.default_rng(0)
    x0 = (rng.normal(size=3) if isinstance(blender, PoolBlender)
          else blender.initial_theta() + 0.1 * rng.normal(size=blender.initial_theta().shape))
    err = check_grad(lambda x: f(x)[0], lambda x: f(x)[1], x0, epsilon=1e-6)
    assert err < 1e-5 * max(1.0, np.linalg.norm(f(x0)[1])), err


class RecordingBlender:
    """Spy: remembers the exact rows it was fitted on and asked to predict."""

    log: list[tuple[str, np.ndarray]] = []

    def __init__(self) -> None:
        self.models = MODELS

    def fit(self, probs, y, weight=None):
        RecordingBlender.log.append(("fit", probs[0, :, 0].copy()))
        return self

    def predict(self, probs):
        RecordingBlender.log.append(("predict", probs[0, :, 0].copy()))
        return np.full((probs.shape[1], 6), 1 / 6)

    def to_json(self):
        return {}


def test_nested_cv_never_scores_a_fold_with_a_blender_fitted_on_it(inputs: dict) -> None:
    n = len(inputs["y"])
    probs = inputs["probs"].copy()
    probs[0, :, 0] = np.arange(n)  # tag every row so the spy can see which rows it got
    RecordingBlender.log = []
    folds = inputs["folds"]
    res = nested_cv(RecordingBlender, probs, inputs["y"], np.ones(n), folds)
    assert [kind for kind, _ in RecordingBlender.log] == ["fit", "predict"] * 4
    for k in range(4):
        fitted = RecordingBlender.log[2 * k][1].astype(int)
        scored = RecordingBlender.log[2 * k + 1][1].astype(int)
        assert set(scored) == set(np.flatnonzero(folds == k))
        assert not set(fitted) & set(scored)
        assert set(fitted) | set(scored) == set(range(n))
        np.testing.assert_array_equal(res.fit_rows[k], np.flatnonzero(folds != k))
    assert np.isfinite(res.oof).all()


def test_blenders_beat_the_best_single_model_in_nested_cv(inputs: dict) -> None:
    y, n_votes, folds = inputs["y"], inputs["n_votes"], inputs["folds"]
    singles = [cv_scores(y, p, n_votes)["kl_all"] for p in inputs["probs"]]
    scores = {}
    for name, make in {"pool-linear": lambda: PoolBlender(MODELS, PoolConfig("linear")),
                       "pool-log": lambda: PoolBlender(MODELS, PoolConfig("log")),
                       "stacker": lambda: StackerBlender(MODELS, StackerConfig(form="diagonal", l2=0.01)),
                       "stacker-full": lambda: StackerBlender(MODELS, StackerConfig(form="full", l2=0.1))}.items():
        scores[name] = cv_scores(y, nested_cv(make, inputs["probs"], y, np.ones(len(y)), folds).oof, n_votes)["kl_all"]
    assert max(scores.values()) < min(singles) - 0.02, (scores, singles)


@pytest.mark.parametrize("blender", [
    PoolBlender(MODELS, PoolConfig(space="log")),
    StackerBlender(MODELS, StackerConfig(form="diagonal", l2=0.1, bias=True, temperature=False)),
    StackerBlender(MODELS, StackerConfig(form="full")),
], ids=["pool", "stacker-diagonal", "stacker-full"])
def test_blender_json_round_trip_predicts_identically(inputs: dict, blender) -> None:
    blender.fit(inputs["probs"], inputs["y"])
    again = blender_from_json(json.loads(json.dumps(blender.to_json())))
    np.testing.assert_array_equal(again.predict(inputs["probs"]), blender.predict(inputs["probs"]))


def test_stack_config_rejects_unknown_keys_and_models() -> None:
    assert blended_models(stack_config(None), MODELS) == MODELS
    assert blended_models(stack_config({"exclude": ["wave"]}), MODELS) == [m for m in MODELS if m != "wave"]
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['weights'\] in block 'stack'"):
        stack_config({"weights": 1})
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['l3'\] in block 'stack.stacker'"):
        stack_config({"stacker": {"l3": 1}})
    with pytest.raises(ValueError, match=r"stack.exclude names \['xgboost'\], which are not in `models`"):
        blended_models(stack_config({"exclude": ["xgboost"]}), MODELS)
    with pytest.raises(ValueError, match="leaves no base model"):
        blended_models(stack_config({"exclude": MODELS}), MODELS)
    with pytest.raises(ValueError, match="stack.blender must be 'pool' or 'stacker'"):
        stack_config({"blender": "mean"})


# --- the stage functions on prediction files written to disk ---------------------------------

def fake_pipeline(root: Path, d: dict, n_test: int = 7) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Prepared-like train/test tables, predictions/prior/ and predictions/base/NAME/{oof,test}.parquet."""
    n = len(d["y"])
    train = pd.DataFrame({"sample_id": np.arange(1000, 1000 + n), "eeg_id": np.arange(1000, 1000 + n),
                          "n_votes": d["n_votes"], "fold": d["folds"]})
    train[list(TARGET_COLS)] = d["y"]
    train["consensus"] = np.asarray(CONSENSUS)[d["y"].argmax(1)]
    train["tier"] = tier(d["n_votes"])
    test = pd.DataFrame({"sample_id": np.arange(5, 5 + n_test), "eeg_id": np.arange(5, 5 + n_test)})
    rng = np.random.default_rng(3)
    shuffled = rng.permutation(n)  # files are sorted by id whatever order they are built in
    for i, name in enumerate(["prior", *MODELS]):
        p = np.tile(d["y"].mean(0), (n, 1)) if name == "prior" else d["probs"][i - 1]
        where = root / "predictions" / ("prior" if name == "prior" else f"base/{name}")
        pred_files.write_predictions(pred_files.oof_frame(train.iloc[shuffled], p[shuffled]), where / "oof.parquet")
        pred_files.write_predictions(pred_files.test_frame(test["eeg_id"].to_numpy()[::-1], rng.dirichlet(np.ones(6), n_test)),
                                     where / "test.parquet")
    return train, test


@pytest.mark.parametrize("blender", ["pool", "stacker"])
def test_run_stack_writes_nested_cv_outputs(tmp_path: Path, inputs: dict, blender: str) -> None:
    train, test = fake_pipeline(tmp_path, inputs)
    cfg = stack_config({"blender": blender})
    models = ["lgbm", "wave", "resnet"]
    res = run_stack(cfg, models, train, test, tmp_path / "predictions/base")
    # no randomness: a rerun gives the same blender and predictions, bit for bit
    again = run_stack(cfg, models, train, test, tmp_path / "predictions/base")
    assert again.blender == res.blender and again.oof.equals(res.oof) and again.test.equals(res.test)
    write_stack(res, tmp_path / "predictions/ensemble", tmp_path / "models/ensemble", tmp_path / "metrics/ensemble.json")
    metrics = json.loads((tmp_path / "metrics/ensemble.json").read_text())
    oof = pd.read_parquet(tmp_path / "predictions/ensemble/oof.parquet")
    assert oof["sample_id"].tolist() == train["sample_id"].tolist()
    assert metrics["kl_all"] == cv_scores(inputs["y"], oof[list(VOTE_COLS)].to_numpy(), inputs["n_votes"])["kl_all"]
    assert set(metrics["folds"]) == {"0", "1", "2", "3"} and saved_models(tmp_path) == ["lgbm", "wave", "resnet"]
    saved = json.loads((tmp_path / "models/ensemble/blender.json").read_text())
    # the honest score is worse than the in-sample fit of the same blender
    assert saved["in_sample"]["kl_all"] < metrics["kl_all"]
    assert set(saved["nested_cv_folds"]) == {"0", "1", "2", "3"}
    # test predictions = the saved blender applied to the base models' test files (by eeg_id)
    final = load_blender(tmp_path / "models/ensemble/blender.json")
    base = np.stack([pd.read_parquet(tmp_path / f"predictions/base/{m}/test.parquet")[list(VOTE_COLS)].to_numpy()
                     for m in final.models])
    got = pd.read_parquet(tmp_path / "predictions/ensemble/test.parquet")
    np.testing.assert_allclose(got[list(VOTE_COLS)].to_numpy(), final.predict(base), rtol=0, atol=1e-15)


def test_run_stack_rejects_oof_from_other_folds(tmp_path: Path, inputs: dict) -> None:
    train, test = fake_pipeline(tmp_path, inputs)
    stale = pd.read_parquet(tmp_path / "predictions/base/wave/oof.parquet")
    stale.loc[3, "fold"] = (stale.loc[3, "fold"] + 1) % 4
    pred_files.write_predictions(stale, tmp_path / "predictions/base/wave/oof.parquet")
    with pytest.raises(ValueError, match=r"predictions/base/wave/oof\.parquet: sample_id 1003 has fold .* rerun `dvc repro train@wave`"):
        run_stack(stack_config(None), ["lgbm", "wave"], train, test, tmp_path / "predictions/base")


def test_evaluate_writes_table_plots_and_summary(tmp_path: Path, inputs: dict) -> None:
    from hms.report.evaluate import ReportPaths, evaluate

    train, test = fake_pipeline(tmp_path, inputs)
    cfg = stack_config(None)
    write_stack(run_stack(cfg, MODELS, train, test, tmp_path / "predictions/base"), tmp_path / "predictions/ensemble",
                tmp_path / "models/ensemble", tmp_path / "metrics/ensemble.json")
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    latent = pd.DataFrame({"eeg_id": train["eeg_id"]})
    latent[list(VOTE_COLS)] = inputs["latent"]
    latent.to_csv(data_dir / "synth_latent.csv", index=False)
    paths = ReportPaths(tmp_path / "metrics/evaluate.json", tmp_path / "reports/summary.md", tmp_path / "reports/plots")
    metrics = evaluate(train, MODELS, tmp_path / "predictions",
                       tmp_path / "models/ensemble/blender.json", data_dir, None, paths)
    saved = json.loads(paths.metrics.read_text())
    assert saved == json.loads(json.dumps(metrics))
    ens = json.loads((tmp_path / "metrics/ensemble.json").read_text())
    assert (saved["kl_all"]["ensemble"], saved["ensemble"]) == (ens["kl_all"], ens["kl_hq"])
    # floor < ensemble < best base model < prior on these inputs (top-level values are kl_hq)
    best = min(saved[m] for m in MODELS)
    assert saved["floor_hq"] < saved["ensemble"] < best < saved["prior"]
    assert saved["floor_all"] == round(kl_divergence(inputs["y"], inputs["latent"]), 6)
    conf = pd.read_csv(paths.plots / "confusion_hq.csv")
    assert len(conf) == int((inputs["n_votes"] >= 10).sum()) and set(conf.columns) == {"actual", "predicted"}
    blender = json.loads((tmp_path / "models/ensemble/blender.json").read_text())
    assert blender["models"] == MODELS and abs(sum(blender["weights"].values()) - 1) < 1e-9
    for png in ("class_kl.png", "calibration.png", "blend_weights.png"):
        assert (paths.plots / png).read_bytes()[:4] == b"\x89PNG"
    summary = paths.summary.read_text()
    assert "| ensemble |" in summary and "floor" in summary and "Blender: pool" in summary


def saved_models(root: Path) -> list[str]:
    return json.loads((root / "models/ensemble/blender.json").read_text())["models"]

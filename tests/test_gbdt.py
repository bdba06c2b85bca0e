"""LightGBM / CatBoost base models (hms.train.gbdt): the soft-label losses, the fold loop, resume,
determinism and prediction through the saved fold models (also on the real Kaggle test example)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from catboost import CatBoostClassifier, Pool
from scipy.special import log_softmax, softmax

from hms.data.targets import TARGET_COLS
from hms.metrics import kl_divergence
from hms.prior import prior_oof
from hms.train import gbdt
from hms.train.gbdt import fitting
from hms.train.gbdt.config import GbdtConfig, load_configs
from hms.train.gbdt.data import FoldData, fold_split
from hms.train.gbdt.softlabel import (expand_soft_labels, soft_cross_entropy, softmax_ce_grad_hess,
                                      softmax_ce_objective, vote_weights)
from hms.train.gbdt.stages import hq_rows
from hms.train.gbdt.toydata import toy_tables, write_toy_features

MODELS = ("lgbm", "catboost")


def _soft_targets(rng: np.random.Generator, n: int) -> np.ndarray:
    y = rng.random((n, 6)) * (rng.random((n, 6)) < 0.6)  # sparse, like real votes
    y[np.arange(n), rng.integers(0, 6, n)] += 0.5
    return y / y.sum(axis=1, keepdims=True)


# ---------------------------------------------------------------- the soft-label losses

def test_lightgbm_objective_gradient_matches_finite_differences() -> None:
    rng = np.random.default_rng(0)
    y, z, w = _soft_targets(rng, 7), rng.normal(size=(7, 6)), rng.uniform(0.2, 2.0, 7)

    def total(zz: np.ndarray) -> float:  # the objective LightGBM minimises: sum_i w_i CE_i
        return float((w * -(y * log_softmax(zz, axis=1)).sum(axis=1)).sum())

    class FakeDataset:  # what LightGBM hands a custom objective
        def get_weight(self) -> np.ndarray:
            return w

    grad, hess = softmax_ce_objective(y)(z, FakeDataset())
    assert np.allclose(grad, softmax_ce_grad_hess(y, z, w)[0])
    eps = 1e-6
    num_grad, num_hess = np.zeros_like(z), np.zeros_like(z)
    for i in range(z.shape[0]):
        for k in range(z.shape[1]):
            dz = np.zeros_like(z)
            dz[i, k] = eps
            num_grad[i, k] = (total(z + dz) - total(z - dz)) / (2 * eps)
            # Diagonal second derivative from the analytic gradient.
            num_hess[i, k] = (softmax_ce_grad_hess(y, z + dz, w)[0][i, k] - softmax_ce_grad_hess(y, z - dz, w)[0][i, k]) / (2 * eps)
    np.testing.assert_allclose(grad, num_grad, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(hess, num_hess, rtol=1e-5, atol=1e-7)
    # Zero gradient exactly at softmax(z) = y: the minimiser is the target distribution.
    assert np.allclose(softmax_ce_grad_hess(y, np.log(y + 1e-300), w)[0], 0, atol=1e-12)


def test_row_expansion_weighted_multiclass_loss_equals_soft_cross_entropy() -> None:
    rng = np.random.default_rng(1)
    y, z, w = _soft_targets(rng, 50), rng.normal(size=(50, 6)), rng.uniform(0.2, 2.0, 50)
    x = rng.normal(size=(50, 3))
    xe, label, we, rows = expand_soft_labels(x, y, w)
    assert len(xe) == (y > 0).sum() and np.array_equal(xe, x[rows])
    assert np.allclose(np.bincount(rows, weights=we), w)  # a row's copies carry its whole weight
    expanded = float((we * -log_softmax(z[rows], axis=1)[np.arange(len(rows)), label]).sum() / we.sum())
    assert expanded == pytest.approx(soft_cross_entropy(y, z, w), rel=1e-12)
    # ... and differs from the KL only by the targets' entropy.
    assert soft_cross_entropy(y, z) - kl_divergence(y, softmax(z, axis=1)) == pytest.approx(
        float(-(y * np.log(np.where(y > 0, y, 1))).sum(axis=1).mean()), rel=1e-9)


def test_catboost_multiclass_on_expanded_set_is_the_soft_cross_entropy() -> None:
    """CatBoost's weighted MultiClass metric on the expanded eval set (what early stopping watches)
    equals our soft cross-entropy of its own predictions."""
    rng = np.random.default_rng(2)
    x = rng.normal(size=(160, 5)).astype(np.float32)
    y = softmax(2 * x @ rng.normal(size=(5, 6)), axis=1)
    xe, le, we, _ = expand_soft_labels(x[:120], y[:120])
    xv, lv, wv, _ = expand_soft_labels(x[120:], y[120:])
    model = CatBoostClassifier(loss_function="MultiClass", eval_metric="MultiClass", classes_count=6, iterations=20,
                               depth=3, random_seed=0, thread_count=1, use_best_model=False, verbose=False,
                               allow_writing_files=False)
    model.fit(Pool(xe, le, weight=we), eval_set=Pool(xv, lv, weight=wv))
    reported = model.get_evals_result()["validation"]["MultiClass"][-1]
    ours = soft_cross_entropy(y[120:], model.predict(x[120:], prediction_type="RawFormulaVal"))
    assert reported == pytest.approx(ours, rel=1e-6)


def test_vote_weights() -> None:
    n = np.array([1, 3, 10, 20])
    assert np.allclose(vote_weights(n, 0.0, 10), 1.0)
    assert np.allclose(vote_weights(n, 1.0, 10), [0.1, 0.3, 1.0, 1.0])
    assert np.allclose(vote_weights(n, 0.5, 10), np.sqrt([0.1, 0.3, 1.0, 1.0]))
    with pytest.raises(ValueError, match="no votes"):
        vote_weights(np.array([3, 0]), 0.5, 10)


def test_hq_rows_use_only_hq_eegs_of_the_training_part() -> None:
    hq_t, hq_v = np.array([True, False, True]), np.array([False, True])
    data = FoldData(0, np.arange(3), np.arange(3, 5), np.zeros((3, 1)), np.eye(6)[:3], np.ones(3), hq_t,
                    np.zeros((2, 1)), np.eye(6)[:2], hq_v)
    tr, va, reason = hq_rows(GbdtConfig(), data)
    assert tr.tolist() == [0, 2] and va.tolist() == [1] and reason == ""
    assert hq_rows(GbdtConfig(hq_valid="all"), data)[1].tolist() == [0, 1]
    assert hq_rows(GbdtConfig(hq_stage=False), data)[0] is None
    data.hq_valid = np.array([False, False])
    assert hq_rows(GbdtConfig(), data)[2].startswith("skipped")


def test_params_blocks_are_strict(tiny_params: dict[str, Any]) -> None:
    bad = copy.deepcopy(tiny_params)
    bad["lgbm"]["num_leavs"] = 3
    with pytest.raises(ValueError, match="num_leavs"):
        load_configs("lgbm", bad)
    bad = copy.deepcopy(tiny_params)
    bad["catboost"].update(device="gpu", rsm=0.5)
    with pytest.raises(ValueError, match="rsm"):
        load_configs("catboost", bad)
    assert fold_split(np.array([0, 1, 0, 2]), 0)[1].tolist() == [0, 2]


# ---------------------------------------------------------------- the fold loop on a toy table

@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory, tiny_params: dict[str, Any]):
    train, test, ftr, fte = toy_tables(150, 12, 20, tiny_params["folds"], seed=3, n_informative=5)
    features_dir = write_toy_features(tmp_path_factory.mktemp("toyfeat") / "tabular", ftr, fte)
    return train, test, features_dir


def _fit(name: str, params: dict[str, Any], toy, root: Path):
    train, test, features_dir = toy
    return fitting.fit(name, params, train, test, features_dir, root / "models" / name)


@pytest.fixture(scope="module")
def toy_fits(toy, tiny_params: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One fit per model, recording what each fold trained on."""
    seen: dict[str, list[FoldData]] = {}
    original = fitting.train_fold
    out = {}
    for name in MODELS:
        seen[name] = []

        def recording(name_, cfg, gb, data, seed, model_dir, key, _seen=seen[name]):
            _seen.append(data)
            return original(name_, cfg, gb, data, seed, model_dir, key)

        fitting.train_fold = recording
        try:
            root = tmp_path_factory.mktemp(f"fit_{name}")
            out[name] = (_fit(name, tiny_params, toy, root), root, seen[name])
        finally:
            fitting.train_fold = original
    return out


@pytest.mark.parametrize("name", MODELS)
def test_fit_oof_folds_and_outputs(name: str, toy, toy_fits, tiny_params: dict[str, Any]) -> None:
    train, test, features_dir = toy
    result, root, seen = toy_fits[name]
    ids = train["sample_id"].to_numpy()
    # Every fold trained, on the other folds only; validation parts cover every sample exactly once.
    assert [d.fold for d in seen] == list(range(tiny_params["folds"]))
    valid_all = np.concatenate([d.valid_ids for d in seen])
    assert len(valid_all) == len(ids) and set(valid_all) == set(ids)
    for d in seen:
        assert not set(d.train_ids) & set(d.valid_ids)
        assert set(d.valid_ids) == set(ids[train["fold"].to_numpy() == d.fold])
        assert set(d.train_ids) | set(d.valid_ids) == set(ids)
        assert d.hq_train.sum() == (train.set_index("sample_id").loc[d.train_ids, "n_votes"] >= 10).sum()
    # Valid probabilities, better than the class prior on this learnable table.
    assert result.oof.shape == (len(train), 6) and result.test.shape == (len(test), 6)
    for probs in (result.oof, result.test):
        assert np.isfinite(probs).all() and (probs > 0).all()
        np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-9)
    y = train[list(TARGET_COLS)].to_numpy()
    assert kl_divergence(y, result.oof) < 0.9 * kl_divergence(y, prior_oof(train))
    # Test predictions of fit == predict() through the saved fold models.
    model_dir = root / "models" / name
    assert np.array_equal(gbdt.predict(name, model_dir, features_dir, test), result.test)
    # Saved artefacts: native fold models, config for `hms predict`, importance, curves.
    suffix = ".txt" if name == "lgbm" else ".cbm"
    assert all((model_dir / f"fold{k}{suffix}").is_file() for k in range(tiny_params["folds"]))
    config = json.loads((model_dir / "config.json").read_text())
    assert config["kind"] == "tabular" and config["features"] == json.loads((features_dir / "config.json").read_text())
    assert config["feature_columns"] == [c for c in pd.read_parquet(features_dir / "train.parquet").columns if c != "sample_id"]
    imp = pd.read_csv(model_dir / "importance.csv")
    assert set(imp["feature"]) == set(config["feature_columns"]) and imp["importance"].sum() == pytest.approx(1.0)
    assert (model_dir / "importance.png").stat().st_size > 1000
    curve = pd.read_csv(root / "dvclive" / name / "plots" / "metrics" / "fold0" / "valid_kl.tsv", sep="\t")
    assert list(curve.columns[-2:]) == ["step", "valid_kl"] and len(curve) >= result.extra["fold_fits"]["0"]["best_iteration"]
    assert set(result.extra["fold_fits"]) == {str(k) for k in range(tiny_params["folds"])}


@pytest.mark.parametrize("name", MODELS)
def test_reported_validation_kl_is_the_saved_models_kl(name: str, toy, tiny_params: dict[str, Any], tmp_path: Path) -> None:
    """Early stopping watches the real validation KL: without stage 2, the fold's reported best KL is the
    KL of its saved model on its validation fold (and stage 1's curve reaches it at best_iteration)."""
    train = toy[0]
    params = copy.deepcopy(tiny_params)
    params["gbdt"]["hq_stage"] = False
    result = _fit(name, params, toy, tmp_path)
    y, folds = train[list(TARGET_COLS)].to_numpy(), train["fold"].to_numpy()
    for k, info in result.extra["fold_fits"].items():
        valid = folds == int(k)
        assert info["hq_stage"] == "off" and info["hq_rounds"] == 0
        assert info["valid_kl"] == pytest.approx(kl_divergence(y[valid], result.oof[valid]), rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("name", MODELS)
def test_fit_is_deterministic(name: str, toy, toy_fits, tiny_params: dict[str, Any], tmp_path: Path) -> None:
    again = _fit(name, tiny_params, toy, tmp_path / "a")
    first = toy_fits[name][0]
    assert np.array_equal(first.oof, again.oof) and np.array_equal(first.test, again.test)
    # Multi-threaded training (the default: 2 threads) must be reproducible too.
    params = copy.deepcopy(tiny_params)
    params[name]["threads"] = 2
    params["gbdt"]["hq_stage"] = False  # keeps the test short; stage 2 runs the same code path
    one, two = _fit(name, params, toy, tmp_path / "b"), _fit(name, params, toy, tmp_path / "c")
    assert np.array_equal(one.oof, two.oof) and np.array_equal(one.test, two.test)


def test_resume_reuses_finished_folds_and_retrains_changed_ones(toy, tiny_params: dict[str, Any], tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    name = "lgbm"
    first = _fit(name, tiny_params, toy, tmp_path)
    model_dir = tmp_path / "models" / name
    trained: list[int] = []
    original = fitting.train_fold

    def counting(*args, **kwargs):
        trained.append(args[3].fold)
        return original(*args, **kwargs)

    monkeypatch.setattr(fitting, "train_fold", counting)
    # Same params: nothing retrained, same predictions.
    again = _fit(name, tiny_params, toy, tmp_path)
    assert trained == [] and again.extra["resumed_folds"] == list(range(tiny_params["folds"]))
    assert np.array_equal(first.oof, again.oof) and np.array_equal(first.test, again.test)
    # An interrupted run (fold 1 unfinished: no fold1.json) retrains only fold 1.
    (model_dir / "fold1.json").unlink()
    _fit(name, tiny_params, toy, tmp_path)
    assert trained == [1]
    # Changed params retrain every fold.
    trained.clear()
    changed = copy.deepcopy(tiny_params)
    changed["lgbm"]["learning_rate"] = 0.15
    _fit(name, changed, toy, tmp_path)
    assert trained == list(range(tiny_params["folds"]))


def test_predict_refuses_features_from_another_config(toy, toy_fits, tmp_path: Path) -> None:
    train, test, features_dir = toy
    model_dir = toy_fits["lgbm"][1] / "models" / "lgbm"
    other = write_toy_features(tmp_path / "other", pd.read_parquet(features_dir / "train.parquet"),
                               pd.read_parquet(features_dir / "test.parquet"))
    (other / "config.json").write_text(json.dumps({"toy": True, "n_features": 99}))
    with pytest.raises(ValueError, match="different config"):
        gbdt.predict("lgbm", model_dir, other, test)
    (other / "config.json").write_text((features_dir / "config.json").read_text())
    pd.read_parquet(features_dir / "test.parquet").drop(columns=["f003"]).to_parquet(other / "test.parquet")
    with pytest.raises(ValueError, match="f003"):
        gbdt.predict("lgbm", model_dir, other, test)


# ---------------------------------------------------------------- real features (tiny pipeline + Kaggle example)

@pytest.mark.parametrize("name", MODELS)
def test_real_tabular_features_and_kaggle_test_example(name: str, tiny_features: Path, tiny_prepared, tiny_params,
                                                       kaggle_sample: Path, tmp_path: Path) -> None:
    """Fit on the tiny synthetic pipeline's tabular features; then predict the real public test eeg
    from features rebuilt with the model's saved feature config, as `hms predict` does."""
    from hms.data.layout import DataDir
    from hms.data.prepare import PrepareConfig, prepare_test
    from hms.features.build import build_features

    train, test = tiny_prepared
    model_dir = tmp_path / "models" / name
    result = fitting.fit(name, tiny_params, train, test, tiny_features / "tabular", model_dir)
    assert np.isfinite(result.oof).all()
    np.testing.assert_allclose(result.oof.sum(axis=1), 1.0, atol=1e-9)
    config = json.loads((model_dir / "config.json").read_text())
    samples = prepare_test(DataDir(kaggle_sample), PrepareConfig(workers=1))
    build_features(config["kind"], DataDir(kaggle_sample), "test", samples, config["features"],
                   tmp_path / "kaggle" / config["kind"], workers=1)
    probs = gbdt.predict(name, model_dir, tmp_path / "kaggle" / config["kind"], samples)
    assert probs.shape == (len(samples), 6) and np.isfinite(probs).all() and (probs > 0).all()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-9)

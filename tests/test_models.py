"""Every registered base model, through the one CV driver (timm-style: parametrised over the
registry, so a new model module is tested by adding it): its spec and typed config, OOF and test
predictions, fold isolation, determinism, the fold cache, the model dir prediction reads, and the
real Kaggle test example."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import hms
from hms.data.layout import DataDir
from hms.data.prepare import PrepareConfig, prepare_test
from hms.models.registry import UnknownModelError, get_spec, model_names
from hms.models.trained import fits as fold_fits
from hms.models.trained import fold_file, load_trained
from hms.predictions import check_probabilities
from hms.train.crossval import fit_tag
from tests import modelkit

MODELS = model_names()


def toy_params(tiny: dict[str, Any]) -> dict[str, Any]:
    """The tiny preset, with the wave net's stem stride and the spectrogram net's zoom cut for the toy
    signals' 256 steps (6.4 s at 40 Hz)."""
    p = copy.deepcopy(tiny)
    p["wave"] |= {"stem_stride": 2}
    p["resnet"] |= {"zoom_seconds": 2.0}
    return p


def plan(name: str, params: dict[str, Any]) -> list[tuple[int, int]]:
    """The (fold, seed) fits of `name` on the toy data's 3 folds (wave trains two seeds per fold)."""
    spec = get_spec(name)
    return fold_fits([0, 1, 2], spec.n_seeds(spec.config(params[spec.family], params[name])))


@pytest.fixture(scope="module")
def toy_data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("toy_features")
    return {kind: modelkit.toy_inputs(kind, root) for kind in ("tabular", "mosaic", "waves")}


@pytest.fixture(scope="module")
def fits(toy_data, tiny_params, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One fit per registered model, recording the rows each fold trained and validated on."""
    out = {}
    for name in MODELS:
        spec = get_spec(name)
        seen: list[tuple[int, np.ndarray, np.ndarray]] = []
        original = spec.fit_fold

        def spy(cfg, inputs, log, _seen=seen, _fit=original):
            _seen.append((inputs.fold, inputs.train_rows.copy(), inputs.valid_rows.copy()))
            return _fit(cfg, inputs, log)

        object.__setattr__(spec, "fit_fold", spy)
        try:
            root = tmp_path_factory.mktemp(f"fit_{name}")
            out[name] = (modelkit.fit(name, toy_params(tiny_params), toy_data[spec.features], root), root, seen)
        finally:
            object.__setattr__(spec, "fit_fold", original)
    return out


@pytest.mark.parametrize("name", MODELS)
def test_spec_and_typed_config(name: str) -> None:
    spec = get_spec(name)
    assert spec.name == name and spec.family in ("gbdt", "nn") and spec.suffix.startswith(".")
    cfg = spec.config({}, {})  # the defaults of both blocks
    assert spec.config(*spec.blocks(cfg).values()) == cfg  # config.json round trip


def test_unknown_or_hostile_names_are_refused() -> None:
    for bad in ("vit", "../outside/x", "registry", "spec", "Wave", ""):
        with pytest.raises(UnknownModelError, match="unknown model|does not export"):
            get_spec(bad)


@pytest.mark.parametrize("name", MODELS)
def test_folds_train_on_the_other_folds_only(name: str, fits, toy_data, tiny_params) -> None:
    result, _, seen = fits[name]
    train = toy_data[get_spec(name).features][0]
    folds = train["fold"].to_numpy()
    assert sorted(set(folds.tolist())) == [0, 1, 2]
    assert [k for k, _, _ in seen] == [k for k, _ in plan(name, toy_params(tiny_params))]
    for k, tr, va in seen:
        assert set(va.tolist()) == set(np.flatnonzero(folds == k).tolist())
        assert set(tr.tolist()) == set(np.flatnonzero(folds != k).tolist())
        assert not set(train["patient_id"].iloc[tr]) & set(train["patient_id"].iloc[va])


@pytest.mark.parametrize("name", MODELS)
def test_oof_and_test_predictions(name: str, fits, toy_data, tiny_params) -> None:
    result, root, _ = fits[name]
    train, test, features_dir = toy_data[get_spec(name).features]
    assert result.oof.shape == (len(train), 6) and result.test.shape == (len(test), 6)
    check_probabilities(result.oof, "oof")
    check_probabilities(result.test, "test")
    # the model dir prediction reads gives the driver's test predictions exactly
    trained = load_trained(root / "models", name)
    x = modelkit_inputs(features_dir, test)
    np.testing.assert_array_equal(trained.predict(x), result.test)
    config = json.loads((root / "models" / name / "config.json").read_text())
    assert config["name"] == name and config["features"] == json.loads((features_dir / "config.json").read_text())
    assert config["versions"]["hms"] == hms.__version__  # which release trained it, beside the code digest
    assert result.curves.groupby("fold").size().min() >= 1  # every fold logged its curve
    fit_json = json.loads((root / "models" / name / "fit.json").read_text())
    tags = {str(fit_tag(k, j)) for k, j in plan(name, toy_params(tiny_params))}
    assert set(fit_json["folds"]) == tags and "seconds" not in json.dumps(fit_json)
    run = json.loads((root / "dvclive" / name / "run.json").read_text())  # the run's record, beside its curves
    assert run["resumed_folds"] == [] and all(f["seconds"] > 0 and not f["resumed"] for f in run["folds"].values())


def modelkit_inputs(features_dir: Path, test) -> Any:
    from hms.features import store

    config = store.read_config(features_dir)
    if config["kind"] == "tabular":
        return store.read_table(features_dir, "test", expected_ids=test["sample_id"].to_numpy())
    return np.asarray(store.open_array(features_dir, "test", expected_ids=test["sample_id"].to_numpy())[0])


@pytest.mark.parametrize("name", MODELS)
def test_deterministic_and_cached(name: str, fits, toy_data, tiny_params, tmp_path: Path) -> None:
    first, first_root, _ = fits[name]
    spec = get_spec(name)
    data = toy_data[spec.features]
    params = toy_params(tiny_params)
    again = modelkit.fit(name, params, data, tmp_path / "a")  # a fresh cache: retrained from scratch
    assert again.resumed == []
    np.testing.assert_array_equal(first.oof, again.oof)
    np.testing.assert_array_equal(first.test, again.test)
    # the model files byte for byte too (DVC outputs): no random ids, times or temporary names inside
    fits_of = plan(name, params)
    model_files = [Path("models", name, f) for f in ("config.json", "fit.json",
                                                     *(fold_file(k, spec.suffix, j) for k, j in fits_of))]
    for f in model_files:
        assert (first_root / f).read_bytes() == (tmp_path / "a" / f).read_bytes(), f
    # the same inputs again: every fold comes from the cache, predictions and model dir identical
    cached = modelkit.fit(name, params, data, tmp_path / "b", cache=tmp_path / "a" / "cache")
    tags = [fit_tag(k, j) for k, j in fits_of]
    assert cached.resumed == tags
    np.testing.assert_array_equal(first.oof, cached.oof)
    for f in model_files:
        assert (first_root / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f
    assert json.loads((tmp_path / "b" / "dvclive" / name / "run.json").read_text())["resumed_folds"] == tags
    # a changed param is a new cache key: every fold retrained, and the seed is really used
    params["seed"] = 8
    reseeded = modelkit.fit(name, params, data, tmp_path / "c", cache=tmp_path / "a" / "cache")
    assert reseeded.resumed == [] and not np.array_equal(first.oof, reseeded.oof)


@pytest.mark.parametrize("name", MODELS)
def test_real_features_and_the_kaggle_test_example(name: str, tiny_features: Path, tiny_prepared, tiny_params,
                                                   kaggle_sample: Path, tmp_path: Path) -> None:
    """Fit on the tiny synthetic pipeline's real features; predict the real public test eeg from
    features rebuilt with the model's saved feature config, as `hms predict` does."""
    from hms.features.build import build_features

    spec = get_spec(name)
    train, test = tiny_prepared
    result = modelkit.fit(name, tiny_params, (train, test, tiny_features / spec.features), tmp_path)
    check_probabilities(result.oof, "oof")
    trained = load_trained(tmp_path / "models", name)
    samples = prepare_test(DataDir(kaggle_sample), PrepareConfig(workers=1))
    build_features(spec.features, DataDir(kaggle_sample), "test", samples, trained.features, tmp_path / "kaggle", workers=1)
    probs = trained.predict(modelkit_inputs(tmp_path / "kaggle", samples))
    assert probs.shape == (1, 6)
    check_probabilities(probs, f"{name} on the Kaggle test example")

"""Neural base models: the registry, flips and augmentations, the shared loop (overfit, fold
isolation, determinism, resume, fit == predict) and the real Kaggle test example through saved
checkpoints."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from hms.constants import VOTE_COLS
from hms.data.contract import read_test_csv
from hms.data.layout import DataDir
from hms.data.targets import TARGET_COLS, make_test_samples
from hms.features import store
from hms.models.image import tile
from hms.models.nets import create_model, get_net, model_config, net_names
from hms.predictions import check_probabilities
from hms.signal.montage import BIPOLAR_NAMES, PANELS
from hms.train import nn as nn_train
from hms.train.loss import kl_loss
from hms.train.nn import crossval as fit_module
from hms.train.nn.data import MOSAIC_FLIP, WAVE_FLIP, Augmenter, FeatureDataset, flip

SHAPES = {"mosaic": (8, 16, 32), "waves": (18, 256)}
# Small nets for the loop tests: the registry test below builds the real default backbones.
SMALL = {
    "efficientnet": {"backbone": "test_efficientnet", "image_size": [32, 32]},
    "resnet": {"backbone": "test_resnet", "image_size": [32, 32]},
    "wave": {"widths": [8, 16], "pools": [4, 4], "stem_stride": 2, "gru_hidden": 8},
}


def _params(name: str, **loop: Any) -> dict[str, Any]:
    return {"seed": 7, "lr": 3e-3, "nn": {"epochs": 2, "stage2_epochs": 1, "batch_size": 8, "threads": 1, **loop},
            name: dict(SMALL[name])}


def _table(n: int, start: int, n_folds: int | None, rng: np.random.Generator) -> pd.DataFrame:
    votes = rng.integers(0, 3, size=(n, 6))
    votes[:, 5] += 1
    votes[: n // 3] *= 5  # a third of the eegs have >= 10 votes
    df = pd.DataFrame({"sample_id": np.arange(start, start + n), "eeg_id": np.arange(start, start + n),
                       "patient_id": np.arange(n) // 2})
    df[list(VOTE_COLS)] = votes
    df["n_votes"] = votes.sum(axis=1)
    df[list(TARGET_COLS)] = votes / votes.sum(axis=1, keepdims=True)
    if n_folds:
        df["fold"] = (np.arange(n) // 2) % n_folds  # patients never straddle folds
    return df


@pytest.fixture(scope="module")
def random_data(tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, pd.DataFrame, Path]:
    """Train (36 eegs, 3 folds) and test (5 eegs) tables with random features in the store format."""
    rng = np.random.default_rng(0)
    train, test = _table(36, 100, 3, rng), _table(5, 900, None, rng)
    root = tmp_path_factory.mktemp("nnfeatures")
    for kind, shape in SHAPES.items():
        for split, df in (("train", train), ("test", test)):
            writer = store.ArrayWriter(root / kind, split, (len(df), *shape))
            writer[:] = rng.normal(size=(len(df), *shape)).astype(np.float16)
            writer.close()
            store.write_index(root / kind, split, df["sample_id"].to_numpy())
        layout = {"panels": list(PANELS)} if kind == "mosaic" else {"channels": list(BIPOLAR_NAMES)}
        store.write_config(root / kind, {"kind": kind, "layout": layout})
    return train, test, root


def _fit(name: str, data: tuple[pd.DataFrame, pd.DataFrame, Path], out: Path, params: dict[str, Any] | None = None):
    train, test, root = data
    kind = get_net(name).features
    return nn_train.fit(name, params or _params(name), train, test, root / kind, out / "models" / name,
                        live_dir=out / "dvclive" / name)


# --- registry, shapes, flips ----------------------------------------------------------------

@pytest.mark.parametrize("name", net_names())
def test_every_registered_net_outputs_logits(name: str) -> None:
    # the registry's own defaults (efficientnet_b0, resnet18, the wave net) on tiny inputs
    spec = get_net(name)
    cfg = model_config(name, {"image_size": [32, 32]} if spec.features == "mosaic" else {})
    shape = SHAPES[spec.features]
    model = create_model(name, cfg, shape).eval()
    with torch.no_grad():
        out = model(torch.randn(2, *shape))
    assert out.shape == (2, 6) and torch.isfinite(out).all()


def test_registry_defaults_and_unknown_keys() -> None:
    assert model_config("efficientnet", {}).backbone == "efficientnet_b0"
    assert model_config("resnet", {"backbone": None}).backbone == "resnet18"
    assert model_config("resnet", {"backbone": "resnet10t"}).backbone == "resnet10t"
    with pytest.raises(ValueError, match="unknown key"):
        model_config("wave", {"widht": [8]})
    with pytest.raises(KeyError, match="unknown neural model"):
        get_net("vit")


@pytest.mark.parametrize("layout,shape", [("split", (64, 64)), ("stack", (128, 32)), ("kaggle", (64, 32)), ("eeg", (64, 32))])
def test_tile_layouts(layout: str, shape: tuple[int, int]) -> None:
    panels = torch.arange(8, dtype=torch.float32).view(1, 8, 1, 1).expand(1, 8, 16, 32)
    img = tile(panels, layout)
    assert img.shape == (1, 1, *shape)
    if layout == "split":  # Kaggle panels stacked in the left half, EEG panels in the right half
        assert img[0, 0, ::16, 0].tolist() == [0, 1, 2, 3] and img[0, 0, ::16, -1].tolist() == [4, 5, 6, 7]


def test_flip_permutations_swap_the_right_panels_and_chains() -> None:
    assert MOSAIC_FLIP == (1, 0, 3, 2, 5, 4, 7, 6)
    assert WAVE_FLIP == (4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8, 9, 10, 11, 16, 17)
    names = np.array(BIPOLAR_NAMES)
    assert names[list(WAVE_FLIP)][:4].tolist() == ["Fp2-F8", "F8-T4", "T4-T6", "T6-O2"]
    assert names[list(WAVE_FLIP)][16:].tolist() == ["Fz-Cz", "Cz-Pz"]
    assert np.array(PANELS)[list(MOSAIC_FLIP)].tolist() == ["K_RL", "K_LL", "K_RP", "K_LP", "E_RL", "E_LL", "E_RP", "E_LP"]


@pytest.mark.parametrize("name", ["efficientnet", "wave"])
def test_flip_augmentation(name: str) -> None:
    spec = get_net(name)
    shape = SHAPES[spec.features]
    x = np.random.default_rng(1).normal(size=(4, *shape)).astype(np.float32)
    flipped = flip(x[0], spec.features)
    np.testing.assert_array_equal(flip(flipped, spec.features), x[0])  # twice = identity
    # position 0 (K_LL / Fp1-F7) now holds its mirror (K_RL / Fp2-F8); central pairs stay
    np.testing.assert_array_equal(flipped[0], x[0][1 if spec.features == "mosaic" else 4])
    if spec.features == "waves":
        np.testing.assert_array_equal(flipped[16:], x[0][16:])
    np.testing.assert_array_equal(flip(torch.tensor(x), spec.features, batched=True).numpy()[0], flipped)
    # an augmenter that only flips (p=1), through the Dataset: inputs flipped, targets untouched
    only_flip = {"flip_prob": 1.0, "shift_frac": 0.0} | ({"mask_prob": 0.0} if spec.features == "mosaic" else {})
    cfg = model_config(name, only_flip)
    targets = np.random.default_rng(2).dirichlet(np.ones(6), 4).astype(np.float32)
    ds = FeatureDataset(x, np.arange(4), cfg, targets, augment=Augmenter(cfg, spec.features, shape))
    xi, yi, wi = ds[0]
    np.testing.assert_array_equal(xi.numpy(), flipped)
    np.testing.assert_array_equal(yi.numpy(), targets[0])
    assert float(wi) == 1.0
    # and with flip_prob 0 nothing changes
    cfg0 = dataclasses.replace(cfg, flip_prob=0.0)
    np.testing.assert_array_equal(FeatureDataset(x, np.arange(4), cfg0, targets,
                                                 augment=Augmenter(cfg0, spec.features, shape))[0][0].numpy(), x[0])


def test_mosaic_masks_and_shifts_are_seeded_per_sample() -> None:
    cfg = model_config("efficientnet", {"flip_prob": 0.0, "mask_prob": 1.0, "time_masks": 2, "freq_masks": 2,
                                        "time_mask_frac": 0.25, "freq_mask_frac": 0.25, "shift_frac": 0.1})
    x = np.random.default_rng(3).normal(size=(2, *SHAPES["mosaic"])).astype(np.float32) + 5.0
    aug = Augmenter(cfg, "mosaic", SHAPES["mosaic"])
    a = aug(x[0], np.random.default_rng([1, 0]))
    b = aug(x[0], np.random.default_rng([1, 0]))
    c = aug(x[0], np.random.default_rng([2, 0]))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.shape == x[0].shape and (a == 0).any()  # masked / shifted-in cells are 0


# --- the loop -------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["wave", "resnet"])
def test_overfits_a_tiny_batch(name: str) -> None:
    torch.manual_seed(0)
    spec = get_net(name)
    cfg = model_config(name, {**SMALL[name], "drop_rate": 0.0})
    model = create_model(name, cfg, SHAPES[spec.features])
    x = torch.randn(8, *SHAPES[spec.features])
    y = torch.tensor(np.random.default_rng(4).dirichlet(np.full(6, 0.3), 8), dtype=torch.float32)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(60):
        loss = kl_loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    model.eval()
    with torch.no_grad():
        final = float(kl_loss(model(x), y))
    assert final < 0.25 * losses[0], (losses[0], losses[-1], final)


def test_training_never_sees_its_validation_fold(random_data, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    train = random_data[0]
    seen: dict[int, set[int]] = {}
    current = {"fold": -1}
    original_train_fold = fit_module.train_fold
    original_getitem = FeatureDataset.__getitem__

    def spy_train_fold(*args: Any, **kwargs: Any):
        current["fold"] = args[8]  # (name, features, cfg, loop, lr, rt, inputs, seed, fold, ...)
        seen[current["fold"]] = set()
        return original_train_fold(*args, **kwargs)

    def spy_getitem(self: FeatureDataset, i: int):
        if self.augment is not None:  # training datasets only (validation / prediction do not augment)
            seen[current["fold"]].add(int(self.rows[i]))
        return original_getitem(self, i)

    monkeypatch.setattr(fit_module, "train_fold", spy_train_fold)
    monkeypatch.setattr(FeatureDataset, "__getitem__", spy_getitem)
    _fit("resnet", random_data, tmp_path)
    assert sorted(seen) == [0, 1, 2]
    for k, rows in seen.items():
        tr, va = nn_train.fold_rows(train, k)
        assert set(va.tolist()) == set(np.flatnonzero(train["fold"].to_numpy() == k).tolist())
        assert rows and not rows & set(va.tolist())
        assert rows <= set(tr.tolist())
        assert not set(train["eeg_id"].iloc[sorted(rows)]) & set(train["eeg_id"].iloc[va])


def test_fit_is_deterministic_and_test_equals_predict(random_data, tmp_path: Path) -> None:
    train, test, root = random_data
    a = _fit("wave", random_data, tmp_path / "a")
    b = _fit("wave", random_data, tmp_path / "b")
    np.testing.assert_array_equal(a.oof, b.oof)
    np.testing.assert_array_equal(a.test, b.test)
    check_probabilities(a.oof, "oof")
    check_probabilities(a.test, "test")
    assert a.oof.shape == (len(train), 6) and a.test.shape == (len(test), 6)
    again = nn_train.predict("wave", tmp_path / "a" / "models" / "wave", root / "waves", test)
    np.testing.assert_array_equal(a.test, again)
    # curves through dvclive: one tsv per fold and metric, x = step
    tsv = tmp_path / "a" / "dvclive" / "wave" / "plots" / "metrics" / "fold0" / "valid_kl_hq.tsv"
    assert tsv.read_text().splitlines()[0].split("\t") == ["step", "valid_kl_hq"]
    assert len(tsv.read_text().splitlines()) == 1 + 3  # 2 + 1 epochs
    # checkpoints are plain state dicts
    state = torch.load(tmp_path / "a" / "models" / "wave" / "fold0.pt", weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    # a different seed gives different predictions (the seed is really used)
    c = nn_train.fit("wave", {**_params("wave"), "seed": 8}, train, test, root / "waves", tmp_path / "c" / "wave",
                     live_dir=tmp_path / "c" / "live")
    assert not np.array_equal(a.oof, c.oof)


def test_resume_keeps_finished_folds_and_retrains_on_param_change(random_data, tmp_path: Path) -> None:
    first = _fit("wave", random_data, tmp_path)
    model_dir = tmp_path / "models" / "wave"
    (model_dir / "fold1.pt").unlink()  # as if interrupted during fold 1
    (model_dir / "fold2.pt").unlink()
    (model_dir / "fold2.json").unlink()
    kept = {k: (model_dir / f"fold{k}.pt").stat().st_mtime_ns for k in (0,)}
    second = _fit("wave", random_data, tmp_path)
    assert (model_dir / "fold0.pt").stat().st_mtime_ns == kept[0]  # not retrained
    assert (model_dir / "fold1.pt").is_file() and (model_dir / "fold2.pt").is_file()
    np.testing.assert_array_equal(first.oof, second.oof)  # retrained folds are identical (deterministic)
    np.testing.assert_array_equal(first.test, second.test)
    # a changed param retrains every fold under a new hash
    changed = _params("wave")
    changed["lr"] = 1e-3
    third = _fit("wave", random_data, tmp_path, changed)
    assert (model_dir / "fold0.pt").stat().st_mtime_ns != kept[0]
    assert third.extra["params_hash"] != first.extra["params_hash"]
    assert json.loads((model_dir / "config.json").read_text())["params_hash"] == third.extra["params_hash"]


def test_predict_rejects_other_features(random_data, tmp_path: Path) -> None:
    train, test, root = random_data
    _fit("wave", random_data, tmp_path)
    other = tmp_path / "other"
    for split, df in (("test", test),):
        writer = store.ArrayWriter(other, split, (len(df), *SHAPES["waves"]))
        writer[:] = np.zeros((len(df), *SHAPES["waves"]), np.float16)
        writer.close()
        store.write_index(other, split, df["sample_id"].to_numpy())
    store.write_config(other, {"kind": "waves", "layout": {"channels": list(BIPOLAR_NAMES)}, "waves": {"fs_out": 20}})
    with pytest.raises(ValueError, match="differs from the feature config"):
        nn_train.predict("wave", tmp_path / "models" / "wave", other, test)
    with pytest.raises(FileNotFoundError, match="no model config"):
        nn_train.predict("wave", tmp_path / "nowhere", root / "waves", test)


def test_loop_options(random_data, tmp_path: Path) -> None:
    """hq_only, one-cycle, SGD, mixup and the per-model loop override all run and give probabilities."""
    params = _params("efficientnet", optimizer="sgd", schedule="onecycle", hq_only=True, stage2_epochs=0)
    params["efficientnet"] |= {"mixup_alpha": 0.4, "mixup_prob": 1.0, "tta_flip": False, "loop": {"epochs": 1}}
    result = _fit("efficientnet", random_data, tmp_path, params)
    check_probabilities(result.oof, "oof")
    assert set(result.extra["best_epochs"].values()) == {1}
    with pytest.raises(ValueError, match="unknown key"):
        _fit("efficientnet", random_data, tmp_path / "bad", {**params, "nn": {"epochz": 1}})


# --- the real tiny pipeline features and the real Kaggle test example ------------------------

@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory: pytest.TempPathFactory, tiny_features: Path, tiny_prepared, tiny_params) -> Path:
    """The three nets trained with tests/tiny_params.yaml on the tiny pipeline's real features."""
    train, test = tiny_prepared
    out = tmp_path_factory.mktemp("tiny_nn")
    for name in ("efficientnet", "resnet", "wave"):
        kind = get_net(name).features
        result = nn_train.fit(name, tiny_params, train, test, tiny_features / kind, out / "models" / name,
                              live_dir=out / "dvclive" / name)
        check_probabilities(result.oof, f"{name} oof")
        check_probabilities(result.test, f"{name} test")
        assert result.oof.shape == (len(train), 6) and result.test.shape == (len(test), 6)
    return out / "models"


def test_tiny_pipeline_models(tiny_models: Path, tiny_features: Path) -> None:
    for name in ("efficientnet", "resnet", "wave"):
        config = json.loads((tiny_models / name / "config.json").read_text())
        assert config["kind"] == get_net(name).features
        assert config["features"] == store.read_config(tiny_features / config["kind"])


def test_predict_real_kaggle_test_example(tiny_models: Path, kaggle_sample: Path, tmp_path: Path) -> None:
    from hms.features.build import build_features

    data = DataDir(kaggle_sample)
    samples = make_test_samples(read_test_csv(data.csv("test")))
    for name in ("efficientnet", "resnet", "wave"):
        config = json.loads((tiny_models / name / "config.json").read_text())
        out = tmp_path / config["kind"]
        if not out.exists():  # rebuild the features exactly as the model was trained on them
            build_features(config["kind"], data, "test", samples, config["features"], out, workers=1)
        probs = nn_train.predict(name, tiny_models / name, out, samples)
        check_probabilities(probs, f"{name} on the Kaggle test example")
        assert probs.shape == (1, 6)


def test_dataset_pickles_the_memmap_by_name(random_data) -> None:
    import pickle

    train, _, root = random_data
    array, _ = store.open_array(root / "waves", "train", train["sample_id"].to_numpy())
    cfg = model_config("wave", {})
    ds = FeatureDataset(array, np.arange(len(train)), cfg, train[list(TARGET_COLS)].to_numpy())
    blob = pickle.dumps(ds)
    assert len(blob) < array.nbytes / 4  # the file name travels, not the data
    again = pickle.loads(blob)
    for a, b in zip(ds[3], again[3]):
        np.testing.assert_array_equal(a.numpy(), b.numpy())

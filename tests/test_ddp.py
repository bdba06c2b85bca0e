"""Several processes through torch DDP (hms/train/nn/distributed.py): 2 gloo processes on CPU, launched by
torchrun from the nn family's fit_fold, give the predictions of 1 process.

Why they can be equal: the same global batch (each step's rows split between the ranks), the loss rescaled
so that DDP's gradient average is the global batch's weighted mean, BatchNorm statistics over the global
batch, the same initial weights and so the same optimizer steps, augmentations seeded per sample. What
remains is float32 summation order (the all-reduces, per-shard sums), a few 1e-8 per step that training
carries along: TOLERANCE bounds the largest probability difference. Dropout is off in this test because
its masks are drawn per rank (equal in distribution, not in value)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hms.params import deep_merge
from tests.modelkit import toy_inputs

# largest |p_2 - p_1| over the fold's validation and test probabilities. Measured with the old 1D net:
# 6.0e-7; with the L/R-symmetric net (max-pools and min/max merges, EMA, lr_mult 1): 1.1e-5, float32
# summation-order round-off carried through the epochs (a 10x larger step amplified it to 1e-3). 2e-5
# stays 100x below what another seed moves (3.8e-3 measured, asserted below).
TOLERANCE = 2e-5


@pytest.fixture(scope="module")
def waves(tmp_path_factory: pytest.TempPathFactory):
    return toy_inputs("waves", tmp_path_factory.mktemp("ddp_data"))


def _fit_fold(params: dict, data, tmp: Path, fold: int = 0):
    """spec.fit_fold on one fold (one torchrun launch when ddp_processes > 1): (valid + test probs, curves, info)."""
    from hms.data.targets import TARGET_COLS
    from hms.features.store import open_array
    from hms.models.registry import get_spec
    from hms.models.spec import FoldInputs
    from hms.seed import derive_seed

    train, test, features = data
    spec = get_spec("wave")
    cfg = spec.config(params["nn"], params["wave"])
    x, _ = open_array(features, "train")
    x_test, _ = open_array(features, "test")
    folds = train["fold"].to_numpy()
    inputs = FoldInputs(fold, x, train[list(TARGET_COLS)].to_numpy(np.float32), train["n_votes"].to_numpy(),
                        np.flatnonzero(folds != fold), np.flatnonzero(folds == fold), derive_seed(params["seed"], "wave", fold))
    curves: list = []
    fitted = spec.fit_fold(cfg, inputs, lambda step, values: curves.append((step, dict(values))))
    spec.save(fitted.model, tmp / "fold.pt")  # predictions through the saved file, as the driver makes them
    model = spec.load(cfg, tmp / "fold.pt", tuple(x.shape[1:]))
    probs = np.concatenate([spec.predict(cfg, model, x, inputs.valid_rows), spec.predict(cfg, model, x_test, None)])
    return probs, curves, fitted.info


def _params(tiny_params: dict, **nn: object) -> dict:
    # lr_mult 1: the toy net moves well away from uniform predictions (another seed moves them > 100x the
    # tolerance, asserted below), so a wrong gradient would show; a 10x larger step made the float32
    # summation-order noise of 2 ranks grow to 1e-3 through the net's max-pools and min/max merges
    return deep_merge(tiny_params, {"nn": {"epochs": 3, "stage2_epochs": 1, "batch_size": 8, "threads": 1, **nn},
                                    "wave": {"drop_rate": 0.0, "stem_stride": 2, "lr_mult": 1.0}})


def test_two_gloo_processes_predict_what_one_process_predicts(waves, tiny_params: dict, tmp_path: Path) -> None:
    one, curves1, info1 = _fit_fold(_params(tiny_params), waves, tmp_path)
    two, curves2, info2 = _fit_fold(_params(tiny_params, ddp_processes=2), waves, tmp_path)
    assert "ddp_processes" not in info1 and info2["ddp_processes"] == 2 and info2["ddp_backend"] == "gloo"
    assert info1["best_epoch"] == info2["best_epoch"]
    diff = np.abs(one - two).max()
    print(f"2 gloo processes vs 1: max |dp| = {diff:.2e} over {one.size} probabilities (tolerance {TOLERANCE:.0e})")
    assert diff < TOLERANCE, diff
    # the curves agree too: the train loss is the global batch's, the validation KL the same model's
    assert [s for s, _ in curves1] == [s for s, _ in curves2]
    for (_, v1), (_, v2) in zip(curves1, curves2):
        assert v1.keys() == v2.keys() and all(abs(v1[k] - v2[k]) < 10 * TOLERANCE for k in v1)
    # the tolerance means something: another seed moves the predictions far more
    other, _, _ = _fit_fold(deep_merge(_params(tiny_params), {"seed": tiny_params["seed"] + 1}), waves, tmp_path)
    assert np.abs(one - other).max() > 100 * TOLERANCE


def test_ddp_settings_are_checked(tiny_params: dict) -> None:
    from hms.models.registry import get_spec
    from hms.params import ConfigError
    from hms.train.nn import distributed

    spec = get_spec("wave")
    with pytest.raises(ConfigError, match="ddp_processes must be >= 1 and divide nn.batch_size"):
        spec.config({**tiny_params["nn"], "batch_size": 10, "ddp_processes": 4}, tiny_params["wave"])
    # outside torchrun every hook is the identity
    order = np.arange(10)
    assert distributed.world() == (0, 1) and distributed.shard(order, 4, True) is order
    assert distributed.local_batch(32) == 32 and distributed.all_sum(1.0, 2.0) == (1.0, 2.0)

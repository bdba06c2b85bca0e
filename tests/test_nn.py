"""The neural family (hms.train.nn, hms.nets, the nn model modules): every net's logits, tiling,
left/right flips and augmentations, the loop (overfit, options), plain state-dict checkpoints and
the refusal of untrusted ones. What every model shares (folds, cache, prediction) is tested in
tests/test_models.py."""

from __future__ import annotations

import dataclasses
import json
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from hms.data.targets import TARGET_COLS
from hms.errors import ConfigError
from hms.features import store
from hms.models.registry import get_spec, model_names
from hms.models.trained import CONFIG_FILE, ModelDirError, load_trained
from hms.nets.augment import waves_augment
from hms.nets.layers import alive_mask
from hms.nets.mosaic import MOSAIC_FLIP, mosaic_augment, tile
from hms.predictions import check_probabilities
from hms.signal.montage import BIPOLAR_FLIP, BIPOLAR_NAMES, PANELS, WAVES_FLIP
from hms.train.loss import kl_loss
from hms.train.nn.data import FeatureDataset, shift_time
from hms.train.nn.device import make_runtime, place
from hms.train.nn.family import UntrustedCheckpointError
from hms.train.nn.loop import smooth_few_votes
from tests import modelkit
from tests.test_models import toy_params

NETS = [m for m in model_names() if get_spec(m).family == "nn"]
SHAPES = modelkit.ARRAY_SHAPES
DEFAULT_SHAPES = {"mosaic": (8, 64, 128), "waves": (36, 2000)}  # params.yaml's features: 64 x 128 panels, 2 montages x 50 s at 40 Hz
SMALL = {"efficientnet": {"backbone": "test_efficientnet", "image_size": [32, 32]},
         "resnet": {"backbone": "test_resnet", "n_mels": 16},
         "wave": {"widths": [8, 16], "kernels": [5, 3], "pools": [2, 2], "stem_stride": 4, "similarity_dim": 4},
         "sparcnet": {"init_features": 8, "growth_rate": 4, "blocks": [2, 2], "stem_stride": 2}}


@pytest.mark.parametrize("name", NETS)
def test_every_net_outputs_logits_with_its_default_config(name: str, tmp_path: Path) -> None:
    """The default config of each net (as params.yaml has it) builds and maps a batch of the default
    feature shape to (B, 6) logits."""
    spec = get_spec(name)
    cfg = spec.config({}, {})
    shape = DEFAULT_SHAPES[spec.features]
    state = spec.build(cfg, shape).state_dict()
    spec.save(state, tmp_path / f"fold0{spec.suffix}")
    model = spec.load(cfg, tmp_path / f"fold0{spec.suffix}", shape)
    with torch.no_grad():
        out = model(torch.randn(2, *shape))
    assert out.shape == (2, 6) and torch.isfinite(out).all()


@pytest.mark.parametrize("layout,shape", [("split", (64, 64)), ("stack", (128, 32)), ("kaggle", (64, 32)), ("eeg", (64, 32))])
def test_tile_layouts(layout: str, shape: tuple[int, int]) -> None:
    panels = torch.arange(8, dtype=torch.float32).view(1, 8, 1, 1).expand(1, 8, 16, 32)
    img = tile(panels, layout)
    assert img.shape == (1, 1, *shape)
    if layout == "split":  # Kaggle panels stacked in the left half, EEG panels in the right half
        assert img[0, 0, ::16, 0].tolist() == [0, 1, 2, 3] and img[0, 0, ::16, -1].tolist() == [4, 5, 6, 7]


def test_flip_permutations_swap_the_right_panels_and_chains() -> None:
    assert MOSAIC_FLIP == (1, 0, 3, 2, 5, 4, 7, 6)
    assert BIPOLAR_FLIP.tolist() == [4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8, 9, 10, 11, 16, 17]
    names = np.array(BIPOLAR_NAMES)
    assert names[BIPOLAR_FLIP][:4].tolist() == ["Fp2-F8", "F8-T4", "T4-T6", "T6-O2"]
    assert names[BIPOLAR_FLIP][16:].tolist() == ["Fz-Cz", "Cz-Pz"]
    assert np.array(PANELS)[list(MOSAIC_FLIP)].tolist() == ["K_RL", "K_LL", "K_RP", "K_LP", "E_RL", "E_LL", "E_RP", "E_LP"]


@pytest.mark.parametrize("name", ["efficientnet", "sparcnet"])
def test_flip_augmentation(name: str) -> None:
    spec = get_spec(name)
    shape = SHAPES[spec.features]
    perm = list(MOSAIC_FLIP) if spec.features == "mosaic" else WAVES_FLIP.tolist()
    make = mosaic_augment if spec.features == "mosaic" else waves_augment
    x = np.random.default_rng(1).normal(size=(4, *shape)).astype(np.float32)
    flipped = x[0][perm]
    np.testing.assert_array_equal(flipped[perm], x[0])  # twice = identity
    only_flip = {"flip_prob": 1.0, "shift_frac": 0.0} | ({"mask_prob": 0.0} if spec.features == "mosaic" else {})
    cfg = spec.config({}, {**SMALL[name], **only_flip}).own
    targets = np.random.default_rng(2).dirichlet(np.ones(6), 4).astype(np.float32)
    ds = FeatureDataset(x, np.arange(4), cfg, targets, augment=make(cfg, shape))
    xi, yi, wi = ds[0]
    np.testing.assert_array_equal(xi.numpy(), flipped)  # inputs flipped ...
    np.testing.assert_array_equal(yi.numpy(), targets[0])  # ... targets untouched
    assert float(wi) == 1.0
    cfg0 = dataclasses.replace(cfg, flip_prob=0.0)
    np.testing.assert_array_equal(FeatureDataset(x, np.arange(4), cfg0, targets, augment=make(cfg0, shape))[0][0].numpy(), x[0])


def test_mosaic_masks_and_shifts_are_seeded_per_sample() -> None:
    cfg = get_spec("efficientnet").config({}, {"flip_prob": 0.0, "mask_prob": 1.0, "time_masks": 2, "freq_masks": 2,
                                               "time_mask_frac": 0.25, "freq_mask_frac": 0.25, "shift_frac": 0.1}).own
    x = np.random.default_rng(3).normal(size=(2, *SHAPES["mosaic"])).astype(np.float32) + 5.0
    aug = mosaic_augment(cfg, SHAPES["mosaic"])
    a, b = aug(x[0], np.random.default_rng([1, 0])), aug(x[0], np.random.default_rng([1, 0]))
    c = aug(x[0], np.random.default_rng([2, 0]))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.shape == x[0].shape and (a == 0).any()  # masked / shifted-in cells are 0


def test_wave_net_is_left_right_invariant_and_sees_masked_channels() -> None:
    """Swapping the hemispheres leaves the symmetric net's output unchanged (so flip TTA is off by
    default), while zeroing a channel (a masked electrode) changes it."""
    torch.manual_seed(0)
    spec = get_spec("wave")
    cfg = spec.config({}, {})
    assert not cfg.own.tta_flip and cfg.own.flip_prob == 0.0
    model = spec.build(cfg, SHAPES["waves"]).eval()
    x = torch.randn(3, *SHAPES["waves"])
    with torch.no_grad():
        out, flipped = model(x), model(x[:, WAVES_FLIP.tolist()])
        masked = x.clone()
        masked[:, 18 + 2] = 0.0  # T3 in its default average montage
        out_masked = model(masked)
    torch.testing.assert_close(out, flipped, rtol=0, atol=1e-5)
    assert (out - out_masked).abs().max() > 1e-4


@pytest.mark.parametrize("name", [n for n in NETS if get_spec(n).features == "waves"])
@pytest.mark.parametrize("montage", ["bipolar", "average"])
def test_waves_nets_read_only_their_montage(name: str, montage: str) -> None:
    """The waves features hold both montages; a net's `montage` picks its 18 channels and ignores the
    other 18 (and a bad name is a config error)."""
    spec = get_spec(name)
    cfg = spec.config({}, {**SMALL[name], "montage": montage})
    torch.manual_seed(0)
    model = spec.build(cfg, DEFAULT_SHAPES["waves"]).eval()
    x = torch.randn(2, *DEFAULT_SHAPES["waves"])
    other, own = (slice(18, 36), slice(0, 18)) if montage == "bipolar" else (slice(0, 18), slice(18, 36))
    changed_other, changed_own = x.clone(), x.clone()
    changed_other[:, other] = torch.randn_like(changed_other[:, other])
    changed_own[:, own] = torch.randn_like(changed_own[:, own])
    with torch.no_grad():
        out = model(x)
        assert torch.equal(out, model(changed_other))
        assert (out - model(changed_own)).abs().max() > 1e-4
    with pytest.raises(ConfigError, match="montage"):
        spec.config({}, {"montage": "laplacian"})


def test_alive_mask_marks_zeroed_channels() -> None:
    x = torch.randn(2, 18, 200)
    x[0, 5] = 0.0
    x[1, 7, 50:150] = 0.0
    m = alive_mask(x, 41)
    assert m[0, 5].sum() == 0 and m[0, 4].min() == 1
    assert m[1, 7, 80:120].sum() == 0 and m[1, 7, :20].min() == 1 and m[1, 7, 180:].min() == 1


@pytest.mark.parametrize("name", ["wave", "sparcnet", "resnet"])
def test_overfits_a_tiny_batch(name: str) -> None:
    torch.manual_seed(0)
    spec = get_spec(name)
    shape = SHAPES[spec.features]
    small = {**SMALL[name], "drop_rate": 0.0} | ({"zoom_seconds": 2.0, "mask_prob": 0.0} if name == "resnet" else {})
    model = spec.build(spec.config({}, small), shape)
    x = torch.randn(8, *shape)
    y = torch.tensor(np.random.default_rng(4).dirichlet(np.full(6, 0.3), 8), dtype=torch.float32)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = None
    for _ in range(60):
        loss = kl_loss(model(x), y)
        first = loss.item() if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        final = float(kl_loss(model(x), y))
    assert final < 0.25 * first, (first, final)


@pytest.mark.parametrize("name", NETS)
def test_channels_last_is_the_runtimes_choice_for_every_net(name: str) -> None:
    """`nn.channels_last` alone decides the memory format of every net's 2D convolution weights, on the
    CPU too (hms.train.nn.device.place): on gives channels-last 4D weights, off leaves every weight
    contiguous, and the logits agree either way."""
    spec = get_spec(name)
    shape = SHAPES[spec.features]
    x = torch.randn(3, *shape)
    logits = {}
    for on in (True, False):
        torch.manual_seed(0)
        cfg = spec.config({"channels_last": on}, SMALL[name] | ({"zoom_seconds": 2.0} if name == "resnet" else {}))
        model = place(spec.build(cfg, shape), make_runtime(dataclasses.replace(cfg.shared, device="cpu"))).eval()
        weights = [p for p in model.parameters() if p.ndim == 4]
        assert bool(weights) == (spec.features == "mosaic" or name == "resnet")
        if on:  # (a 1 x 1 kernel's weight is contiguous in both formats)
            assert all(p.is_contiguous(memory_format=torch.channels_last) for p in weights)
            assert not weights or not all(p.is_contiguous() for p in weights)
        assert all(p.is_contiguous() for p in model.parameters() if p.ndim != 4 or not on)
        with torch.no_grad():
            logits[on] = model(x)
    torch.testing.assert_close(logits[True], logits[False], rtol=1e-4, atol=1e-5)


@pytest.fixture(scope="module")
def mosaic_data(tmp_path_factory: pytest.TempPathFactory):
    return modelkit.toy_inputs("mosaic", tmp_path_factory.mktemp("mosaic"))


def test_loop_options(mosaic_data, tiny_params, tmp_path: Path) -> None:
    """hq_only, one-cycle, SGD, mixup and the per-model loop override all run and give probabilities."""
    params = toy_params(tiny_params)
    params["nn"] |= {"optimizer": "sgd", "schedule": "onecycle", "hq_only": True, "stage2_epochs": 0}
    params["efficientnet"] |= {"mixup_alpha": 0.4, "mixup_prob": 1.0, "tta_flip": False, "loop": {"epochs": 1}}
    result = modelkit.fit("efficientnet", params, mosaic_data, tmp_path)
    check_probabilities(result.oof, "oof")
    assert {f["info"]["best_epoch"] for f in result.folds.values()} == {1}
    assert set(result.curves["metric"]) == {"train_loss", "valid_loss", "valid_kl_all", "valid_kl_hq"}


def test_ema_and_kept_optimizer(mosaic_data, tiny_params, tmp_path: Path) -> None:
    """EMA weights are what is validated and saved; stage 2 may keep stage 1's optimiser; both
    change the fit (they are not no-ops) and stay seeded."""
    params = toy_params(tiny_params)
    loop = params["efficientnet"].get("loop", {})
    params["efficientnet"]["loop"] = loop | {"ema_decay": 0.0, "stage2_keep_opt": False}
    plain = modelkit.fit("efficientnet", params, mosaic_data, tmp_path / "plain")
    params["efficientnet"]["loop"] = loop | {"ema_decay": 0.9, "stage2_keep_opt": True}
    ema = modelkit.fit("efficientnet", params, mosaic_data, tmp_path / "ema")
    again = modelkit.fit("efficientnet", params, mosaic_data, tmp_path / "again")
    check_probabilities(ema.oof, "oof")
    assert not np.allclose(plain.oof, ema.oof)
    np.testing.assert_array_equal(ema.oof, again.oof)


def test_loader_workers_train_what_the_main_process_trains(mosaic_data, tiny_params, tmp_path: Path) -> None:
    """Two DataLoader workers on the CPU: the fit is the in-process one, byte for byte."""
    params = toy_params(tiny_params)
    params["efficientnet"] |= {"flip_prob": 0.5, "mask_prob": 1.0}
    inline = modelkit.fit("efficientnet", params, mosaic_data, tmp_path / "inline")
    params["nn"] |= {"num_workers": 2}
    workers = modelkit.fit("efficientnet", params, mosaic_data, tmp_path / "workers")
    np.testing.assert_array_equal(inline.oof, workers.oof)
    pd.testing.assert_frame_equal(inline.curves, workers.curves)
    params["seed"] += 1  # the check can fail: another seed trains another model
    assert not np.array_equal(modelkit.fit("efficientnet", params, mosaic_data, tmp_path / "seed").oof, inline.oof)


def test_workers_kept_across_epochs_draw_each_epochs_augmentations(mosaic_data) -> None:
    """A GPU run's training loader keeps its workers for the whole stage; each epoch's seed travels with
    the indices (EpochOrder), so two epochs through the same 2 workers give the in-process batches of
    each epoch, and the second epoch's differ from the first's."""
    from hms.train.nn.data import EpochOrder
    from hms.train.nn.device import Runtime
    from hms.train.nn.loop import loader

    train, _, root = mosaic_data
    array, _ = store.open_array(root, "train", train["sample_id"].to_numpy())
    cfg = get_spec("efficientnet").config({}, {"flip_prob": 0.5, "mask_prob": 1.0}).own
    ds = FeatureDataset(array, np.arange(len(train)), cfg, augment=mosaic_augment(cfg, tuple(array.shape[1:])))
    order = np.random.default_rng(0).permutation(len(ds))

    def epochs(rt: Runtime) -> tuple[list[np.ndarray], Any]:
        sampler = EpochOrder()
        batches = loader(ds, 8, rt, sampler, drop_last=True, persistent=True)
        out = []
        for seed in (11, 12):
            sampler.set(order, seed)
            out.append(np.concatenate([x.numpy() for x, _, _ in batches]))
        return out, batches

    gpu_like = Runtime(torch.device("cuda"), None, False, 2, False)  # what make_runtime gives on CUDA, minus pinning
    kept, batches = epochs(gpu_like)
    assert batches.persistent_workers and batches._iterator is not None  # the same workers served both epochs
    inline, _ = epochs(dataclasses.replace(gpu_like, device=torch.device("cpu"), num_workers=0))
    for a, b in zip(kept, inline):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(kept[0], kept[1])


def test_checkpoints_are_plain_state_dicts_and_others_are_refused(mosaic_data, tiny_params, tmp_path: Path) -> None:
    modelkit.fit("efficientnet", toy_params(tiny_params), mosaic_data, tmp_path)
    fold0 = tmp_path / "models" / "efficientnet" / "fold0.pt"
    state = torch.load(fold0, weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in state.values())

    class Payload:  # what a malicious checkpoint carries: an object torch would have to unpickle
        def __reduce__(self):
            return (print, ("code ran",))

    torch.save({"weights": Payload()}, fold0)
    with pytest.raises(UntrustedCheckpointError, match=f"untrusted or corrupt checkpoint {fold0}") as exc:
        load_trained(tmp_path / "models", "efficientnet")
    assert "weights_only=False" not in str(exc.value)
    fold0.write_bytes(b"not a checkpoint")
    with pytest.raises(UntrustedCheckpointError, match="untrusted or corrupt checkpoint"):
        load_trained(tmp_path / "models", "efficientnet")


def test_dataset_pickles_the_memmap_by_name(mosaic_data) -> None:
    train, _, root = mosaic_data
    array, _ = store.open_array(root, "train", train["sample_id"].to_numpy())
    cfg = get_spec("efficientnet").config({}, {}).own
    ds = FeatureDataset(array, np.arange(len(train)), cfg, train[list(TARGET_COLS)].to_numpy())
    blob = pickle.dumps(ds)
    assert len(blob) < array.nbytes / 4  # the file name travels, not the data
    again = pickle.loads(blob)
    for a, b in zip(ds[3], again[3]):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


@pytest.mark.parametrize("mode", ["none", "center", "sample", "fixed"])
def test_normalize_modes(mode: str) -> None:
    from hms.train.nn.data import normalize

    rng = np.random.default_rng(0)
    x = (rng.normal(3.0, 2.0, (8, 16, 32))).astype(np.float16)
    x[0, 0, :4] = np.nan  # a masked stretch reads as 0 before any normalisation
    cfg = dataclasses.replace(get_spec("efficientnet").config({}, {}).own, normalize=mode, scale=4.0, clip=2.5)
    out = normalize(x, cfg)
    ref = np.nan_to_num(x.astype(np.float32))
    expected = {"none": ref, "center": ref - ref.mean(), "sample": (ref - ref.mean()) / (ref.std() + 1e-6),
                "fixed": ref / 4.0}[mode]
    assert out.dtype == np.float32 and np.isfinite(out).all()
    np.testing.assert_allclose(out, np.clip(expected, -2.5, 2.5), rtol=1e-6, atol=1e-6)


def test_in_model_log_mel_matches_the_feature_stage_spectrogram() -> None:
    """SpecNet's log-mel (torch.stft in the model) is the pipeline's power spectrogram (numpy,
    hms.signal.spectrogram) through the same mel bank: one definition of a spectrogram."""
    from hms.nets.spectro import LogMel, SpecConfig
    from hms.signal.spectrogram import filterbank, power_spectrogram

    cfg = SpecConfig()
    x = np.random.default_rng(0).standard_normal((3, 2000)).astype(np.float32)
    for win, hop in ((cfg.full_win, cfg.full_hop), (cfg.zoom_win, cfg.zoom_hop)):
        ours = LogMel(cfg, win, hop)(torch.from_numpy(x)).numpy()
        fb = filterbank(cfg.n_mels, cfg.n_fft, cfg.fs, cfg.fmin_hz, cfg.fmax_hz, "mel")
        ref = np.log(np.einsum("mb,nbt->nmt", fb, power_spectrogram(x, cfg.n_fft, win, hop)) + 1e-4)
        np.testing.assert_allclose(ours, ref, atol=2e-4)


def test_spectrogram_net_splices_the_zoom_in_time_order() -> None:
    """The central 10 s at the fine hop replace the full view's frames of that span: a burst at the
    window's centre lands in the middle of the spliced axis, one at the start stays first."""
    from hms.nets.spectro import SpecConfig, SpecNet

    cfg = SpecConfig(mask_prob=0.0)
    net = SpecNet(cfg, (36, 2000)).eval()
    x = torch.zeros(1, 36, 2000)
    t = torch.arange(2000) / cfg.fs
    x[0, :, 990:1010] = torch.sin(2 * np.pi * 8 * t[990:1010])  # at 25 s, the centre
    x[0, :, 0:40] = torch.sin(2 * np.pi * 8 * t[0:40])  # the first second
    spec = net.spectrogram(x)[0, 0]
    full = 1 + 2000 // cfg.full_hop
    zoom = 1 + 400 // cfg.zoom_hop
    first, last = -(-800 // cfg.full_hop), (1199) // cfg.full_hop + 1
    assert spec.shape == (cfg.n_mels, full - (last - first) + zoom)
    energy = spec.sum(dim=0)
    centre = first + zoom // 2
    assert energy[centre - 5:centre + 5].max() > energy[first + 5:first + 30].max() + 1
    assert energy[:3].max() > energy[10:first].max() + 1


def test_a_model_trained_on_the_old_18_channel_waves_asks_for_a_retrain(tiny_params, tmp_path: Path) -> None:
    """A models dir from before the two-montage waves (input_shape [18, T]) is refused with one line that
    names the fold file and says to retrain, not with the net's bare shape error."""
    train, test, root = modelkit.toy_inputs("waves", tmp_path / "features")
    modelkit.fit("wave", toy_params(tiny_params), (train, test, root), tmp_path)
    config_path = tmp_path / "models" / "wave" / CONFIG_FILE
    config = json.loads(config_path.read_text())
    config["input_shape"] = [18, config["input_shape"][1]]
    config_path.write_text(json.dumps(config))
    with pytest.raises(ModelDirError, match=r"fold0\.pt: cannot rebuild .*retrain \(dvc repro train@wave\)"):
        load_trained(tmp_path / "models", "wave")


@pytest.mark.parametrize("name", ["efficientnet", "resnet", "wave"])
def test_fold_mean_in_one_pass_equals_fold_by_fold(name: str, tiny_params, tmp_path: Path) -> None:
    """The prediction path's one-pass mean over the fold nets (the spectrogram or the resized mosaic
    computed once per batch for all of them) gives exactly the numbers of predicting fold by fold and averaging."""
    train, test, root = modelkit.toy_inputs(get_spec(name).features, tmp_path / "features")
    modelkit.fit(name, toy_params(tiny_params), (train, test, root), tmp_path)
    trained = load_trained(tmp_path / "models", name)
    x, _ = store.open_array(root, "test", test["sample_id"].to_numpy())
    x = np.asarray(x)
    by_fold = sum(trained.spec.predict(trained.cfg, m, x, None) for m in trained.models) / len(trained.models)
    np.testing.assert_array_equal(trained.predict(x), by_fold)


@pytest.mark.parametrize("name", NETS)
def test_tta_shifts_average_the_shifted_inputs(name: str) -> None:
    """With `tta_shifts`, a prediction is the mean over the input, its zero-filled time shifts and (with
    `tta_flip`) the flips of all of them: the same numbers as predicting each view alone and averaging."""
    spec = get_spec(name)
    shape = DEFAULT_SHAPES[spec.features]
    cfg = spec.config({}, {**SMALL[name], "tta_flip": True, "tta_shifts": [3, -5]})
    plain = dataclasses.replace(cfg, own=dataclasses.replace(cfg.own, tta_flip=False, tta_shifts=[]))
    torch.manual_seed(0)
    model = spec.build(cfg, shape).eval()
    x = np.random.default_rng(0).standard_normal((5, *shape)).astype(np.float32)
    flip = list(MOSAIC_FLIP if spec.features == "mosaic" else WAVES_FLIP)
    views = [x, shift_time(x, 3), shift_time(x, -5)]
    views += [v[:, flip] for v in views]
    expected = np.mean([spec.predict(plain, model, np.ascontiguousarray(v), None) for v in views], axis=0)
    np.testing.assert_allclose(spec.predict(cfg, model, x, None), expected, rtol=0, atol=1e-12)
    assert torch.equal(shift_time(torch.from_numpy(x), 3), torch.from_numpy(shift_time(x, 3)))  # one function, both types


def test_scan_without_tta_drops_the_shifts_too() -> None:
    from hms.models.trained import TrainedModel
    from hms.recording.predict import _for_scan

    spec = get_spec("wave")
    model = TrainedModel(spec, spec.config({}, {}), {}, [])
    assert model.cfg.own.tta_shifts == [4]
    assert _for_scan(model, tta=True).cfg.own.tta_shifts == [4]
    off = _for_scan(model, tta=False).cfg.own
    assert off.tta_shifts == [] and not off.tta_flip


def test_label_smoothing_touches_only_few_vote_eegs() -> None:
    from hms.train.nn.config import LoopConfig

    y = np.array([[1.0, 0, 0, 0, 0, 0], [0, 0.5, 0.5, 0, 0, 0], [0.2, 0.8, 0, 0, 0, 0]])
    n_votes = np.array([1, 3, 10])
    assert smooth_few_votes(y, n_votes, LoopConfig()) is y  # smooth_eps 0 = off
    out = smooth_few_votes(y, n_votes, LoopConfig(smooth_eps=0.3, smooth_votes=3))
    np.testing.assert_allclose(out[0], [0.75, 0.05, 0.05, 0.05, 0.05, 0.05])
    np.testing.assert_allclose(out[1], 0.7 * y[1] + 0.05)
    np.testing.assert_array_equal(out[2], y[2])
    np.testing.assert_allclose(out.sum(axis=1), 1.0)


def test_full_epoch_benchmark_times_each_epoch_and_projects_the_real_run(tiny_prepared, tiny_features, tiny_params,
                                                                         tmp_path: Path, monkeypatch) -> None:
    """benchmarks/full_epoch.py (the GPU figures of docs/gpu.md) on the tiny data: three timed epochs,
    `--repeat` rows, the 5-fold projection from its own fields, and on the CPU a CPU check of exactly 0."""
    from benchmarks import full_epoch as bench

    train, test = tiny_prepared
    (tmp_path / "data" / "prepared").mkdir(parents=True)
    train.to_parquet(tmp_path / "data" / "prepared" / "train.parquet")
    test.to_parquet(tmp_path / "data" / "prepared" / "test.parquet")
    (tmp_path / "features").symlink_to(tiny_features)
    monkeypatch.chdir(tmp_path)
    row = bench.time_model("wave", toy_params(tiny_params), fold=0, epochs=2, repeat=2, check_rows=4)
    assert row["train_rows"] == 2 * int((train["fold"] != 0).sum()) and len(row["epoch_seconds"]) == 3
    e1, e2 = row["real_schedule"]
    epochs_s = (e1 * row["stage1_epoch_s"] + e2 * row["stage2_epoch_s"]) * bench.REAL_EEGS / (2 * len(train))
    runs = tiny_params["folds"] * row["seeds"] * (epochs_s + row["warm_up_s"]) / 60
    assert row["real_5fold_min"] == pytest.approx(runs, abs=0.06)
    assert row["device"] == "cpu" and row["cpu_vs_device_max_abs"] == 0.0

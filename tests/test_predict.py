"""Offline prediction: `hms predict` on a test directory must give exactly the submit stage's
submission (same features, fold models and blender), and must run on the real Kaggle test example.
Trains one GBDT and one neural model on the tiny synthetic data (both predict paths, two feature kinds)."""

from __future__ import annotations

import runpy
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from hms import predictions as pred_files
from hms.submission import load_sample_submission, validate_submission
from tests import modelkit

MODELS = ["lgbm", "wave"]
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory, tiny_data: Path, tiny_prepared: tuple[pd.DataFrame, pd.DataFrame],
             tiny_features: Path, tiny_params: dict[str, Any]) -> Path:
    """A working dir after train@MODELS, stack and the submit stage (run as DVC runs it)."""
    root = tmp_path_factory.mktemp("pipeline")
    train, test = tiny_prepared
    modelkit.fit_and_stack(MODELS, tiny_params, train, test, tiny_features, root)
    (root / "params.yaml").write_text(yaml.safe_dump({"data": {"dir": str(tiny_data)}}))
    return root


def run_submit_stage(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(workdir)
    runpy.run_path(str(REPO / "stages/submit.py"), run_name="__main__")
    return workdir / "submission.csv"


def test_submit_stage_writes_a_valid_submission(pipeline: Path, tiny_data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sub = pd.read_csv(run_submit_stage(pipeline, monkeypatch))
    sample = load_sample_submission(tiny_data)
    validate_submission(sub, sample)
    ens = pred_files.read_predictions(pipeline / "predictions/ensemble/test.parquet").set_index("eeg_id")
    # the floor only touches probabilities below 1e-6
    diff = (sub.set_index("eeg_id") - ens.loc[sub["eeg_id"]]).abs().to_numpy().max()
    assert diff < 1e-5


def test_predict_equals_submit_output(pipeline: Path, tiny_data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from hms.predict import predict_dir

    submitted = run_submit_stage(pipeline, monkeypatch)
    predicted = predict_dir(tiny_data, pipeline / "models", pipeline / "predicted.csv", workers=1)
    a, b = pd.read_csv(submitted), pd.read_csv(predicted)
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    assert submitted.read_bytes() == predicted.read_bytes()


def test_hms_predict_cli_on_the_real_kaggle_test_example(pipeline: Path, kaggle_sample: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Offline: every attempt to open a network connection fails the test."""
    import socket

    from hms.cli import main

    def no_network(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"hms predict tried to open a network connection: {args}")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket.socket, "connect_ex", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket, "getaddrinfo", no_network)

    out = tmp_path / "submission.csv"
    rc = main(["predict", "--data-dir", str(kaggle_sample), "--models", str(pipeline / "models"), "--out", str(out),
               "--workers", "1"])
    assert rc == 0
    sub = pd.read_csv(out)
    validate_submission(sub, load_sample_submission(kaggle_sample))
    assert sub["eeg_id"].tolist() == [3911565283]


def test_predict_names_a_missing_model_config(pipeline: Path, tiny_data: Path, tmp_path: Path) -> None:
    import shutil

    from hms.models.trained import ModelDirError
    from hms.predict import predict_dir

    models = tmp_path / "models"
    shutil.copytree(pipeline / "models", models)
    (models / "wave" / "config.json").unlink()
    with pytest.raises(ModelDirError, match=r"models/wave/config\.json: missing; .*dvc repro train@wave"):
        predict_dir(tiny_data, models, tmp_path / "out.csv", workers=1)


@pytest.mark.parametrize("change, message", [
    ("drop tabular.montages", r"its features config has no \['tabular\.montages'\]; it was trained by an older version"),
    ("add tabular.future_key", r"its features config has keys this version does not know \['tabular\.future_key'\]; "
                               r"it was trained by a newer version of hms: upgrade hms"),
])
def test_a_model_whose_features_config_is_another_versions_asks_for_a_retrain(pipeline: Path, tiny_data: Path,
                                                                              tmp_path: Path, change: str,
                                                                              message: str) -> None:
    """A models dir trained before `features.tabular.montages` existed was trained on bipolar EEG columns;
    today's default would rebuild other columns, so it is refused with one line, not fed other features.
    One from a newer version, with a key this one does not know, is refused as such (not as a params.yaml
    error)."""
    import json
    import shutil

    from hms.errors import ConfigError
    from hms.models.trained import ModelDirError
    from hms.predict import predict_dir
    from hms.recording.predict import load_models

    models = tmp_path / "models"
    shutil.copytree(pipeline / "models", models)
    config = json.loads((models / "lgbm" / "config.json").read_text())
    if change.startswith("drop"):
        del config["features"]["tabular"]["montages"]
    else:
        config["features"]["tabular"]["future_key"] = 1
    (models / "lgbm" / "config.json").write_text(json.dumps(config))
    message = r"lgbm/config\.json: " + message + r".*retrain \(dvc repro train@lgbm\)"
    with pytest.raises(ModelDirError, match=message):
        predict_dir(tiny_data, models, tmp_path / "out.csv", workers=1)
    with pytest.raises(ConfigError, match=message):  # `hms scan`
        load_models(models)


def test_predict_cli_bad_models_dir_is_one_line_exit_2(pipeline: Path, tiny_data: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """A broken models directory is the user's input, not a bug: one line, exit 2."""
    import shutil

    from hms.cli import main

    models = tmp_path / "models"
    shutil.copytree(pipeline / "models", models)
    (models / "wave" / "config.json").unlink()
    rc = main(["predict", "--data-dir", str(tiny_data), "--models", str(models), "--out", str(tmp_path / "o.csv"),
               "--workers", "1"])
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()][-1]
    assert rc == 2
    assert err.startswith("hms predict: error: ") and "config.json: missing" in err and "bug" not in err


def test_predict_is_sealed_against_a_hostile_models_dir(pipeline: Path, tiny_data: Path, tmp_path: Path) -> None:
    """Only registered model names, only files inside --models, no hub names in a model config."""
    import json
    import shutil

    from hms.models.registry import UnknownModelError
    from hms.models.trained import ModelDirError
    from hms.predict import predict_dir

    def hostile(edit) -> Path:
        models = tmp_path / f"models{len(list(tmp_path.iterdir()))}"
        shutil.copytree(pipeline / "models", models)
        edit(models)
        return models

    def rename_in_blender(models: Path) -> None:
        path = models / "ensemble/blender.json"
        path.write_text(path.read_text().replace('"wave"', '"../outside/wave"'))

    with pytest.raises(UnknownModelError, match="unknown model '../outside/wave'"):
        predict_dir(tiny_data, hostile(rename_in_blender), tmp_path / "a.csv", workers=1)

    def link_outside(models: Path) -> None:
        outside = tmp_path / "outside.txt"
        shutil.copy(models / "lgbm/fold0.txt", outside)
        (models / "lgbm/fold0.txt").unlink()
        (models / "lgbm/fold0.txt").symlink_to(outside)

    with pytest.raises(ModelDirError, match="outside the models directory"):
        predict_dir(tiny_data, hostile(link_outside), tmp_path / "b.csv", workers=1)

    assert not any((tmp_path / n).exists() for n in ("a.csv", "b.csv"))


def test_importing_the_models_opens_no_connection() -> None:
    """In a fresh interpreter, as `hms predict` starts: importing every model module (albumentations asks
    PyPI for its newest version at import unless told not to) must not touch the network."""
    import os
    import subprocess
    import sys

    code = """
import socket
tried = []
def refuse(*args, **kwargs):
    tried.append(args)
    raise OSError("network refused by the test")
socket.socket.connect = socket.socket.connect_ex = refuse
socket.create_connection = socket.getaddrinfo = refuse
from hms.models.registry import get_spec, model_names
for name in model_names():
    get_spec(name)
assert "albumentations" in __import__("sys").modules
print("TRIED", tried)
"""
    env = {k: v for k, v in os.environ.items() if k != "NO_ALBUMENTATIONS_UPDATE"}
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, check=True)
    assert "TRIED []" in out.stdout, out.stdout + out.stderr

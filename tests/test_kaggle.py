"""The Kaggle round trip without a network: `hms download` (credentials error, unzip + validate of a local
zip of the tiny synthetic data, the Kaggle API mocked only at its download call), and `hms export-kaggle`
(the folder, then the kernel script installing the hms wheel offline into a fresh environment that has
the dependencies preinstalled, as a Kaggle image does, and predicting the real Kaggle test example)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from hms.cli import main
from hms.kaggle import COMPETITION, RULES_URL, KaggleError
from hms.kaggle.download import extract, find_credentials

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture()
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture()
def clean_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A HOME without Kaggle credentials and no KAGGLE_* variables."""
    home = tmp_path / "home"
    home.mkdir()
    for key in list(os.environ):
        if key.startswith("KAGGLE_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    return home


@pytest.fixture(scope="module")
def tiny_zip(tmp_path_factory: pytest.TempPathFactory, tiny_data: Path) -> Path:
    """The tiny synthetic dataset zipped as Kaggle serves the competition (files at the top)."""
    path = tmp_path_factory.mktemp("zip") / f"{COMPETITION}.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(tiny_data.rglob("*")):
            if f.is_file():
                zf.write(f, f.relative_to(tiny_data).as_posix())
    return path


def _files(root: Path) -> dict[str, bytes]:
    return {f.relative_to(root).as_posix(): f.read_bytes() for f in sorted(root.rglob("*")) if f.is_file()}


# -- credentials -------------------------------------------------------------------------------------------

def test_no_credentials_is_one_line_naming_every_way_to_fix_it(clean_home: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAGGLE_") and k != "PYTHONPATH"}
    env.update(HOME=str(clean_home), XDG_CONFIG_HOME=str(clean_home / ".config"), PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, "-m", "hms.cli", "download", str(tmp_path / "data")],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    for needed in ("hms download: no Kaggle credentials", "~/.kaggle/kaggle.json", "KAGGLE_USERNAME", "KAGGLE_KEY",
                   RULES_URL):
        assert needed in lines[0]
    assert not (tmp_path / "data" / f"{COMPETITION}.zip").exists()


def test_no_credentials_opens_no_connection(clean_home: Path, no_network: None, tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="no Kaggle credentials"):
        main(["download", str(tmp_path / "data")])


def test_a_broken_kaggle_json_is_named(clean_home: Path, tmp_path: Path) -> None:
    token = clean_home / ".kaggle" / "kaggle.json"
    token.parent.mkdir()
    token.write_text('{"username": "me"}')
    with pytest.raises(SystemExit, match=r"\.kaggle/kaggle\.json: expected \{\"username\": \.\.\., \"key\": \.\.\.\}"):
        main(["download", str(tmp_path / "data")])


@pytest.mark.parametrize("setup, expected", [
    ({"env": {"KAGGLE_USERNAME": "u", "KAGGLE_KEY": "k"}}, "KAGGLE_USERNAME/KAGGLE_KEY"),
    ({"env": {"KAGGLE_USERNAME": "u"}}, None),  # a key is needed too
    ({"env": {"KAGGLE_API_TOKEN": "t"}}, "KAGGLE_API_TOKEN"),
    ({"file": ".kaggle/kaggle.json"}, ".kaggle/kaggle.json"),
    ({"file": ".config/kaggle/kaggle.json"}, ".config/kaggle/kaggle.json"),
    ({"file": "cfg/kaggle.json", "env": {"KAGGLE_CONFIG_DIR": "cfg"}}, "cfg/kaggle.json"),
    ({"file": ".kaggle/kaggle.json", "env": {"KAGGLE_CONFIG_DIR": "elsewhere"}}, None),
    ({"file": ".kaggle/access_token"}, ".kaggle/access_token"),
])
def test_credentials_are_found_where_the_kaggle_api_looks(tmp_path: Path, setup: dict[str, Any],
                                                           expected: str | None) -> None:
    env = {k: (str(tmp_path / v) if k == "KAGGLE_CONFIG_DIR" else v) for k, v in setup.get("env", {}).items()}
    if "file" in setup:
        f = tmp_path / setup["file"]
        f.parent.mkdir(parents=True)
        f.write_text('{"username": "u", "key": "k"}')
    found = find_credentials(env=env, home=tmp_path)
    if expected is None:
        assert found is None
    else:
        assert found is not None and found.endswith(expected)


# -- unzip + validate --------------------------------------------------------------------------------------

def test_download_of_a_local_zip_unpacks_and_validates(tiny_zip: Path, tiny_data: Path, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "kaggle"
    assert main(["download", str(data), "--zip", str(tiny_zip), "--workers", "2", "--folds", "3"]) == 0
    assert f"{data}: OK:" in capsys.readouterr().out
    files = _files(data)
    assert json.loads(files.pop(".hms-download.json"))["files"] == len(files)
    assert files == _files(tiny_data)
    assert tiny_zip.is_file()  # a zip the user gave is never deleted


def test_unzip_resumes_and_keeps_complete_files(tiny_zip: Path, tmp_path: Path) -> None:
    data = tmp_path / "kaggle"
    written, kept = extract(tiny_zip, data)
    assert kept == 0 and written > 5
    (data / "train.csv").unlink()
    eeg = sorted((data / "train_eegs").glob("*.parquet"))[0]
    eeg.write_bytes(eeg.read_bytes()[:100])  # as if the unzip was killed while writing it
    assert extract(tiny_zip, data) == (2, written - 2)
    assert not list(data.rglob("*.part"))


def test_a_zip_writing_outside_the_directory_is_refused(tmp_path: Path) -> None:
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("train.csv", "x")
        zf.writestr("../outside.txt", "x")
    with pytest.raises(KaggleError, match=r"'\.\./outside\.txt' would be written outside"):
        extract(evil, tmp_path / "data")
    assert not (tmp_path / "outside.txt").exists()


def test_a_damaged_zip_says_download_again(tiny_zip: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.zip"
    broken.write_bytes(tiny_zip.read_bytes()[: tiny_zip.stat().st_size // 2])
    with pytest.raises(SystemExit, match=r"broken\.zip: damaged or incomplete zip .*download again"):
        main(["download", str(tmp_path / "data"), "--zip", str(broken)])


def test_a_zip_that_is_not_the_competition_data_is_named(tmp_path: Path) -> None:
    other = tmp_path / "other.zip"
    with zipfile.ZipFile(other, "w") as zf:
        zf.writestr("data/train.csv", "x")
    with pytest.raises(KaggleError, match=r"no train\.csv or test\.csv at the top of the archive \(found data/train\.csv\)"):
        extract(other, tmp_path / "data")


# -- the Kaggle API, mocked at its download call only ------------------------------------------------------

@pytest.fixture()
def kaggle_api(monkeypatch: pytest.MonkeyPatch, clean_home: Path, no_network: None) -> Any:
    """The real kaggle package, authenticated with legacy-key variables (no request), whose
    competition_download_files is replaced by a stand-in recorded in `.calls`."""
    monkeypatch.setenv("KAGGLE_USERNAME", "someone")
    monkeypatch.setenv("KAGGLE_KEY", "0123456789abcdef")
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(clean_home / ".kaggle"))
    pytest.importorskip("kaggle", reason="the kaggle extra (pip install 'hms[kaggle]')")
    from kaggle.api.kaggle_api_extended import KaggleApi

    return KaggleApi


def test_download_through_the_kaggle_api(kaggle_api: Any, monkeypatch: pytest.MonkeyPatch, tiny_zip: Path,
                                         tiny_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    calls = []

    def fake_download(self: Any, competition: str, path: str | None = None, force: bool = False, quiet: bool = True,
                      unzip: bool = False) -> None:
        calls.append((competition, path, unzip))
        shutil.copy(tiny_zip, Path(path) / f"{competition}.zip")  # what the API leaves behind

    monkeypatch.setattr(kaggle_api, "competition_download_files", fake_download)
    data = tmp_path / "kaggle"
    assert main(["download", str(data), "--folds", "3", "--workers", "2"]) == 0
    assert calls == [(COMPETITION, str(data), False)]
    assert f"{data}: OK:" in capsys.readouterr().out
    assert not (data / f"{COMPETITION}.zip").exists()
    marker = data / ".hms-download.json"
    assert _files(data) == {**_files(tiny_data), marker.name: marker.read_bytes()}
    # a rerun validates again without downloading 20 GB again; --force downloads
    assert main(["download", str(data), "--folds", "3", "--workers", "2"]) == 0
    assert len(calls) == 1 and f"{data}: OK:" in capsys.readouterr().out
    assert main(["download", str(data), "--force", "--no-validate"]) == 0
    assert len(calls) == 2


@pytest.mark.parametrize("status, message", [
    (403, f"403 Forbidden\\): accept the competition rules at {RULES_URL}"),
    (401, r"rejected the credentials in KAGGLE_USERNAME/KAGGLE_KEY \(401\)"),
])
def test_kaggle_api_refusals_are_explained(kaggle_api: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                           status: int, message: str) -> None:
    import requests

    def refuse(self: Any, competition: str, **kwargs: Any) -> None:
        response = requests.Response()
        response.status_code = status
        raise requests.HTTPError(f"{status} Client Error", response=response)

    monkeypatch.setattr(kaggle_api, "competition_download_files", refuse)
    with pytest.raises(SystemExit, match=message):
        main(["download", str(tmp_path / "data")])


# -- export-kaggle -----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def trained_models(tmp_path_factory: pytest.TempPathFactory, tiny_prepared: tuple[pd.DataFrame, pd.DataFrame],
                   tiny_features: Path, tiny_params: dict[str, Any]) -> Path:
    """models/ with LightGBM and the blender, trained on the tiny data (as test_predict trains them)."""
    from tests import modelkit

    train, test = tiny_prepared
    return modelkit.fit_and_stack(["lgbm"], tiny_params, train, test, tiny_features, tmp_path_factory.mktemp("trained"))


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory, trained_models: Path) -> Path:
    out = tmp_path_factory.mktemp("export") / "hms-kaggle"
    assert main(["export-kaggle", str(out), "--models", str(trained_models), "--wheels", "hms",
                 "--dataset-id", "someone/hms-models"]) == 0
    return out


def test_export_folder_holds_models_wheel_kernel_and_metadata(export: Path, trained_models: Path) -> None:
    from hms.kaggle.export import KERNEL_SCRIPT, MARKER, NOTEBOOK

    assert _files(export / "models") == _files(trained_models)
    wheels = sorted(p.name for p in (export / "wheels").iterdir())
    assert wheels == ["hms-0.1.0-py3-none-any.whl"]
    with zipfile.ZipFile(export / "wheels" / wheels[0]) as zf:
        names = zf.namelist()
    assert "hms/kaggle/kernel.py" in names and "hms/cli.py" in names
    assert any(n.startswith("hms/synth/resources/") and n.endswith(".csv.gz") for n in names)
    assert not any("__pycache__" in n or n.startswith(("tests/", "stages/")) for n in names)

    kernel = (REPO / "hms/kaggle/kernel.py").read_text()
    assert (export / KERNEL_SCRIPT).read_text() == kernel
    nb = json.loads((export / NOTEBOOK).read_text())
    assert nb["nbformat"] == 4 and "".join(nb["cells"][1]["source"]) == kernel
    assert json.loads((export / "dataset-metadata.json").read_text())["id"] == "someone/hms-models"
    manifest = json.loads((export / MARKER).read_text())
    assert manifest["models"] == ["ensemble", "lgbm"] and manifest["wheels"] == wheels
    assert manifest["not_shipped"] == ["torch", "torchvision"]


def test_export_never_overwrites_what_it_did_not_write(export: Path, trained_models: Path, tmp_path: Path) -> None:
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    with pytest.raises(SystemExit, match="exists and is not an earlier export"):
        main(["export-kaggle", str(other), "--models", str(trained_models), "--wheels", "hms"])
    assert (other / "notes.txt").read_text() == "keep me"
    with pytest.raises(SystemExit, match=r"holds an earlier export: pass --force"):
        main(["export-kaggle", str(export), "--models", str(trained_models), "--wheels", "hms"])
    with pytest.raises(SystemExit, match=r"no ensemble/blender\.json"):
        main(["export-kaggle", str(tmp_path / "new"), "--models", str(tmp_path), "--wheels", "hms"])


def test_runtime_wheels_are_the_tested_versions_without_torch_or_extras(export: Path) -> None:
    import importlib.metadata as md

    from hms.kaggle.export import runtime_pins, wheel_requirements

    pins = runtime_pins(wheel_requirements(next((export / "wheels").glob("hms-*.whl"))))
    for needed in ("numpy", "pandas", "pyarrow", "scipy", "lightgbm", "catboost", "timm", "mne", "edfio"):
        assert pins[needed] == md.version(needed)
    for absent in ("torch", "torchvision", "triton", "dvc", "dvclive", "optuna", "kaggle", "wandb", "pytest"):
        assert absent not in pins
    assert not any(name.startswith("nvidia") for name in pins)


def _kaggle_like_env(tmp_path: Path) -> Path:
    """A fresh venv that sees every package of this environment except hms (a .pth to a folder of links),
    like a Kaggle image with torch, pandas, ... installed and no hms."""
    image = tmp_path / "image-site-packages"
    image.mkdir()
    site = Path(sysconfig.get_paths()["purelib"])
    for entry in site.iterdir():
        low = entry.name.lower()
        if low == "hms" or low.startswith(("hms-", "hms.", "__editable__.hms", "__editable___hms")):
            continue
        (image / entry.name).symlink_to(entry)
    venv = tmp_path / "kernel-venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    venv_site = Path(subprocess.run([str(venv / "bin/python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                    capture_output=True, text=True, check=True).stdout.strip())
    (venv_site / "kaggle_image.pth").write_text(f"{image}\n")
    return venv


def test_kernel_installs_hms_offline_and_predicts_like_hms_predict(export: Path, trained_models: Path,
                                                                    kaggle_sample: Path, tmp_path: Path) -> None:
    from hms.predict import predict_dir

    venv = _kaggle_like_env(tmp_path)
    python = str(venv / "bin/python")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PIP_FIND_LINKS")}
    env.update(HMS_EXPORT_DIR=str(export), HMS_DATA_DIR=str(kaggle_sample), HMS_OUT=str(tmp_path / "submission.csv"),
               PIP_CONFIG_FILE=os.devnull, PIP_NO_CACHE_DIR="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    before = subprocess.run([python, "-c", "import hms"], capture_output=True, cwd=tmp_path, env=env)
    assert before.returncode != 0  # the image has no hms
    proc = subprocess.run([python, str(export / "hms_kaggle_predict.py")], capture_output=True, text=True,
                          cwd=tmp_path, env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "Successfully installed hms-0.1.0" in proc.stdout
    where = subprocess.run([python, "-c", "import hms; print(hms.__file__)"], capture_output=True, text=True,
                           cwd=tmp_path, env=env, check=True).stdout.strip()
    assert where.startswith(str(venv))  # the wheel's copy, not this checkout

    expected = predict_dir(kaggle_sample, trained_models, tmp_path / "expected.csv", workers=1)
    assert (tmp_path / "submission.csv").read_bytes() == expected.read_bytes()


def test_a_manylinux_platform_also_takes_wheels_for_older_glibc() -> None:
    from hms.kaggle.export import expand_platforms

    tags = expand_platforms(["manylinux_2_28_x86_64"])
    assert tags[0] == "manylinux_2_28_x86_64" and tags[-1] == "manylinux1_x86_64"
    assert {"manylinux_2_17_x86_64", "manylinux2014_x86_64", "manylinux2010_x86_64"} <= set(tags)
    assert "manylinux_2_29_x86_64" not in tags
    assert expand_platforms(["manylinux2014_aarch64"])[:2] == ["manylinux_2_17_aarch64", "manylinux2014_aarch64"]
    assert expand_platforms(["win_amd64"]) == ["win_amd64"]

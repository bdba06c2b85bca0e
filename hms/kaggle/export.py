"""`hms export-kaggle`: one folder to upload as a Kaggle dataset, from which a kernel with internet off
installs hms and runs `hms predict` (hms/kaggle/kernel.py).

What goes into wheels/: the hms wheel built from this checkout and, with wheels="all", every package
hms needs at run time (its base dependencies, transitively) at the version installed here, i.e. the
tested versions of constraints.txt. pip keeps whatever the Kaggle image already has in a version hms
accepts, so these wheels are only used where the image lacks a package or has one that is too old.
Never shipped: torch and torchvision (every Kaggle image has them, built for its own CUDA; a CUDA
wheel is 1-3 GB), nor the extras (dvc, dvclive, optuna, kaggle, wandb), which prediction does not use."""

from __future__ import annotations

import importlib.metadata as md
import json
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from email.parser import Parser
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

import hms
from hms.kaggle import COMPETITION, KaggleError

SHIPPED_BY_IMAGE = frozenset({"torch", "torchvision"})
MARKER = "hms-export.json"
BLENDER = Path("ensemble") / "blender.json"
KERNEL_SCRIPT = "hms_kaggle_predict.py"
NOTEBOOK = "hms-predict.ipynb"


def source_root() -> Path:
    """The checkout hms is imported from; the wheel is built from it, so it ships the code that runs here."""
    root = Path(hms.__file__).resolve().parent.parent
    pyproject = root / "pyproject.toml"
    if not pyproject.is_file() or 'name = "hms"' not in pyproject.read_text():
        raise KaggleError(f"export-kaggle builds the hms wheel from a source checkout, but hms is imported from "
                          f"{root}: run it in the repository's environment (make env)")
    return root


def _pip(args: list[str], what: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        lines = [ln for ln in (proc.stderr or proc.stdout).splitlines() if ln.strip() and "is ignored" not in ln]
        raise KaggleError(f"{what} failed: {' | '.join(lines[-3:])}")


def build_hms_wheel(dest: Path) -> Path:
    """Build hms's wheel from a copy of pyproject.toml, README.md and hms/ (no stray build/ in the checkout),
    with the setuptools installed here: no index is contacted."""
    try:
        setuptools_version = Version(md.version("setuptools"))
    except md.PackageNotFoundError:
        setuptools_version = Version("0")
    if setuptools_version < Version("77"):
        raise KaggleError(f"building the hms wheel needs setuptools>=77 here (found {setuptools_version}): "
                          "pip install 'setuptools>=77'")
    root = source_root()
    with tempfile.TemporaryDirectory(prefix="hms-wheel-") as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        for name in ("pyproject.toml", "README.md"):
            shutil.copy2(root / name, src / name)
        shutil.copytree(root / "hms", src / "hms", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        _pip(["wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q", "-w", str(dest), str(src)],
             "building the hms wheel")
    wheels = sorted(dest.glob(f"hms-{hms.__version__}-*.whl"))
    if len(wheels) != 1:
        raise KaggleError(f"building the hms wheel left {len(wheels)} hms wheels in {dest}")
    return wheels[0]


def wheel_requirements(wheel: Path) -> list[str]:
    """The Requires-Dist lines of a wheel's METADATA (what `pip install` of that wheel asks for)."""
    with zipfile.ZipFile(wheel) as zf:
        meta = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        return Parser().parsestr(zf.read(meta).decode()).get_all("Requires-Dist") or []


def runtime_pins(requirements: list[str], python_version: str | None = None) -> dict[str, str]:
    """{name: installed version} for every package `requirements` need (no extras), transitively, except
    SHIPPED_BY_IMAGE and what only they need. Markers are evaluated for `python_version` (default: this one)."""
    env = dict(default_environment())
    if python_version:
        env.update(python_version=python_version, python_full_version=f"{python_version}.0")

    def applies(req: Requirement, extras: set[str]) -> bool:
        return req.marker is None or any(req.marker.evaluate({**env, "extra": e}) for e in {""} | extras)

    pins: dict[str, str] = {}
    seen: dict[str, set[str]] = {}
    todo = [(Requirement(r), "hms") for r in requirements if applies(Requirement(r), set())]
    while todo:
        req, parent = todo.pop()
        name = canonicalize_name(req.name)
        if name in SHIPPED_BY_IMAGE or (name in seen and set(req.extras) <= seen[name]):
            continue
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            raise KaggleError(f"{name} (needed by {parent}) is not installed here: install the environment first "
                              "(make env) so that the export ships the versions you tested") from None
        if not req.specifier.contains(dist.version, prereleases=True):
            raise KaggleError(f"{name} {dist.version} is installed but {parent} needs {req}: reinstall (make env)")
        pins[name] = dist.version
        seen[name] = seen.get(name, set()) | set(req.extras)
        for line in dist.requires or []:
            sub = Requirement(line)
            if applies(sub, seen[name]):
                todo.append((sub, name))
    return dict(sorted(pins.items()))


_LEGACY_MANYLINUX = {"manylinux1": 5, "manylinux2010": 12, "manylinux2014": 17}


def expand_platforms(platforms: list[str]) -> list[str]:
    """pip takes --platform tags literally; a glibc 2.28 image also runs wheels built for older glibc, so
    manylinux_2_28_x86_64 becomes every manylinux tag from 2.28 down (legacy aliases included)."""
    out: list[str] = []
    for tag in platforms:
        m = re.fullmatch(r"manylinux_2_(\d+)_(\w+)", tag)
        legacy = re.fullmatch(r"(manylinux1|manylinux2010|manylinux2014)_(\w+)", tag)
        if not (m or legacy):
            out.append(tag)
            continue
        glibc, arch = (int(m[1]), m[2]) if m else (_LEGACY_MANYLINUX[legacy[1]], legacy[2])
        for minor in range(glibc, 4, -1):
            out.append(f"manylinux_2_{minor}_{arch}")
            out += [f"{alias}_{arch}" for alias, v in _LEGACY_MANYLINUX.items() if v == minor]
    return list(dict.fromkeys(out))


def download_wheels(pins: dict[str, str], dest: Path, python_version: str | None,
                    platforms: list[str] | None) -> None:
    """pip download the exact wheels (binary only, no dependency resolution: `pins` is the closure)."""
    args = ["download", "--no-deps", "--only-binary=:all:", "-q", "--dest", str(dest)]
    if python_version:
        args += ["--python-version", python_version]
    for platform in expand_platforms(platforms or []):
        args += ["--platform", platform]
    _pip(args + [f"{n}=={v}" for n, v in pins.items()], f"downloading {len(pins)} wheels")


def _notebook(script: str) -> str:
    cells = [
        {"cell_type": "markdown", "metadata": {}, "source": [
            "# HMS: offline prediction with hms\n",
            "\n",
            "Inputs: the competition data and the dataset made by `hms export-kaggle`. Internet: off.\n",
            "The cell installs hms from the dataset's wheels (no download) and writes `submission.csv`."]},
        {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
         "source": script.splitlines(keepends=True)},
    ]
    nb = {"cells": cells, "nbformat": 4, "nbformat_minor": 4,
          "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                       "language_info": {"name": "python"}}}
    return json.dumps(nb, indent=1) + "\n"


def _readme(dataset_id: str, wheels: str) -> str:
    return f"""# hms models for Kaggle (written by `hms export-kaggle`)

- `models/`: the trained base models and the blender (`hms predict --models`).
- `wheels/`: hms{' and the packages it needs except torch and torchvision' if wheels == 'all' else ' only'};
  `pip install --no-index --find-links wheels hms` keeps what the image already has in a version hms accepts.
- `{NOTEBOOK}` / `{KERNEL_SCRIPT}`: install offline, then `hms predict` on the competition's test data.
- `{MARKER}`: what was exported (the notebook finds this folder by it).

Upload: set "id" in dataset-metadata.json (now `{dataset_id}`), then
`kaggle datasets create -p THIS_FOLDER --dir-mode zip` (or drag the folder into kaggle.com > Datasets > New).
Kernel: attach this dataset and {COMPETITION}, internet off, import `{NOTEBOOK}` and run it.
"""


def export_kaggle(out: Path, models: Path, wheels: str = "all", python_version: str | None = None,
                  platforms: list[str] | None = None, dataset_id: str = "USERNAME/hms-models",
                  force: bool = False) -> Path:
    """Write the export folder `out` (built next to it, renamed when complete); returns `out`."""
    if wheels not in ("all", "hms"):
        raise KaggleError(f"wheels must be 'all' or 'hms', not {wheels!r}")
    if not (models / BLENDER).is_file():
        raise KaggleError(f"{models}: no {BLENDER}: train the models and the blender first (dvc repro)")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        if not (out / MARKER).is_file():
            raise KaggleError(f"{out} exists and is not an earlier export: choose a new folder")
        if not force:
            raise KaggleError(f"{out} holds an earlier export: pass --force to replace it")
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        partial.mkdir(parents=True)
        shutil.copytree(models, partial / "models", ignore=shutil.ignore_patterns("__pycache__", "*.part", "*.tmp"))
        wheel_dir = partial / "wheels"
        wheel_dir.mkdir()
        hms_wheel = build_hms_wheel(wheel_dir)
        pins: dict[str, str] = {}
        if wheels == "all":
            pins = runtime_pins(wheel_requirements(hms_wheel), python_version)
            download_wheels(pins, wheel_dir, python_version, platforms)
        script = (Path(__file__).parent / "kernel.py").read_text()
        (partial / KERNEL_SCRIPT).write_text(script)
        (partial / NOTEBOOK).write_text(_notebook(script))
        (partial / "dataset-metadata.json").write_text(json.dumps(
            {"title": "HMS trained models and offline wheels", "id": dataset_id,
             "licenses": [{"name": "CC0-1.0"}]}, indent=2) + "\n")
        (partial / "README.md").write_text(_readme(dataset_id, wheels))
        manifest = {
            "hms_version": hms.__version__,
            "python_version": python_version or f"{sys.version_info.major}.{sys.version_info.minor}",
            "platforms": platforms or ["this machine's"],
            "wheels_mode": wheels,
            "not_shipped": sorted(SHIPPED_BY_IMAGE),
            "pinned": pins,
            "wheels": sorted(p.name for p in wheel_dir.glob("*.whl")),
            "models": sorted(p.name for p in (partial / "models").iterdir() if p.is_dir()),
            "install": "pip install --no-index --find-links wheels hms",
        }
        (partial / MARKER).write_text(json.dumps(manifest, indent=2) + "\n")
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    if out.exists():
        shutil.rmtree(out)
    partial.rename(out)
    return out


def _size(path: Path) -> int:
    return path.stat().st_size if path.is_file() else sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def summary(out: Path) -> str:
    """A few lines: total size, each part's size and count, and the upload command."""
    manifest = json.loads((out / MARKER).read_text())
    mb = lambda n: f"{n / 1e6:.1f} MB"  # noqa: E731
    lines = [f"{out}: {mb(_size(out))}",
             f"  models/  {mb(_size(out / 'models'))}  ({', '.join(manifest['models'])})",
             f"  wheels/  {mb(_size(out / 'wheels'))}  ({len(manifest['wheels'])} wheels; not shipped: "
             f"{', '.join(manifest['not_shipped'])})",
             f"  {NOTEBOOK}, {KERNEL_SCRIPT}, dataset-metadata.json, {MARKER}, README.md",
             f"next: set \"id\" in {out / 'dataset-metadata.json'}, then kaggle datasets create -p {out} --dir-mode zip"]
    return "\n".join(lines)

"""The Kaggle export end to end, with the full wheelhouse (downloads it once: needs the package index).

1. `hms export-kaggle WORK/export --models MODELS` (default --wheels all); prints its size and time.
2. An "image": a fresh venv that sees only torch, torchvision, what they require, and pip (a .pth to a
   folder of links), like a Kaggle image without the rest.
3. The export's kernel script in that venv, offline (pip config off, --no-index), on DATA_DIR.
4. Its submission.csv against `hms predict` in this environment: prints whether they are byte-identical.

    python benchmarks/kaggle_offline.py --models models/ [--data-dir tests/fixtures/kaggle_sample] [--work /tmp/k]
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1]


def image_site(out: Path, roots: tuple[str, ...] = ("torch", "torchvision", "pip")) -> list[str]:
    """Links to the files of `roots` and everything they require (extras followed); returns the names."""
    out.mkdir(parents=True)
    todo, seen = [(r, ()) for r in roots], set()
    while todo:
        name, extras = todo.pop()
        name = canonicalize_name(name)
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        dist = md.distribution(name)
        for line in dist.requires or []:
            req = Requirement(line)
            if req.marker is None or any(req.marker.evaluate({"extra": e}) for e in ("",) + extras):
                todo.append((req.name, tuple(sorted(req.extras))))
        for top in {Path(str(f)).parts[0] for f in dist.files or []}:
            src = Path(dist.locate_file(top))
            if src.exists() and top != ".." and not top.endswith(".pth") and not (out / top).exists():
                (out / top).symlink_to(src)
    return sorted({n for n, _ in seen})


def size_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="models")
    ap.add_argument("--data-dir", default=str(REPO / "tests/fixtures/kaggle_sample"))
    ap.add_argument("--work", default=None, help="working folder (default: a new temporary one)")
    args = ap.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="hms-kaggle-offline-"))
    export = work / "export"

    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "hms.cli", "export-kaggle", str(export), "--models", args.models], check=True)
    print(f"export: {size_mb(export):.1f} MB (models {size_mb(export / 'models'):.1f} MB, wheels "
          f"{size_mb(export / 'wheels'):.1f} MB, {len(list((export / 'wheels').glob('*.whl')))} wheels) "
          f"in {time.perf_counter() - t0:.0f} s")

    names = image_site(work / "image")
    venv = work / "kernel-venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = subprocess.run([str(venv / "bin/python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    Path(site, "image.pth").write_text(f"{work / 'image'}\n")
    print(f"image: {len(names)} distributions ({', '.join(n for n in names if not n.startswith(('nvidia', 'cuda')))}, "
          "and the CUDA libraries)")

    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PIP_FIND_LINKS")}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_NO_CACHE_DIR="1", HMS_EXPORT_DIR=str(export),
               HMS_DATA_DIR=args.data_dir, HMS_OUT=str(work / "submission.csv"))
    t0 = time.perf_counter()
    log = work / "kernel.log"
    with open(log, "w") as f:
        rc = subprocess.run([str(venv / "bin/python"), str(export / "hms_kaggle_predict.py")], cwd=work, env=env,
                            stdout=f, stderr=subprocess.STDOUT).returncode
    installed = [ln for ln in log.read_text().splitlines() if ln.startswith("Successfully installed")]
    print(f"kernel: exit {rc} in {time.perf_counter() - t0:.0f} s; installed offline: "
          f"{len(installed[0].split()) - 2 if installed else 0} packages (log {log})")
    if rc != 0:
        sys.exit(1)

    subprocess.run([sys.executable, "-m", "hms.cli", "predict", "--data-dir", args.data_dir, "--models", args.models,
                    "--out", str(work / "expected.csv")], check=True, capture_output=True)
    same = (work / "submission.csv").read_bytes() == (work / "expected.csv").read_bytes()
    print(f"submission.csv vs hms predict here: {'byte-identical' if same else 'DIFFERENT'}")


if __name__ == "__main__":
    main()

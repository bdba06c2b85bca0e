"""The Kaggle round trip: `hms download` (the competition data through the official Kaggle API, unpacked
and validated) and `hms export-kaggle` (trained models + an offline wheelhouse + a kernel that runs
`hms predict` without internet). docs/kaggle.md. Heavy imports happen inside the commands."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any, Callable

COMPETITION = "hms-harmful-brain-activity-classification"
RULES_URL = f"https://www.kaggle.com/competitions/{COMPETITION}/rules"


class KaggleError(Exception):
    """Something the user fixes (credentials, rules, disk space, a bad archive): printed as one line."""


def _one_line(func: Callable[[argparse.Namespace], None]) -> Callable[[argparse.Namespace], None]:
    """Print a KaggleError as `hms COMMAND: message` and exit 1; HMS_DEBUG=1 shows the traceback."""

    def run(args: argparse.Namespace) -> None:
        try:
            func(args)
        except KaggleError as exc:
            if os.environ.get("HMS_DEBUG", "") not in ("", "0"):
                raise
            raise SystemExit(f"hms {args.command}: {exc}") from None

    return run


def _download(args: argparse.Namespace) -> None:
    from hms.kaggle.download import download

    data_dir = Path(args.data_dir)
    download(data_dir, zip_file=Path(args.zip) if args.zip else None, keep_zip=args.keep_zip,
             competition=args.competition, force=args.force)
    if args.no_validate:
        print(f"{data_dir}: unpacked (not validated)")
        return
    # Exactly what `hms validate DIR` runs, so both commands always check the same things.
    from hms.data.validate import validate_dir

    print("\n".join(validate_dir(data_dir, folds=args.folds, workers=args.workers)))


def _export(args: argparse.Namespace) -> None:
    from hms.kaggle.export import export_kaggle, summary

    out = export_kaggle(Path(args.out), Path(args.models), wheels=args.wheels, python_version=args.python_version,
                        platforms=args.platform or None, dataset_id=args.dataset_id, force=args.force)
    print(summary(out))


def add_commands(sub: Any) -> None:
    """Register `download` and `export-kaggle` on the `hms` subparsers."""
    p = sub.add_parser("download", help="download the competition data with the Kaggle API, unpack and validate it",
                       description=f"Download {COMPETITION}.zip with the official Kaggle API (credentials: "
                                   "~/.kaggle/kaggle.json or KAGGLE_USERNAME/KAGGLE_KEY; the competition rules must "
                                   f"be accepted at {RULES_URL}), unpack it into DATA_DIR (resumable: complete files "
                                   "are kept), then run the checks of `hms validate`. About 20 GB zipped.")
    p.add_argument("data_dir", help="directory to unpack into (the Kaggle layout: train.csv, train_eegs/, ...)")
    p.add_argument("--zip", default=None, metavar="FILE",
                   help="unpack this already downloaded competition zip instead of calling the Kaggle API")
    p.add_argument("--keep-zip", action="store_true", help="keep the downloaded zip after unpacking (default: delete it)")
    p.add_argument("--no-validate", action="store_true", help="only download and unpack")
    p.add_argument("--force", action="store_true",
                   help="download again even if DATA_DIR holds a complete earlier download")
    p.add_argument("--competition", default=COMPETITION, help=argparse.SUPPRESS)
    p.add_argument("--folds", type=int, default=5, help="fold count for the validation (default 5)")
    p.add_argument("--workers", type=int, default=8, help="I/O threads for the validation (default 8)")
    p.set_defaults(func=_one_line(_download))

    p = sub.add_parser("export-kaggle", help="pack models/ and an offline wheelhouse into a folder to upload as a Kaggle dataset",
                       description="Write OUT/ with models/ (every trained model and the blender), wheels/ (hms and the "
                                   "packages a Kaggle image may lack or have too old; never torch or torchvision), "
                                   "hms-predict.ipynb and hms_kaggle_predict.py (install offline, then `hms predict` on "
                                   "the competition's test data) and dataset-metadata.json. Building wheels/ downloads "
                                   "the wheels once (pip cache); docs/kaggle.md.")
    p.add_argument("out", help="folder to write (must not exist, be empty, or be an earlier export with --force)")
    p.add_argument("--models", default="models", help="trained models directory (default models/)")
    p.add_argument("--wheels", choices=["all", "hms"], default="all",
                   help="all: hms + its dependencies except torch/torchvision (default); hms: only the hms wheel, "
                        "for images that already have every dependency")
    p.add_argument("--python-version", default=None, metavar="X.Y",
                   help="Python of the Kaggle image the wheels are for (default: this Python); check with !python -V")
    p.add_argument("--platform", action="append", default=None, metavar="TAG",
                   help="wheel platform tag(s) of the Kaggle image, e.g. manylinux2014_x86_64 (default: this machine's)")
    p.add_argument("--dataset-id", default="USERNAME/hms-models",
                   help="Kaggle dataset id written to dataset-metadata.json (default USERNAME/hms-models)")
    p.add_argument("--force", action="store_true", help="replace OUT if it holds an earlier export")
    p.set_defaults(func=_one_line(_export))

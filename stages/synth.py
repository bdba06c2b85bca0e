"""DVC stage `synth`: write the embedded synthetic dataset in the Kaggle layout.
Usage: python stages/synth.py OUT_DIR"""

from __future__ import annotations

import sys
from pathlib import Path

from hms.io import write_json
from hms.logs import setup_logging
from hms.params import load_params
from hms.synth import run_synth


def main(out: Path) -> None:
    setup_logging()
    params = load_params()
    s = params["synth"]
    summary = run_synth(out, size=s["size"], seed=params["seed"], n_train_eegs=s.get("n_train_eegs"),
                        n_test_eegs=s.get("n_test_eegs"), workers=s.get("workers", 2))
    write_json(summary, Path("metrics/synth.json"))


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "data/synthetic"))

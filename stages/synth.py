"""DVC stage `synth`: write the embedded synthetic dataset in the Kaggle layout (nothing when
params.yaml selects the real data, `data.source: kaggle`). Usage: python stages/synth.py OUT_DIR"""

from __future__ import annotations

import sys
from pathlib import Path

from hms.errors import run_stage
from hms.io import write_json
from hms.logs import setup_logging
from hms.params import read_params
from hms.synth import run_synth

PARAMS = ("seed", "synth", "data.source")


def main(out: Path) -> None:
    log = setup_logging()
    p = read_params(PARAMS)
    if p["data"]["source"] != "synthetic":
        # the real data is selected: no synthetic dataset is generated, only an empty placeholder out
        out.mkdir(parents=True, exist_ok=True)
        write_json({"skipped": f"data.source is {p['data']['source']!r}"}, Path("metrics/synth.json"))
        log.info("synth: data.source is %r, no synthetic data generated", p["data"]["source"])
        return
    s = p["synth"]
    summary = run_synth(out, size=s["size"], seed=p["seed"], n_train_eegs=s["n_train_eegs"],
                        n_test_eegs=s["n_test_eegs"], workers=s["workers"])
    quality = ("n_train_eegs", "n_train_rows", "n_hq_eegs", "n_patients", "n_spectrograms", "n_test_eegs",
               "floor_all", "floor_hq", "prior_kl_all", "prior_kl_hq")
    write_json({k: summary[k] for k in quality}, Path("metrics/synth.json"))


if __name__ == "__main__":
    run_stage(main, Path(sys.argv[1] if len(sys.argv) > 1 else "data/synthetic"))

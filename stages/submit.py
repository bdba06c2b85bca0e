"""DVC stage `submit`: submission.csv from the ensemble's test predictions, in the exact format of
the data dir's sample_submission.csv. Usage: python stages/submit.py"""

from __future__ import annotations

from pathlib import Path

from hms.errors import run_stage
from hms.logs import setup_logging
from hms.params import read_params
from hms.predictions import read_predictions
from hms.submission import load_sample_submission, write_new_submission

PARAMS = ("data.dir",)


def main() -> None:
    setup_logging()
    sample_sub = load_sample_submission(read_params(PARAMS)["data"]["dir"])
    preds = read_predictions(Path("predictions/ensemble/test.parquet"))
    # replaced only by a valid file: with `persist: true` in dvc.yaml a failed run keeps the last one
    write_new_submission(preds, sample_sub, Path("submission.csv"))


if __name__ == "__main__":
    run_stage(main)

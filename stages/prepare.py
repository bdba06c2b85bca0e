"""DVC stage `prepare`: validate the data directory and write the prepared train/test tables
(targets, tiers, patient-grouped folds). Usage: python stages/prepare.py"""

from __future__ import annotations

from pathlib import Path

from hms.data.layout import DataDir
from hms.data.prepare import PrepareConfig, check_tables, prepare_test, prepare_train
from hms.errors import run_stage
from hms.io import write_parquet
from hms.logs import setup_logging
from hms.params import read_params, to_dataclass

PARAMS = ("seed", "folds", "data.dir", "prepare")
OUT = Path("data/prepared")


def main() -> None:
    setup_logging()
    p = read_params(PARAMS)
    data = DataDir(p["data"]["dir"])
    cfg = to_dataclass(PrepareConfig, p["prepare"], "prepare")
    check_tables(data)  # every CSV (test.csv vs sample_submission.csv included) before the slow file checks
    write_parquet(prepare_train(data, cfg, p["folds"], p["seed"]), OUT / "train.parquet")
    write_parquet(prepare_test(data, cfg), OUT / "test.parquet")


if __name__ == "__main__":
    run_stage(main)

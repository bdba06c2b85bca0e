"""DVC stage `prepare`: validate the data directory and write the prepared train/test tables
(targets, tiers, patient-grouped folds). Usage: python stages/prepare.py"""

from __future__ import annotations

from pathlib import Path

from hms.data.layout import DataDir
from hms.data.prepare import PrepareConfig, prepare_test, prepare_train
from hms.io import write_parquet
from hms.logs import setup_logging
from hms.params import load_params, to_dataclass

OUT = Path("data/prepared")


def main() -> None:
    setup_logging()
    params = load_params()
    data = DataDir(params["data"]["dir"])
    cfg = to_dataclass(PrepareConfig, params.get("prepare"), "prepare")
    write_parquet(prepare_train(data, cfg, params["folds"], params["seed"]), OUT / "train.parquet")
    write_parquet(prepare_test(data, cfg), OUT / "test.parquet")


if __name__ == "__main__":
    main()

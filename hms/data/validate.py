"""`hms validate`: every check of the data contract on one directory, in the order that fails fastest
(CSV tables, then windows, then every value of every file). Shared by `hms validate` and `hms download`."""

from __future__ import annotations

from pathlib import Path

from hms.data.layout import DataDir
from hms.data.prepare import PrepareConfig, check_tables, prepare_test, prepare_train
from hms.data.scan import scan_values


def validate_dir(data_dir: Path, folds: int = 5, workers: int = 8, quick: bool = False) -> list[str]:
    """The report lines of a directory that passes (impossible values first, then the summary);
    raises DataError at the first contract violation."""
    data = DataDir(Path(data_dir))
    cfg = PrepareConfig(workers=workers)
    check_tables(data)  # every CSV first: table errors come in a second, before any parquet file is read
    train = prepare_train(data, cfg, n_folds=folds, seed=0)
    test = prepare_test(data, cfg)
    lines = []
    if quick:
        scanned = "values not scanned (--quick)"
    else:
        report = scan_values(data, train, test, workers=workers)
        lines += [f"{path}: {what}" for path, what in report.impossible]
        scanned = report.summary()
    lines.append(f"{data_dir}: OK: {len(train)} train eegs ({int((train['tier'] == 'hq').sum())} with >= 10 votes), "
                 f"{train['patient_id'].nunique()} patients, {len(test)} test eegs; {scanned}")
    return lines

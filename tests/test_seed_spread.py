"""benchmarks/seed_spread.py: every model retrained with the given seed on fixed folds, then blended."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks import seed_spread as bench
from tests.modelkit import toy_inputs


def test_each_seed_retrains_every_model_and_blends_them(tiny_params: dict[str, Any], tmp_path: Path) -> None:
    train, test, features_dir = toy_inputs("tabular", tmp_path / "features")
    models = ["lgbm", "catboost"]

    def run(seed: int) -> list[dict[str, Any]]:
        rows = bench.one_seed(seed, models, tiny_params, train, test, features_dir.parent)
        return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]

    first, again, other = run(1), run(1), run(2)
    assert [r["model"] for r in first] == [*models, bench.ENSEMBLE]
    assert first == again  # the seed decides everything
    assert any(a["kl_all"] != b["kl_all"] for a, b in zip(first, other))  # and it is the seed that was asked for
    assert abs(sum(r["weight"] for r in first[:-1]) - 1) < 1e-6

    table = bench.summary(pd.DataFrame(first + other), models, "kl_all")
    assert list(table.index) == [*models, bench.ENSEMBLE]
    spread = table[[1, 2]].max(axis=1) - table[[1, 2]].min(axis=1)
    assert np.allclose(table["range"], spread, atol=2e-4) and (table["range"] > 0).any()

"""README tells the truth: its results table is exactly what the committed run produced
(metrics/evaluate.json), and its set-up is the two commands the Makefile defines."""

from __future__ import annotations

import json
import re

from tests.conftest import REPO


def _results_table() -> dict[str, tuple[float, float]]:
    text = (REPO / "README.md").read_text()
    section = text.split("## Results on the embedded data", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and re.fullmatch(r"\d\.\d{3}", cells[1]) and re.fullmatch(r"\d\.\d{3}", cells[2]):
            rows[cells[0].split(" ")[0]] = (float(cells[1]), float(cells[2]))
    return rows


def test_readme_results_are_the_committed_metrics() -> None:
    table = _results_table()
    metrics = json.loads((REPO / "metrics/evaluate.json").read_text())
    models = list(metrics["kl_all"])
    assert set(models) <= set(table), f"README lacks rows for {sorted(set(models) - set(table))}"
    for name in models:
        assert table[name] == (round(metrics["kl_all"][name], 3), round(metrics[name], 3)), name
    assert table["floor"] == (round(metrics["floor_all"], 3), round(metrics["floor_hq"], 3))


def test_readme_setup_is_the_two_make_commands() -> None:
    text = (REPO / "README.md").read_text()
    makefile = (REPO / "Makefile").read_text()
    assert "make repro" in text and "make test" in text
    assert re.search(r"^repro:", makefile, re.M) and re.search(r"^test:", makefile, re.M)
    assert "make test" in (REPO / ".ci/run").read_text()

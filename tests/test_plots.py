"""hms plot-eeg: renders PNGs for the real test sample and a train window; clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from hms.cli import main as cli_main
from hms.data.errors import DataError
from hms.plots.eeg import plot_eeg
from tests.datadir import make_data_dir

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_plot_real_test_sample_via_cli(kaggle_sample: Path, tmp_path: Path) -> None:
    out = tmp_path / "figs" / "test.png"
    assert cli_main(["plot-eeg", "--data-dir", str(kaggle_sample), "--split", "test", "--eeg-id", "3911565283",
                     "--out", str(out)]) == 0
    data = out.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 50_000
    assert [p.name for p in out.parent.iterdir()] == ["test.png"]  # no temp file left


def test_plot_train_windows_and_errors(tmp_path: Path) -> None:
    root = make_data_dir(tmp_path / "data")
    first = plot_eeg(root, "train", 101, tmp_path / "a.png")
    second = plot_eeg(root, "train", 101, tmp_path / "b.png", offset_s=10.0)
    assert first.read_bytes().startswith(PNG_MAGIC) and second.read_bytes().startswith(PNG_MAGIC)
    assert first.read_bytes() != second.read_bytes()  # a different window
    with pytest.raises(DataError, match="no row with eeg_id 777"):
        plot_eeg(root, "train", 777, tmp_path / "c.png")
    with pytest.raises(DataError, match="labelled offsets: 0, 10"):
        plot_eeg(root, "train", 101, tmp_path / "c.png", offset_s=5.0)
    assert not (tmp_path / "c.png").exists()

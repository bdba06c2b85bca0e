"""Where files live in a data directory laid out exactly like the Kaggle download."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from hms.errors import ConfigError

Split = Literal["train", "test"]


@dataclass(frozen=True)
class DataDir:
    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    def csv(self, split: Split) -> Path:
        return self.root / f"{split}.csv"

    @property
    def sample_submission(self) -> Path:
        return self.root / "sample_submission.csv"

    @property
    def latent(self) -> Path:
        """Synthetic data only: each train eeg's latent class distribution (the truth behind the votes)."""
        return self.root / "synth_latent.csv"

    def eeg(self, split: Split, eeg_id: int) -> Path:
        return self.root / f"{split}_eegs" / f"{int(eeg_id)}.parquet"

    def spectrogram(self, split: Split, spectrogram_id: int) -> Path:
        return self.root / f"{split}_spectrograms" / f"{int(spectrogram_id)}.parquet"


@dataclass(frozen=True)
class DataConfig:
    """params.yaml `data`: where the Kaggle-layout data lives and where it comes from."""

    source: Literal["synthetic", "kaggle"] = "synthetic"  # synthetic: the `synth` stage writes `dir`
    dir: str = "data/synthetic"

    def __post_init__(self) -> None:
        if self.source not in ("synthetic", "kaggle"):
            raise ConfigError(f"data.source must be synthetic or kaggle, not {self.source!r}")

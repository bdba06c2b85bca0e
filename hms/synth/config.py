"""Size presets and knobs of the synthetic dataset generator."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from hms.errors import ConfigError


@dataclass(frozen=True)
class SynthConfig:
    """One synthetic dataset. The caps keep files small; they are stated in docs/synth.md.
    A cap of None means no cap (the `real` preset: the real label structure as it is)."""

    n_train_eegs: int
    n_test_eegs: int
    # Patients are invented: about this many eegs each, and never fewer than `min_patients`
    # (the tiny preset must give >= 3 patients per fold with 3 folds).
    eegs_per_patient: float = 8.0
    min_patients: int = 12
    # Caps on real eegs: at most this many labelled rows, offsets at most this many seconds.
    max_rows_per_eeg: int | None = 30
    max_eeg_offset_s: int | None = 120
    # At most this many eegs share one spectrogram (real: up to 107 in the structure file).
    max_eegs_per_spectrogram: int | None = 4
    # real_layout: each eeg sits at its real place in its spectrogram's recording (real
    # spectrogram_offset - eeg_offset, up to 17,556 s: hours-long spectrograms). Otherwise the eegs
    # of a spectrogram are laid out one after another from a difference of at most 120 s.
    real_layout: bool = False
    # Latent p ~ Dirichlet(prior_strength * class prior + n_votes * real vote shares).
    prior_strength: float = 1.0
    # Small presets must contain every consensus class (at least this many eegs each, so that a
    # stratified 3-fold split sees each class per fold) and some >= 10-vote eegs; the label sample
    # is redrawn (deterministically, seed -> attempt) until it does, at most max_redraws times.
    min_per_class: int = 0
    min_hq_eegs: int = 0
    max_redraws: int = 200


PRESETS: dict[str, SynthConfig] = {
    "tiny": SynthConfig(n_train_eegs=48, n_test_eegs=3, min_per_class=3, min_hq_eegs=12),
    "small": SynthConfig(n_train_eegs=300, n_test_eegs=10, min_per_class=5, min_hq_eegs=30),
    "default": SynthConfig(n_train_eegs=1000, n_test_eegs=20),
    # Every row of the real label structure (106,519 rows, 17,001 eegs, 11,087 spectrograms), no
    # caps; about 1,950 patients as in the real data. Use n_train_eegs to draw a part of it.
    "real": SynthConfig(n_train_eegs=17001, n_test_eegs=100, eegs_per_patient=17001 / 1950,
                        max_rows_per_eeg=None, max_eeg_offset_s=None, max_eegs_per_spectrogram=None,
                        real_layout=True),
}


def get_config(size: str = "default", n_train_eegs: int | None = None, n_test_eegs: int | None = None) -> SynthConfig:
    """The preset `size`, with the eeg counts overridden where given."""
    if size not in PRESETS:
        raise ConfigError(f"synth.size must be one of {sorted(PRESETS)}, not {size!r} (params.yaml block 'synth')")
    cfg = PRESETS[size]
    over = {k: v for k, v in (("n_train_eegs", n_train_eegs), ("n_test_eegs", n_test_eegs)) if v is not None}
    for k, v in over.items():
        if int(v) < 1:
            raise ConfigError(f"synth.{k} must be >= 1, not {v}")
    return dataclasses.replace(cfg, **{k: int(v) for k, v in over.items()})


@dataclass(frozen=True)
class SynthParams:
    """params.yaml `synth`: which preset to generate and with how many worker processes."""

    size: str = "default"  # tiny | small | default | real: PRESETS above
    n_train_eegs: int | None = None  # null = the size preset's count
    n_test_eegs: int | None = None  # null = the size preset's count
    workers: int = 2  # processes; the files do not depend on it

    def __post_init__(self) -> None:
        get_config(self.size, self.n_train_eegs, self.n_test_eegs)  # validates the size and the counts
        if self.workers < 1:
            raise ConfigError(f"synth.workers must be >= 1, not {self.workers}")

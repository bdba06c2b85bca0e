"""Scoring windows: the features every saved model needs, through the feature functions of the
pipeline (hms.features.mosaic/tabular/waves batch functions with each model's saved features
config, parsed by hms.features.build.parse_config), then the trained ensemble exactly as
`hms predict` loads and applies it (hms.ensemble.apply: load_ensemble, predict_base, blend).

In a scan the windows share one preprocessing per chunk of the recording (hms.recording.windows,
hms.recording.shared); with `exact` each window goes through the batch functions on its own,
which is precisely `hms predict`'s path.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hms.ensemble.apply import Ensemble, blend, load_ensemble
from hms.features.build import parse_config
from hms.features.mosaic import mosaic_batch, mosaic_from_montage
from hms.features.tabular import WELCH_HOP, tabular_batch, tabular_from_montages, welch_mean, welch_segments
from hms.features.waves import waves_batch
from hms.constants import EEG_WINDOW, FS
from hms.recording.shared import (eeg_panels_from_frames, frame_hop, nan_share, tabular_segment,
                                  tabular_shares_filtering, waves_from_resampled)
from hms.recording.timing import StepTimer
from hms.recording.windows import WindowBatch
from hms.signal.filters import resample
from hms.signal.montage import MONTAGES, split_montages
from hms.errors import ConfigError
from hms.models.registry import UnknownModelError
from hms.models.trained import ModelDirError, TrainedModel
from hms.predict import check_features_current
from hms.predictions import check_probabilities
from hms.signal.preprocess import SignalConfig

log = logging.getLogger(__name__)


# The feature stores hold these kinds as float16 and `hms predict` feeds the models from the stores:
# the scan rounds them the same way so that both give the models identical inputs.
FLOAT16_KINDS = ("mosaic", "waves")


class ScanModels:
    """The trained ensemble of hms.ensemble.apply.load_ensemble (`hms predict`'s models and blender),
    run the way a scan needs it: each model's time on the step timer, batches scored from several
    threads at once, and two measured options (docs/scan.md) that only change the models' saved
    settings, never the code they run: flip TTA off, and base models the blender barely weighs left out."""

    def __init__(self, ens: Ensemble, skipped: list[str], timer: StepTimer) -> None:
        self.ens = ens
        self.skipped = skipped
        self.timer = timer

    @property
    def feature_configs(self) -> dict[str, tuple[str, dict[str, Any]]]:
        return self.ens.feature_configs

    @property
    def models(self) -> list[str]:
        return list(self.ens.models)

    def predict(self, features: dict[str, np.ndarray]) -> np.ndarray:
        """(n, 6) blended probabilities of one batch of windows."""
        base = self.ens.predict_base(features, self.timer)
        for name, p in base.items():
            check_probabilities(p, f"{name} predictions")
        n = len(next(iter(features.values())))
        # A skipped model's uniform stand-in is a constant in the log pool: its term drops out.
        base.update({m: np.full((n, 6), 1 / 6) for m in self.skipped})
        with self.timer("blend"):
            return blend(self.ens.blender, base)


def load_models(models_dir: str | Path, tta: bool = True, timer: StepTimer | None = None,
                min_weight: float = 0.0) -> ScanModels:
    """Every base model the saved blender of `models_dir` blends (less those weighing < min_weight)
    and the blender, loaded sealed by hms.ensemble.apply.load_ensemble."""
    try:
        ens = load_ensemble(Path(models_dir))
        check_features_current(ens, Path(models_dir))
    except (ModelDirError, UnknownModelError) as exc:  # the user's --models, not a bug: one line, exit 2
        raise ConfigError(str(exc)) from None
    weights = ens.blender.model_weights()
    skipped = [m for m in ens.models if weights[m] < min_weight]
    for name in skipped:
        log.warning("not running %s: its blend weight %.2g is below --min-weight %g; a uniform prediction stands "
                    "in for it (a constant in the log pool, so its term drops out)", name, weights[name], min_weight)
    models = {name: _for_scan(m, tta) for name, m in ens.models.items() if name not in skipped}
    return ScanModels(Ensemble(ens.blender, models), skipped, timer or StepTimer())


def _for_scan(model: TrainedModel, tta: bool) -> TrainedModel:
    """The same model with scan settings: GBDTs on one thread each and taking turns (a few dozen rows
    per call: more threads only add synchronisation, and the scan already scores batches in
    parallel threads), neural nets on one torch thread each and without TTA (flips, time shifts) if
    asked. The predictions do not depend on the thread count."""
    own = model.cfg.own
    if model.spec.family == "gbdt":
        lock = threading.Lock()
        spec_predict = model.spec.predict

        def predict(*args: Any) -> np.ndarray:
            with lock:
                return spec_predict(*args)

        spec = dataclasses.replace(model.spec, predict=predict)
        own = dataclasses.replace(own, threads=1)
        return dataclasses.replace(model, spec=spec, cfg=dataclasses.replace(model.cfg, own=own))
    # One torch thread per scoring thread: the runtime the nets predict with sets torch's thread count.
    own = dataclasses.replace(own, loop={**own.loop, "threads": 1})
    if not tta:
        own = dataclasses.replace(own, tta_flip=False, tta_shifts=[])
    return dataclasses.replace(model, cfg=dataclasses.replace(model.cfg, own=own))


@dataclass(frozen=True)
class FeatureSpec:
    key: str
    kind: str
    sig: SignalConfig
    cfg: Any

    @property
    def per_window(self) -> bool:
        """Whether this feature must be computed window by window even in a shared scan: tabular columns
        that reach into each window's filter transient (hms.recording.shared.tabular_shares_filtering)."""
        return self.kind == "tabular" and not tabular_shares_filtering(EEG_WINDOW, self.cfg)


def feature_specs(ens: ScanModels) -> list[FeatureSpec]:
    return [FeatureSpec(key, kind, *parse_config(kind, params)) for key, (kind, params) in ens.feature_configs.items()]


def batch_features(wb: WindowBatch, specs: list[FeatureSpec], timer: StepTimer, exact: bool = False) -> dict[str, np.ndarray]:
    """{features key: array} of one batch of windows: from the chunk's shared preprocessed signals
    (hms.recording.shared), or with `exact` through the batch functions window by window."""
    out: dict[str, np.ndarray] = {}
    for f in specs:
        with timer(f"features {f.kind}"):
            if exact or f.per_window:
                out[f.key] = _batch_function(f, wb.raw(), wb.spec)
            elif f.kind == "mosaic":
                out[f.key] = mosaic_from_montage(lambda: _eeg_panels(wb, f), wb.spec, f.cfg)
            elif f.kind == "waves":
                x = wb.resampled(f.sig, f.cfg.fs_out)
                x = resample(wb.signals(f.sig), FS, f.cfg.fs_out) if x is None else x
                out[f.key] = waves_from_resampled(x, f.cfg)
            elif f.kind == "tabular":
                a, b = tabular_segment(EEG_WINDOW, f.cfg)
                nan_frac = nan_share(wb.chunk.raw, wb.offsets, EEG_WINDOW)
                segs = split_montages(wb.signals(f.sig)[..., a:b], MONTAGES)
                out[f.key] = tabular_from_montages(segs, wb.spec, nan_frac, f.cfg, _welch_spectra(wb, f, a, b))
            else:
                raise ValueError(f"unknown feature kind {f.kind!r}")
            if f.kind in FLOAT16_KINDS:
                out[f.key] = out[f.key].astype(np.float16)
    return out


def _eeg_panels(wb: WindowBatch, f: FeatureSpec) -> np.ndarray:
    """E panels from the chunk's shared STFT frames."""
    hop = EEG_WINDOW // f.cfg.n_frames
    grid = frame_hop(hop, wb.hop)
    power, first = wb.chunk.frames(f.sig, f.cfg, grid)
    return eeg_panels_from_frames(power, first, grid, wb.chunk.montage(f.sig, f.cfg.montage), wb.offsets, EEG_WINDOW, f.cfg)


def _welch_spectra(wb: WindowBatch, f: FeatureSpec, a: int, b: int) -> dict[str, np.ndarray] | None:
    """Welch spectra of the windows' EEG segments [a, b) from the chunk's shared segment periodograms,
    bit for bit those of each window's own segments when the window step is a whole number of their
    1 s hop (the default 2 s); otherwise None, and each window computes its own."""
    if wb.hop % WELCH_HOP:
        return None
    starts = wb.offsets + a
    phase = int(starts[0]) % WELCH_HOP
    first = (starts - phase) // WELCH_HOP
    return {m: welch_mean(wb.chunk.periodograms(f.sig, m, phase), first, welch_segments(b - a))
            for m in f.cfg.montages}


def _batch_function(f: FeatureSpec, raw: np.ndarray, spec: np.ndarray) -> np.ndarray:
    """`hms predict`'s path: the feature stage's batch function on raw windows."""
    if f.kind == "tabular":
        return tabular_batch(raw, spec, f.sig, f.cfg)
    if f.kind == "mosaic":
        return mosaic_batch(raw, spec, f.sig, f.cfg)
    if f.kind == "waves":
        return waves_batch(raw, f.sig, f.cfg)
    raise ValueError(f"unknown feature kind {f.kind!r}")

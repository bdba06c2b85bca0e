"""Scoring windows: the features every saved model needs, through the feature functions of the
pipeline (hms.features.mosaic/tabular/waves batch functions with each model's saved features
config, parsed by hms.features.build.parse_config), then the trained ensemble.

In a scan the windows share one preprocessing per chunk of the recording (hms.recording.windows,
hms.recording.shared); with `exact` each window goes through the batch functions on its own,
which is precisely `hms predict`'s path.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from hms.features.build import parse_config
from hms.features.mosaic import mosaic_batch
from hms.features.tabular import tabular_batch
from hms.features.waves import waves_batch
from hms.constants import EEG_WINDOW, FS
from hms.recording.shared import (eeg_panels_from_frames, frame_hop, mosaic_from_bipolar, nan_share, tabular_from_bipolar,
                                  tabular_segment, waves_from_resampled)
from hms.recording.timing import StepTimer
from hms.recording.windows import WindowBatch
from hms.signal.filters import resample
from hms.signal.preprocess import SignalConfig


class Ensemble(Protocol):
    """What hms.models.trained.load_ensemble returns (issue 9)."""

    feature_configs: dict[str, tuple[str, dict[str, Any]]]

    def predict(self, features: dict[str, np.ndarray]) -> np.ndarray: ...


def load_models(models_dir: str | Path, tta: bool = True, timer: StepTimer | None = None, jit: bool = False,
                min_weight: float = 0.0) -> Ensemble:
    """The trained ensemble of `models_dir` (every base model the saved blender blends + the blender)."""
    from hms.recording.adapter import LegacyEnsemble  # TODO(issue 9): hms.models.trained.load_ensemble

    return LegacyEnsemble(models_dir, tta=tta, timer=timer, jit=jit, min_weight=min_weight)


@dataclass(frozen=True)
class FeatureSpec:
    key: str
    kind: str
    sig: SignalConfig
    cfg: Any


def feature_specs(ens: Ensemble) -> list[FeatureSpec]:
    return [FeatureSpec(key, kind, *parse_config(kind, params)) for key, (kind, params) in ens.feature_configs.items()]


def batch_features(wb: WindowBatch, specs: list[FeatureSpec], timer: StepTimer, exact: bool = False) -> dict[str, np.ndarray]:
    """{features key: array} of one batch of windows: from the chunk's shared preprocessed signals
    (hms.recording.shared), or with `exact` through the batch functions window by window."""
    out: dict[str, np.ndarray] = {}
    for f in specs:
        with timer(f"features {f.kind}"):
            if exact:
                out[f.key] = _batch_function(f, wb.raw(), wb.spec)
            elif f.kind == "mosaic":
                out[f.key] = mosaic_from_bipolar(lambda: _eeg_panels(wb, f), wb.spec, f.cfg)
            elif f.kind == "waves":
                x = wb.resampled(f.sig, f.cfg.fs_out)
                x = resample(wb.bipolar(f.sig), FS, f.cfg.fs_out) if x is None else x
                out[f.key] = waves_from_resampled(x, f.cfg)
            elif f.kind == "tabular":
                a, b = tabular_segment(EEG_WINDOW, f.cfg)
                nan_frac = nan_share(wb.chunk.raw, wb.offsets, EEG_WINDOW)
                out[f.key] = tabular_from_bipolar(wb.bipolar(f.sig)[..., a:b], wb.spec, nan_frac, f.cfg)
            else:
                raise ValueError(f"unknown feature kind {f.kind!r}")
    return out


def _eeg_panels(wb: WindowBatch, f: FeatureSpec) -> np.ndarray:
    """E panels from the chunk's shared STFT frames."""
    hop = EEG_WINDOW // f.cfg.n_frames
    grid = frame_hop(hop, wb.hop)
    power, first = wb.chunk.frames(f.sig, f.cfg, grid)
    return eeg_panels_from_frames(power, first, grid, wb.chunk.bipolar(f.sig), wb.offsets, EEG_WINDOW, f.cfg)


def _batch_function(f: FeatureSpec, raw: np.ndarray, spec: np.ndarray) -> np.ndarray:
    """`hms predict`'s path: the feature stage's batch function on raw windows."""
    if f.kind == "tabular":
        return tabular_batch(raw, spec, f.sig, f.cfg)
    if f.kind == "mosaic":
        return mosaic_batch(raw, spec, f.sig, f.cfg)
    if f.kind == "waves":
        return waves_batch(raw, f.sig, f.cfg)
    raise ValueError(f"unknown feature kind {f.kind!r}")

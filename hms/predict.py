"""Offline prediction (`hms predict`): a Kaggle-layout test directory + a trained models/ dir ->
submission.csv, through exactly the functions the pipeline uses (prepare_test, build_features,
each model's registered `predict`, the saved blender, make_submission). No training, no network."""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from hms.data.layout import DataDir
from hms.data.prepare import PrepareConfig, prepare_test
from hms.ensemble.stack import BLENDER_FILE, blend, load_blender
from hms.models.registry import get_spec, predictor
from hms.predictions import check_probabilities, test_frame
from hms.submission import load_sample_submission, make_submission, write_submission

log = logging.getLogger(__name__)


def read_model_config(model_dir: Path) -> dict[str, Any]:
    """models/NAME/config.json; must hold `features` (the dict build_features accepts) and `kind`."""
    path = model_dir / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing; the model's train stage writes it (dvc repro train@{model_dir.name})")
    cfg = json.loads(path.read_text())
    for key in ("features", "kind"):
        if key not in cfg:
            raise ValueError(f"{path}: no key {key!r}; expected 'features' (the feature params used in training) "
                             "and 'kind' (tabular | mosaic | waves); retrain the model")
    spec = get_spec(model_dir.name)
    if cfg["kind"] != spec.features:
        raise ValueError(f"{path}: kind {cfg['kind']!r} but the registry says {model_dir.name} eats {spec.features!r}")
    return cfg


def predict_base_models(data: DataDir, samples: pd.DataFrame, models_dir: Path, models: list[str], work: Path,
                        workers: int = 2) -> dict[str, np.ndarray]:
    """{model: (n_test, 6) probabilities in `samples` order}. Each distinct feature config is
    built once and shared by the models that were trained on it."""
    from hms.features.build import build_features  # heavy (signal processing, torch) and only needed here

    built: dict[tuple[str, str], Path] = {}
    out: dict[str, np.ndarray] = {}
    for name in tqdm(models, desc="predict: base models", leave=False):
        model_dir = models_dir / name
        cfg = read_model_config(model_dir)
        key = (cfg["kind"], json.dumps(cfg["features"], sort_keys=True))
        if key not in built:
            feat_dir = work / f"{cfg['kind']}-{len(built)}"
            log.info("building %s features for %d test eegs", cfg["kind"], len(samples))
            build_features(cfg["kind"], data, "test", samples, cfg["features"], feat_dir, workers=workers)
            built[key] = feat_dir
        probs = np.asarray(predictor(name)(name, model_dir, built[key], samples), dtype=np.float64)
        check_probabilities(probs, f"{name} predictions")
        if len(probs) != len(samples):
            raise ValueError(f"{name}: predicted {len(probs)} rows for {len(samples)} test eegs")
        out[name] = probs
    return out


def predict_dir(data_dir: Path, models_dir: Path, out: Path, workers: int = 2) -> Path:
    """Validate `data_dir` (test.csv, sample_submission.csv, test files), predict and write `out`."""
    data = DataDir(Path(data_dir))
    models_dir = Path(models_dir)
    samples = prepare_test(data, PrepareConfig(workers=max(1, workers)))
    sample_sub = load_sample_submission(data.root)
    blender = load_blender(models_dir / "ensemble" / BLENDER_FILE)
    log.info("predict: %d test eegs, models %s, blender %s", len(samples), blender.models, type(blender).__name__)
    with tempfile.TemporaryDirectory(prefix="hms-predict-") as tmp:
        probs = predict_base_models(data, samples, models_dir, blender.models, Path(tmp), workers)
    preds = test_frame(samples["eeg_id"].to_numpy(), blend(blender, probs))
    return write_submission(make_submission(preds, sample_sub), sample_sub, out)

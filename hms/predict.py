"""Offline prediction (`hms predict`): a Kaggle-layout test directory + a trained models/ dir ->
submission.csv, through exactly the functions the pipeline uses (prepare_test, build_features,
the trained models and blender of hms.ensemble.apply, make_submission). No training, no network:
the models directory is read sealed (registered model names, files inside it, weights_only)."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from hms.data.layout import DataDir
from hms.data.prepare import PrepareConfig, prepare_test
from hms.features import store
from hms.ensemble.apply import Ensemble, blend, load_ensemble
from hms.models.trained import CONFIG_FILE, ModelDirError
from hms.predictions import check_probabilities, test_frame
from hms.submission import load_sample_submission, write_new_submission

log = logging.getLogger(__name__)


def build_inputs(ens: Ensemble, data: DataDir, samples: pd.DataFrame, work: Path,
                 workers: int = 2) -> dict[str, np.ndarray | pd.DataFrame]:
    """{feature key: inputs of `samples`} for every feature config the ensemble's models need,
    each built once with build_features (the feature stages' function)."""
    from hms.features.build import build_features  # heavy (signal processing) and only needed here

    out: dict[str, np.ndarray | pd.DataFrame] = {}
    for key, (kind, config) in ens.feature_configs.items():
        log.info("building %s features for %d test eegs", kind, len(samples))
        build_features(kind, data, "test", samples, config, work / key, workers=workers)
        ids = samples["sample_id"].to_numpy()
        if kind == "tabular":
            out[key] = store.read_table(work / key, "test", expected_ids=ids)
        else:
            out[key] = np.asarray(store.open_array(work / key, "test", expected_ids=ids)[0])
    return out


def check_features_current(ens: Ensemble, models_dir: Path) -> None:
    """ModelDirError for a base model whose recorded feature config does not have today's keys: trained
    by an older version (its features cannot be rebuilt as they were) or by a newer one."""
    from hms.features.build import stale_keys

    for name, model in ens.models.items():
        missing, unknown = stale_keys(model.kind, model.features)
        where = Path(models_dir) / name / CONFIG_FILE
        if missing:
            raise ModelDirError(f"{where}: its features config has no {missing}; it was trained by an older version, "
                                f"whose features differ from today's defaults: retrain (dvc repro train@{name})")
        if unknown:
            raise ModelDirError(f"{where}: its features config has keys this version does not know {unknown}; it was "
                                f"trained by a newer version of hms: upgrade hms, or retrain (dvc repro train@{name})")


def predict_dir(data_dir: Path, models_dir: Path, out: Path, workers: int = 2) -> Path:
    """Validate `data_dir` (test.csv, sample_submission.csv, test files), predict and write `out`."""
    data = DataDir(Path(data_dir))
    samples = prepare_test(data, PrepareConfig(workers=max(1, workers)))
    sample_sub = load_sample_submission(data.root)
    ens = load_ensemble(Path(models_dir))
    check_features_current(ens, Path(models_dir))
    log.info("predict: %d test eegs, models %s, blender %s", len(samples), list(ens.models), type(ens.blender).__name__)
    with tempfile.TemporaryDirectory(prefix="hms-predict-") as tmp:
        inputs = build_inputs(ens, data, samples, Path(tmp), workers)
        base = ens.predict_base(inputs)
    for name, probs in base.items():
        check_probabilities(probs, f"{name} predictions")
    preds = test_frame(samples["eeg_id"].to_numpy(), blend(ens.blender, base))
    return write_new_submission(preds, sample_sub, out)

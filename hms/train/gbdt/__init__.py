"""LightGBM and CatBoost base models trained on soft vote targets under KL (issue 4).

Entry points (see hms/models/registry.py):
  fit(name, params, train, test, features_dir, model_dir) -> FitResult
  predict(name, model_dir, features_dir, samples) -> (n, 6) probabilities
Loss per library: LightGBM = custom softmax cross-entropy objective (lightgbm_model.py), CatBoost =
row expansion + MultiClass (catboost_model.py); both minimise the soft-target KL of one softmax.
"""

from hms.train.gbdt.data import fold_split
from hms.train.gbdt.fitting import fit, predict

__all__ = ["fit", "predict", "fold_split"]

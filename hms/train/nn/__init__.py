"""The neural base models (efficientnet, resnet, wave): one training loop, one fit/predict pair.

fit(name, params, train, test, features_dir, model_dir) -> FitResult
predict(name, model_dir, features_dir, samples) -> (n, 6) probabilities (mean over fold models)
"""

from hms.train.nn.crossval import fit, fold_rows, predict

__all__ = ["fit", "fold_rows", "predict"]

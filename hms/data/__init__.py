"""The Kaggle data contract: reading, validating and windowing the HMS files, targets and folds."""

from hms.data.errors import DataError

__all__ = ["DataError"]

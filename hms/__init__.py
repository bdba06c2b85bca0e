"""hms: a reproducible stacked-ensemble pipeline for the Kaggle HMS harmful brain activity task."""

__version__ = "0.1.0"

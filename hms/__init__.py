"""hms: harmful brain activity classification on the Kaggle HMS data layout (see README)."""

import os

# OpenMP threads (LightGBM, CatBoost, torch on CPU) that spin while they wait make a busy machine
# crawl: an lgbm fold took 312 s instead of 8 s on 2 cores shared with other processes. Waiting
# passively costs little on an idle machine and changes no result. Set before any library starts
# its OpenMP runtime; an explicit OMP_WAIT_POLICY in the environment wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# albumentations asks PyPI for a newer version each time it is imported (a GPU machine with no
# network printed the failed lookup): hms never opens a connection it was not asked to open.
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

__version__ = "0.1.0"

"""The GBDT family (LightGBM, CatBoost) on soft vote targets under KL: the shared `gbdt` block,
soft-label losses, the two training stages and feature importance. Models: hms/models/lgbm.py,
hms/models/catboost.py; both minimise the soft-target KL of one softmax over the six classes."""

"""Feature representations (mosaic, waves, tabular) and their on-disk cache (store.py)."""

"""Model registry: one entry per base model (see registry.py)."""

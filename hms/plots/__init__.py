"""Figures (matplotlib, Agg: no display needed)."""

"""The evaluate stage: one metrics table across prior, base models and ensemble (+ the Bayes
floor on synthetic data), plots for `dvc plots`, and reports/summary.md."""

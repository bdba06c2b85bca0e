"""The embedded synthetic dataset: a faithful stand-in for the Kaggle HMS data in its exact layout.

`run_synth(out_dir, size)` samples the label structure of real eegs (hms.synth.labels), draws a
latent class distribution per eeg and re-samples its votes from it, generates EEG signals from
that distribution (hms.synth.signal) and Kaggle-style spectrograms from the same signals
(hms.synth.spectrogram), and writes everything atomically (hms.synth.files, hms.synth.run)."""

from hms.synth.config import PRESETS, SynthConfig, get_config
from hms.synth.run import run_synth, summarize_labels

__all__ = ["PRESETS", "SynthConfig", "get_config", "run_synth", "summarize_labels"]

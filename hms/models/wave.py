"""`wave`: the L/R-symmetric 1D CNN (hms/nets/wave.py) over the whole 50 s of the filtered bipolar
signals (features/waves). Its flip augmentation is off by default: a left/right flip does not
change the net's output."""

from __future__ import annotations

from hms.nets.augment import waves_augment
from hms.nets.wave import SymmetricWaveNet, WaveConfig
from hms.signal.montage import BIPOLAR_FLIP
from hms.train.nn.family import nn_spec

SPEC = nn_spec("wave", "waves", WaveConfig, SymmetricWaveNet, waves_augment, BIPOLAR_FLIP)

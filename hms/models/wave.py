"""`wave`: the L/R-symmetric 1D CNN (hms/nets/wave.py) over the whole 50 s of the filtered
signals in the average-reference montage (features/waves, `montage`). Its flip augmentation is
off by default: a left/right flip does not change the net's output."""

from __future__ import annotations

import dataclasses

from hms.nets.augment import waves_augment
from hms.nets.wave import SymmetricWaveNet, WaveConfig
from hms.signal.montage import WAVES_FLIP
from hms.train.nn.family import choice, nn_search_space, nn_spec, uniform


SPEC = dataclasses.replace(nn_spec("wave", "waves", WaveConfig, SymmetricWaveNet, waves_augment, WAVES_FLIP),
                           search_space=nn_search_space("wave", mixup_alpha=uniform(0.0, 1.0), shift_frac=uniform(0.0, 0.2),
                                                          **{"loop.ema_decay": choice([0.0, 0.99, 0.998])}))

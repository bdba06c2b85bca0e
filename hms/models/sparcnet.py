"""`sparcnet`: SPaRCNet, the hosts' own 1D DenseNet (hms/nets/sparcnet.py), on the filtered signals
in the average-reference montage (features/waves; the paper's bipolar input is `montage: bipolar`),
with the waves augmentation (left/right flip, time shift) and flip TTA.
The sixth base model: this module, its params block and one line in params.yaml's `models`
are all it took (docs/models.md)."""

from __future__ import annotations

import dataclasses

from hms.nets.augment import waves_augment
from hms.nets.sparcnet import SparcConfig, SPaRCNet
from hms.signal.montage import WAVES_FLIP
from hms.train.nn.family import choice, nn_search_space, nn_spec, uniform



SPEC = dataclasses.replace(nn_spec("sparcnet", "waves", SparcConfig, SPaRCNet, waves_augment, WAVES_FLIP),
                           search_space=nn_search_space("sparcnet", dense_drop=uniform(0.0, 0.3), shift_frac=uniform(0.0, 0.2),
                                                          seconds=choice([10.0, 20.0, 50.0])))

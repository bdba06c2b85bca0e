"""`sparcnet`: SPaRCNet, the hosts' own 1D DenseNet (hms/nets/sparcnet.py), on the filtered bipolar
signals (features/waves), with the waves augmentation (left/right flip, time shift) and flip TTA.
The sixth base model: this module, its params block and one line in params.yaml's `models`
are all it took (docs/models.md)."""

from __future__ import annotations

import dataclasses
from typing import Any

from hms.models.spec import ModelConfig
from hms.nets.augment import waves_augment
from hms.nets.sparcnet import SparcConfig, SPaRCNet
from hms.signal.montage import BIPOLAR_FLIP
from hms.train.nn.family import nn_spec



def search_space(trial: Any, cfg: ModelConfig) -> dict[str, Any]:
    """`hms tune sparcnet`: learning rate (lr_mult x nn.lr), weight decay, both dropouts, time shift and
    the seconds read. Own block only: applying it changes no other model."""
    return {
        "sparcnet.lr_mult": trial.suggest_float("sparcnet.lr_mult", 0.3, 10.0, log=True),
        "sparcnet.loop.weight_decay": trial.suggest_float("sparcnet.loop.weight_decay", 1e-4, 0.1, log=True),
        "sparcnet.drop_rate": trial.suggest_float("sparcnet.drop_rate", 0.0, 0.5),
        "sparcnet.dense_drop": trial.suggest_float("sparcnet.dense_drop", 0.0, 0.3),
        "sparcnet.shift_frac": trial.suggest_float("sparcnet.shift_frac", 0.0, 0.2),
        "sparcnet.seconds": trial.suggest_categorical("sparcnet.seconds", [10.0, 20.0, 50.0]),
    }


SPEC = dataclasses.replace(nn_spec("sparcnet", "waves", SparcConfig, SPaRCNet, waves_augment, BIPOLAR_FLIP),
                           search_space=search_space)

"""The montages (bipolar "double banana", average reference) and their left/right flip: the one place
these constants live.

Channel order of every bipolar array in the project (18 channels):
  0-3  LL: Fp1-F7, F7-T3, T3-T5, T5-O1
  4-7  RL: Fp2-F8, F8-T4, T4-T6, T6-O2
  8-11 LP: Fp1-F3, F3-C3, C3-P3, P3-O1
  12-15 RP: Fp2-F4, F4-C4, C4-P4, P4-O2
  16-17 central: Fz-Cz, Cz-Pz
The Kaggle spectrogram regions use the same chain names and order (LL, RL, LP, RP).

The average-reference montage (each electrode minus the mean of the 19 scalp electrodes) is laid
out in the same 18 slots, slot i holding an electrode of pair i (AVERAGE_SLOTS: the chains' own
electrodes, Fz and Cz in the central slots; Pz is only in the mean), so the chain indices and the
flip of the bipolar array apply to it unchanged. EEG readers review both montages: the double
banana's left and right chains share no electrode, so it shows how the potential changes along each
chain but never compares potentials across the head.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from hms.constants import EEG_CHANNELS, SCALP_CHANNELS
from hms.errors import ConfigError

CHAINS: tuple[str, ...] = ("LL", "RL", "LP", "RP")
CHAIN_PAIRS: dict[str, tuple[tuple[str, str], ...]] = {
    "LL": (("Fp1", "F7"), ("F7", "T3"), ("T3", "T5"), ("T5", "O1")),
    "RL": (("Fp2", "F8"), ("F8", "T4"), ("T4", "T6"), ("T6", "O2")),
    "LP": (("Fp1", "F3"), ("F3", "C3"), ("C3", "P3"), ("P3", "O1")),
    "RP": (("Fp2", "F4"), ("F4", "C4"), ("C4", "P4"), ("P4", "O2")),
}
CENTRAL_PAIRS: tuple[tuple[str, str], ...] = (("Fz", "Cz"), ("Cz", "Pz"))
PAIRS: tuple[tuple[str, str], ...] = tuple(p for c in CHAINS for p in CHAIN_PAIRS[c]) + CENTRAL_PAIRS
BIPOLAR_NAMES: tuple[str, ...] = tuple(f"{a}-{b}" for a, b in PAIRS)
N_BIPOLAR = len(PAIRS)  # 18
# Channel indices of each chain in the bipolar array; "C" = the two central pairs.
CHAIN_INDEX: dict[str, tuple[int, ...]] = {
    **{c: tuple(range(4 * k, 4 * k + 4)) for k, c in enumerate(CHAINS)},
    "C": (16, 17),
}

# Indices into EEG_CHANNELS (the raw file order) of each pair's two electrodes.
_ANODE = np.array([EEG_CHANNELS.index(a) for a, _ in PAIRS])
_CATHODE = np.array([EEG_CHANNELS.index(b) for _, b in PAIRS])

# Mirror electrodes (left <-> right); midline electrodes map to themselves.
ELECTRODE_MIRROR: dict[str, str] = {
    "Fp1": "Fp2", "F3": "F4", "C3": "C4", "P3": "P4", "F7": "F8", "T3": "T4", "T5": "T6", "O1": "O2",
}
ELECTRODE_MIRROR.update({v: k for k, v in list(ELECTRODE_MIRROR.items())})
CHAIN_FLIP: dict[str, str] = {"LL": "RL", "RL": "LL", "LP": "RP", "RP": "LP"}


def _mirror_pair(pair: tuple[str, str]) -> tuple[str, str]:
    return tuple(ELECTRODE_MIRROR.get(e, e) for e in pair)  # type: ignore[return-value]


# BIPOLAR_FLIP[i] = index of the channel that lands at position i after a left/right flip,
# so `x[..., BIPOLAR_FLIP, :]` flips a (batch, 18, time) array. It swaps LL<->RL and LP<->RP
# pair by pair (Fp1-F7 <-> Fp2-F8, ...) and keeps the central pairs.
BIPOLAR_FLIP: np.ndarray = np.array([PAIRS.index(_mirror_pair(p)) for p in PAIRS])
# Same for the raw 20 file channels (EKG and midline stay).
RAW_FLIP: np.ndarray = np.array([EEG_CHANNELS.index(ELECTRODE_MIRROR.get(c, c)) for c in EEG_CHANNELS])

# Average-reference slots: the electrode whose voltage minus the average sits at bipolar position i
# (LL, RL: the pairs' first electrodes; LP, RP: their second ones, so no electrode appears twice).
AVERAGE_SLOTS: tuple[str, ...] = ("Fp1", "F7", "T3", "T5", "Fp2", "F8", "T4", "T6", "F3", "C3", "P3", "O1",
                                  "F4", "C4", "P4", "O2", "Fz", "Cz")
AVERAGE_NAMES: tuple[str, ...] = tuple(f"{e}-avg" for e in AVERAGE_SLOTS)
_SLOT = np.array([EEG_CHANNELS.index(e) for e in AVERAGE_SLOTS])
# The waves features hold both montages, bipolar first: (batch, 36, time).
MONTAGES: tuple[str, ...] = ("bipolar", "average")
WAVES_NAMES: tuple[str, ...] = BIPOLAR_NAMES + AVERAGE_NAMES
WAVES_FLIP: np.ndarray = np.concatenate([BIPOLAR_FLIP, BIPOLAR_FLIP + len(PAIRS)])

# Mosaic panels: K_* = Kaggle spectrogram of a chain, E_* = spectrogram made from the EEG.
PANELS: tuple[str, ...] = tuple(f"K_{c}" for c in CHAINS) + tuple(f"E_{c}" for c in CHAINS)


def flip_panel_name(name: str) -> str:
    source, chain = name.split("_")
    return f"{source}_{CHAIN_FLIP[chain]}"


def panel_flip_index(panels: Sequence[str] = PANELS) -> np.ndarray:
    """Permutation that flips a (batch, len(panels), F, T) mosaic left/right: `x[:, idx]`.
    Every panel's mirror must be among `panels` (else a flip could not keep the layout)."""
    panels = list(panels)
    missing = [flip_panel_name(p) for p in panels if flip_panel_name(p) not in panels]
    if missing:
        raise ValueError(f"panels {panels} cannot be flipped: missing {missing}; use panels in left/right pairs")
    return np.array([panels.index(flip_panel_name(p)) for p in panels])


def bipolar(raw: np.ndarray) -> np.ndarray:
    """(batch, 19 or 20, time) raw windows, channels in file order -> (batch, 18, time) bipolar float32."""
    raw = np.asarray(raw)
    if raw.ndim != 3 or raw.shape[1] not in (len(SCALP_CHANNELS), len(EEG_CHANNELS)):
        raise ValueError(f"bipolar: expected (batch, 19 or 20 channels, time) raw EEG, got shape {raw.shape}")
    return (raw[:, _ANODE, :] - raw[:, _CATHODE, :]).astype(np.float32, copy=False)


def bipolar_mask(raw_mask: np.ndarray) -> np.ndarray:
    """(batch, 19 or 20, time) bool mask of bad raw samples -> (batch, 18, time): a pair is bad where either electrode is."""
    return raw_mask[:, _ANODE, :] | raw_mask[:, _CATHODE, :]


def average_reference(filled: np.ndarray, dead: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(batch, 19 or 20, time) gap-filled µV and its mask of zeroed samples -> ((batch, 18, time) float32
    electrode minus the mean of the live scalp electrodes, in AVERAGE_SLOTS order; (batch, 18, time) mask
    of the slots whose electrode is dead there). A dead electrode is left out of the mean, not averaged in
    as a zero."""
    n = len(SCALP_CHANNELS)
    x = np.asarray(filled, dtype=np.float32)[:, :n]
    live = ~np.asarray(dead)[:, :n]
    count = live.sum(axis=1, keepdims=True)
    mean = np.where(live, x, 0.0).sum(axis=1, keepdims=True, dtype=np.float32) / np.maximum(count, 1)
    return (x[:, _SLOT] - mean).astype(np.float32, copy=False), ~live[:, _SLOT]


def check_montages(names: Sequence[str], key: str) -> None:
    """ConfigError naming the params `key` unless `names` are distinct montages (at least one)."""
    bad = [n for n in names if n not in MONTAGES]
    if bad or not names or len(set(names)) < len(names):
        raise ConfigError(f"{key}: each must be one of {MONTAGES}, at least one and none twice; got {list(names)}")


def in_order(names: Sequence[str]) -> list[str]:
    """`names` in MONTAGES order: the order in which `preprocess` stacks montages."""
    return [m for m in MONTAGES if m in names]


def split_montages(x: np.ndarray, present: Sequence[str]) -> dict[str, np.ndarray]:
    """(..., 18 x len(present), time) montages stacked in MONTAGES order (as `preprocess` and the waves
    features give them) -> {montage: (..., 18, time) view}."""
    return {m: x[..., i * len(PAIRS):(i + 1) * len(PAIRS), :] for i, m in enumerate(in_order(present))}


def montage_channels(montage: str, slots: Sequence[int]) -> list[int]:
    """Indices into the waves array (WAVES_NAMES) of `slots` (bipolar-layout positions) in `montage`."""
    if montage not in MONTAGES:
        raise ValueError(f"montage must be one of {MONTAGES}, not {montage!r}")
    return [MONTAGES.index(montage) * len(PAIRS) + int(i) for i in slots]

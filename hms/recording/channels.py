"""Channel names of clinical recordings -> the 19 scalp channels of the 10-20 system (+ EKG).

Hospitals and EDF exporters spell one electrode many ways: `Fp1`, `FP1`, `EEG Fp1-REF` (TUH),
`Fp1-LE`, `EEG FP1-A1`, `Fp1.` (PhysioNet pads labels with dots), `fp1`. A label maps to an
electrode when, after removing a leading `EEG`/`POL` type word, trailing dots and a reference
suffix (-REF, -LE, -RE, -AR, -AVG, -A1, -A2, -M1, -M2, ...), it names a 10-20 electrode in any
case. The modified combinatorial names of the 10-10 system are accepted for the 4 electrodes that
the 10-20 names differently: T7 = T3, T8 = T4, P7 = T5, P8 = T6. A label that still has a second
electrode after it (`Fp1-F7`) is a bipolar derivation and is NOT mapped: the montage is built
from referential channels only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hms.constants import SCALP_CHANNELS
from hms.data.errors import DataError

ALIASES: dict[str, str] = {"T7": "T3", "T8": "T4", "P7": "T5", "P8": "T6"}
EKG_NAMES: frozenset[str] = frozenset({"EKG", "ECG", "EKG1", "ECG1", "EKGL", "ECGL", "EKGR", "ECGR"})
_REFERENCES = ("REF", "LE", "RE", "AR", "AVG", "AV", "CAR", "A1", "A2", "A1A2", "M1", "M2", "M1M2", "LINKED")
_TYPE_PREFIX = re.compile(r"^(EEG|POL)[\s:_]+", re.IGNORECASE)
_REF_SUFFIX = re.compile(r"[\s_]*[-/]\s*(" + "|".join(_REFERENCES) + r")$", re.IGNORECASE)
_PAREN_REF = re.compile(r"\s*\((" + "|".join(_REFERENCES) + r")\)$", re.IGNORECASE)
_BY_UPPER: dict[str, str] = {c.upper(): c for c in SCALP_CHANNELS} | {a: ALIASES[a] for a in ALIASES}


def electrode_name(label: str) -> str | None:
    """The 10-20 name (SCALP_CHANNELS spelling) of a referential channel label, 'EKG', or None."""
    s = label.strip().rstrip(".").strip()
    s = _TYPE_PREFIX.sub("", s)
    s = _PAREN_REF.sub("", s)
    s = _REF_SUFFIX.sub("", s).strip()
    up = s.upper()
    if up in _BY_UPPER:
        return _BY_UPPER[up]
    if up in EKG_NAMES:
        return "EKG"
    return None


@dataclass(frozen=True)
class ChannelMap:
    """Where each scalp channel (SCALP_CHANNELS order) and the EKG come from in a file."""

    scalp: tuple[int | None, ...]  # file channel index per SCALP_CHANNELS entry; None = missing (masked)
    ekg: int | None
    labels: tuple[str, ...]  # the file's labels

    @property
    def missing(self) -> list[str]:
        return [c for c, i in zip(SCALP_CHANNELS, self.scalp) if i is None]

    def describe(self) -> dict[str, str | None]:
        """{10-20 name: file label} (None = missing), EKG included; for the scan summary."""
        out = {c: (self.labels[i] if i is not None else None) for c, i in zip(SCALP_CHANNELS, self.scalp)}
        out["EKG"] = self.labels[self.ekg] if self.ekg is not None else None
        return out


def map_channels(labels: list[str] | tuple[str, ...], source: str = "<recording>", allow_missing: int = 0) -> ChannelMap:
    """Map file labels to the 19 scalp channels. More than `allow_missing` missing electrodes, or two
    labels for one electrode, raise a DataError naming them."""
    found: dict[str, list[int]] = {}
    for i, label in enumerate(labels):
        name = electrode_name(label)
        if name is not None:
            found.setdefault(name, []).append(i)
    dup = {k: [labels[i] for i in v] for k, v in found.items() if len(v) > 1}
    if dup:
        what = "; ".join(f"{k} <- {', '.join(repr(x) for x in v)}" for k, v in dup.items())
        raise DataError(source, f"several channels map to one electrode ({what})",
                        hint="keep one of each (drop the duplicates with MNE or the recorder's export tool)")
    scalp = tuple(found[c][0] if c in found else None for c in SCALP_CHANNELS)
    missing = [c for c, i in zip(SCALP_CHANNELS, scalp) if i is None]
    if len(missing) > allow_missing:
        unused = [lab for i, lab in enumerate(labels) if electrode_name(lab) is None]
        raise DataError(
            source, f"missing 10-20 channel(s) {', '.join(missing)}",
            expected=f"all 19 of {', '.join(SCALP_CHANNELS)} (T7/T8/P7/P8 count as T3/T4/T5/T6)",
            found=f"unrecognised labels {unused[:12]}{' ...' if len(unused) > 12 else ''}",
            hint=f"rename the channels, or pass --allow-missing {len(missing)} to scan with those electrodes masked "
                 "(their bipolar pairs are zeroed, as for a dead electrode)")
    ekg = found.get("EKG", [None])[0]
    return ChannelMap(scalp=scalp, ekg=ekg, labels=tuple(labels))

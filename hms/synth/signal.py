"""EEG signals generated from an eeg's latent class distribution p.

Patterns (ACNS terminology, see shared hms-data.md), each scaled by its share of p:
- periodic discharges (LPD + GPD): sharp triphasic transients at 0.7-2.5 Hz with quiet intervals;
- rhythmic delta (LRDA + GRDA): continuous 1-3 Hz waves, no interval between them;
- seizure: rhythmic spike-wave discharges > 2.5 Hz that evolve (frequency falls, amplitude grows,
  the field spreads from one hemisphere to both) in cycles of 25-60 s;
- within PD and RDA the lateralized share sets the field: one hemisphere dominant with a weak
  reflection (L) vs bilateral, synchronous, frontally predominant (G);
- Other: background 1/f activity, posterior alpha and diffuse theta, and artifacts (frontal eye
  blinks, temporal muscle bursts, electrode pops, EKG leak) that grow with p_other.
Per-patient traits (amplitude, alpha frequency, artifact rates, dominant side, EKG) make patients
differ. Every generator takes the sample rate so that the same model can fill the parts of a
spectrogram's recording outside the EEG files at 50 Hz (cheaper) and the EEG files at 200 Hz.
All operations are vectorised over samples; loops run over events (tens per file) only.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from scipy import signal as sps

from hms.constants import CLASSES, SCALP_CHANNELS

# Approximate 10-20 positions on a unit disc: x left (-) to right (+), y back (-) to front (+).
ELECTRODE_XY: dict[str, tuple[float, float]] = {
    "Fp1": (-0.31, 0.95), "F3": (-0.40, 0.50), "C3": (-0.50, 0.00), "P3": (-0.40, -0.50),
    "F7": (-0.81, 0.59), "T3": (-1.00, 0.00), "T5": (-0.81, -0.59), "O1": (-0.31, -0.95),
    "Fz": (0.00, 0.45), "Cz": (0.00, 0.00), "Pz": (0.00, -0.45),
    "Fp2": (0.31, 0.95), "F4": (0.40, 0.50), "C4": (0.50, 0.00), "P4": (0.40, -0.50),
    "F8": (0.81, 0.59), "T4": (1.00, 0.00), "T6": (0.81, -0.59), "O2": (0.31, -0.95),
}
XY = np.array([ELECTRODE_XY[c] for c in SCALP_CHANNELS], dtype=np.float64)
N_SCALP = len(SCALP_CHANNELS)
_IDX = {c: i for i, c in enumerate(SCALP_CHANNELS)}
SZ, LPD, GPD, LRDA, GRDA, OTHER = (CLASSES.index(c) for c in ("seizure", "lpd", "gpd", "lrda", "grda", "other"))

# Source amplitudes (µV at the field's maximum) of a pattern with share 1 in p.
AMP_PD, AMP_RDA, AMP_SZ = 170.0, 130.0, 140.0


def _gauss(x0: float, y0: float, sigma: float) -> np.ndarray:
    d2 = (XY[:, 0] - x0) ** 2 + (XY[:, 1] - y0) ** 2
    return np.exp(-d2 / (2 * sigma ** 2))


def generalized_field(y_focus: float) -> np.ndarray:
    """Bilateral, symmetric, frontally predominant."""
    return 0.25 + 0.75 * np.exp(-((XY[:, 1] - y_focus) ** 2) / (2 * 0.5 ** 2))


def lateralized_field(side: int, y_focus: float, reflection: float = 0.15) -> np.ndarray:
    """One hemisphere (side -1 left, +1 right) with a weak reflection on the other."""
    f = _gauss(0.65 * side, y_focus, 0.45) + reflection * _gauss(-0.65 * side, y_focus, 0.45)
    return f / f.max()


@dataclass(frozen=True)
class PatientTraits:
    amp: float  # overall gain of the neural signal
    cm: float  # level of the common reference activity
    bg: float  # background noise level (µV-ish)
    side: int  # dominant side of lateralized patterns
    alpha_f: float
    alpha_amp: float
    blink_rate: float  # per second, before p_other scaling
    muscle_rate: float
    pop_rate: float
    ekg_amp: float
    ekg_hr: float  # beats per second
    ekg_leak: float  # fraction of EKG seen on scalp channels
    field_jitter: np.ndarray  # (19,) per-electrode gain jitter (skull, impedance)


def patient_traits(seed: int) -> PatientTraits:
    r = np.random.default_rng(seed)
    return PatientTraits(
        amp=float(r.uniform(0.8, 1.25)), cm=float(r.uniform(12.0, 20.0)), bg=float(r.uniform(0.8, 1.2)), side=int(r.choice([-1, 1])),
        alpha_f=float(r.uniform(7.5, 11.5)), alpha_amp=float(r.uniform(8, 30)),
        blink_rate=float(r.uniform(0.02, 0.3)), muscle_rate=float(r.uniform(0.005, 0.08)),
        pop_rate=float(r.uniform(0.0, 0.02)), ekg_amp=float(r.uniform(300, 3000)) * r.choice([-1, 1]),
        ekg_hr=float(r.uniform(1.0, 2.0)), ekg_leak=float(r.uniform(0, 0.02) if r.random() < 0.5 else 0.0),
        field_jitter=r.uniform(0.85, 1.15, size=N_SCALP),
    )


@dataclass(frozen=True)
class EegState:
    """What drives one eeg's signal: its latent p and the shape parameters of its patterns."""

    p: np.ndarray
    traits: PatientTraits
    side: int
    pd_field: np.ndarray
    rda_field: np.ndarray
    sz_lat_field: np.ndarray
    sz_gen_field: np.ndarray
    pd_f: float
    rda_f: float
    sz_f_hi: float
    sz_f_lo: float
    sz_period: float
    sz_spread: float


def eeg_state(p: np.ndarray, seed: int, traits: PatientTraits) -> EegState:
    r = np.random.default_rng(seed)
    p = np.asarray(p, dtype=np.float64)
    side = traits.side if r.random() < 0.8 else -traits.side
    lam_pd = p[LPD] / max(p[LPD] + p[GPD], 1e-9)  # lateralized share of the periodic discharges
    lam_rda = p[LRDA] / max(p[LRDA] + p[GRDA], 1e-9)
    jit = traits.field_jitter
    gen = generalized_field(r.uniform(0.3, 0.7))
    pd_field = jit * (lam_pd * lateralized_field(side, r.uniform(-0.5, 0.6)) + (1 - lam_pd) * gen)
    rda_field = jit * (lam_rda * lateralized_field(side, r.uniform(-0.3, 0.6)) + (1 - lam_rda) * generalized_field(r.uniform(0.3, 0.8)))
    return EegState(
        p=p, traits=traits, side=side, pd_field=pd_field, rda_field=rda_field,
        sz_lat_field=jit * lateralized_field(side, r.uniform(-0.5, 0.5), reflection=0.3),
        sz_gen_field=jit * generalized_field(r.uniform(0.2, 0.6)),
        # LPDs tend to be slower than GPDs (often triphasic, 1.5-2.5 Hz).
        pd_f=float(r.uniform(0.7, 1.4) + (1 - lam_pd) * r.uniform(0.2, 1.1)),
        rda_f=float(r.uniform(1.0, 3.0)),
        sz_f_hi=float(r.uniform(4.5, 7.0)), sz_f_lo=float(r.uniform(2.6, 3.5)),
        sz_period=float(r.uniform(25, 60)), sz_spread=float(r.uniform(0.3, 1.0)),
    )


def _lowpass_noise(r: np.random.Generator, n: int, fs: float, fc: float, shape: tuple[int, ...] = ()) -> np.ndarray:
    """Unit-DC-gain one-pole low-pass of white noise with a density independent of fs."""
    a = np.exp(-2 * np.pi * fc / fs)
    w = r.standard_normal((n, *shape), dtype=np.float32) * np.float32(np.sqrt(fs / 2))
    return sps.lfilter([1 - a], [1, -a], w, axis=0).astype(np.float32)


def _slow(r: np.random.Generator, n: int, fs: float, fc: float = 0.1) -> np.ndarray:
    """A slowly wandering unit-variance modulation (corner fc <= 1 Hz), drawn at 8 Hz and interpolated
    (a sixth of the cost of filtering at the full rate)."""
    low_fs = 8.0
    m = int(n / fs * low_fs) + 2
    x = _lowpass_noise(r, m, low_fs, fc)
    x = np.interp(np.arange(n, dtype=np.float32) * np.float32(low_fs / fs), np.arange(m, dtype=np.float32), x)
    return (x / max(float(x.std()), 1e-6)).astype(np.float32)


_D2 = ((XY[:, None, :] - XY[None, :, :]) ** 2).sum(-1)
_MIX = np.exp(-_D2 / (2 * 0.3 ** 2))
_MIX = (_MIX / np.sqrt((_MIX ** 2).sum(1, keepdims=True))).astype(np.float32)  # neighbours share activity


@functools.lru_cache(maxsize=8)
def _background_sos(fs: float) -> np.ndarray:
    """g1*LP(0.7 Hz) + g2*LP(6 Hz) + g3 (one-pole low-passes with unit DC gain): a 1/f-like spectrum."""
    a1, a2 = np.exp(-2 * np.pi * 0.7 / fs), np.exp(-2 * np.pi * 6.0 / fs)
    g1, g2, g3 = 1.0, 0.25, 0.025
    num = (np.r_[g1 * (1 - a1) * np.array([1, -a2]), 0] + np.r_[g2 * (1 - a2) * np.array([1, -a1]), 0]
           + g3 * np.convolve([1, -a1], [1, -a2]))
    return sps.tf2sos(num, np.convolve([1, -a1], [1, -a2]))


def _background(r: np.random.Generator, n: int, fs: float, tr: PatientTraits) -> np.ndarray:
    """1/f-like, spatially smooth activity, (n, 19) (a transposed view of a (19, n) array: filtering
    along contiguous rows is 3x faster)."""
    w = r.standard_normal((N_SCALP, n), dtype=np.float32)
    w = _MIX @ w
    w *= np.float32(np.sqrt(fs / 2) * 2.6 * tr.bg)
    return sps.sosfilt(_background_sos(fs), w, axis=-1).astype(np.float32).T


def _rhythm(r: np.random.Generator, n: int, fs: float, f: float, wander: float = 0.03) -> np.ndarray:
    """A waxing-waning narrow-band oscillation around f Hz."""
    inst = f * (1 + wander * _slow(r, n, fs, 0.2))
    phase = 2 * np.pi * np.cumsum(inst, dtype=np.float64) / fs + r.uniform(0, 2 * np.pi)
    env = np.clip(1 + 0.5 * _slow(r, n, fs, 0.3), 0, None)
    return (env * np.sin(phase)).astype(np.float32)


def _events(r: np.random.Generator, n: int, fs: float, rate: float) -> np.ndarray:
    """Sample indices of a Poisson process with `rate` events per second."""
    k = r.poisson(rate * n / fs)
    return np.sort(r.integers(0, n, size=k))


def _pd_source(r: np.random.Generator, n: int, fs: float, f: float, prevalence: float) -> np.ndarray:
    """Periodic discharges: triphasic sharp transients (~0.3 s) at nearly regular intervals."""
    t0 = r.uniform(0, 1 / f)
    k = int(n / fs * f) + 2
    times = t0 + np.cumsum(np.r_[0, (1 / f) * (1 + 0.05 * r.standard_normal(k - 1))])
    idx = np.round(times * fs).astype(np.int64)
    amps = r.uniform(0.8, 1.2, size=k) * (r.random(k) < prevalence)
    keep = (idx >= 0) & (idx < n)
    train = np.zeros(n, dtype=np.float32)
    np.add.at(train, idx[keep], amps[keep])
    t = np.arange(-0.15, 0.35, 1 / fs)
    g = lambda c, s: np.exp(-((t - c) ** 2) / (2 * s ** 2))  # noqa: E731
    tpl = (-0.35 * g(-0.05, 0.02) + 1.0 * g(0.0, 0.03) - 0.45 * g(0.11, 0.06)).astype(np.float32)
    return sps.oaconvolve(train, tpl)[int(0.15 * fs): int(0.15 * fs) + n].astype(np.float32)


def _rda_source(r: np.random.Generator, n: int, fs: float, f: float) -> np.ndarray:
    """Rhythmic delta: continuous waves of similar shape (a sine with a skewing harmonic)."""
    inst = f * (1 + 0.06 * _slow(r, n, fs, 0.05))
    ph = 2 * np.pi * np.cumsum(inst, dtype=np.float64) / fs + r.uniform(0, 2 * np.pi)
    env = np.clip(0.8 + 0.2 * _slow(r, n, fs, 0.1), 0.3, None)
    return (env * (np.sin(ph) + 0.35 * np.sin(2 * ph + np.pi / 4))).astype(np.float32)


def _sz_source(r: np.random.Generator, n: int, fs: float, st: EegState) -> tuple[np.ndarray, np.ndarray]:
    """Seizure: spike-wave discharges whose frequency falls from f_hi to f_lo while amplitude and field
    grow through each evolution cycle. Returns the source and the cycle position u in [0, 1)."""
    t = np.arange(n) / fs
    u = np.mod(t / st.sz_period + r.uniform(0, 1), 1.0)
    inst = st.sz_f_hi - (st.sz_f_hi - st.sz_f_lo) * u
    ph = 2 * np.pi * np.cumsum(inst) / fs
    wave = np.sin(ph) + 0.5 * np.sin(2 * ph) + 0.3 * np.sin(3 * ph)
    return ((0.45 + 0.55 * u) * wave).astype(np.float32), u.astype(np.float32)


def _artifacts(r: np.random.Generator, n: int, fs: float, st: EegState, x: np.ndarray) -> None:
    """Add eye blinks, muscle bursts and electrode pops to x (n, 19) in place (loops run over events)."""
    tr, other = st.traits, float(st.p[OTHER])
    # Eye blinks: ~0.3 s positive deflection, frontopolar.
    half = int(0.3 * fs)
    tb = np.arange(-half, half) / fs
    blink = np.exp(-(tb ** 2) / (2 * 0.07 ** 2)).astype(np.float32)
    field = np.exp(-((XY[:, 1] - 1.1) ** 2) / (2 * 0.25 ** 2)).astype(np.float32)
    for i in _events(r, n, fs, tr.blink_rate * (0.3 + other)):
        lo, hi = max(0, i - half), min(n, i + half)
        x[lo:hi] += np.float32(r.uniform(80, 200)) * blink[lo - i + half: hi - i + half, None] * field[None, :]
    # Muscle: bursts of broadband high-frequency activity over the temporal electrodes of one or both sides.
    temporal = np.array([_IDX[c] for c in ("F7", "T3", "T5", "F8", "T4", "T6")])
    for i in _events(r, n, fs, tr.muscle_rate * (0.3 + other)):
        m = min(n - i, int(r.uniform(0.5, 3.0) * fs))
        side = temporal[:3] if r.random() < 0.3 else temporal[3:] if r.random() < 0.4 else temporal
        hf = np.diff(r.standard_normal((m + 1, len(side)), dtype=np.float32), axis=0)
        x[i:i + m, side] += hf * np.float32(r.uniform(10, 30) * np.sqrt(fs / 200))
    # Electrode pops: a sudden step on one electrode decaying over ~0.3 s.
    for i in _events(r, n, fs, tr.pop_rate):
        ch = int(r.integers(0, N_SCALP))
        m = min(n - i, int(1.5 * fs))
        x[i:i + m, ch] += np.float32(r.uniform(100, 300) * r.choice([-1, 1])) * np.exp(
            -np.arange(m) / (r.uniform(0.1, 0.4) * fs)).astype(np.float32)


def _ekg(r: np.random.Generator, n: int, fs: float, tr: PatientTraits) -> np.ndarray:
    k = int(n / fs * tr.ekg_hr) + 2
    beats = np.cumsum(np.r_[r.uniform(0, 1 / tr.ekg_hr), (1 / tr.ekg_hr) * (1 + 0.04 * r.standard_normal(k - 1))])
    idx = np.round(beats * fs).astype(np.int64)
    idx = idx[idx < n]
    train = np.zeros(n, dtype=np.float32)
    train[idx] = 1.0
    t = np.arange(-0.3, 0.4, 1 / fs)
    g = lambda c, s: np.exp(-((t - c) ** 2) / (2 * s ** 2))  # noqa: E731
    tpl = -0.12 * g(-0.03, 0.01) + g(0.0, 0.012) - 0.25 * g(0.03, 0.012) + 0.25 * g(0.25, 0.04)
    ekg = sps.oaconvolve(train, tpl.astype(np.float32))[int(0.3 * fs): int(0.3 * fs) + n]
    return (tr.ekg_amp * ekg + 0.03 * abs(tr.ekg_amp) * _slow(r, n, fs, 0.3)).astype(np.float32)


def synthesize(st: EegState, fs: float, n: int, r: np.random.Generator, strength: np.ndarray | float = 1.0,
               with_ekg: bool = True) -> np.ndarray:
    """(n, 20) (or (n, 19) without EKG) float32 µV at sample rate fs for one eeg state.
    `strength` (scalar or (n,)) scales the class patterns (1 inside the EEG file, tapering outside)."""
    tr, p = st.traits, st.p
    x = _background(r, n, fs, tr)
    # Every other component is a source time course times a spatial field: one (n, k) @ (k, 19) product.
    sources: list[np.ndarray] = []
    fields: list[np.ndarray] = []
    post = np.clip(-XY[:, 1], 0, None) * 0.8 + 0.2  # alpha is posterior
    sources.append(_rhythm(r, n, fs, tr.alpha_f))
    fields.append(tr.alpha_amp * (0.25 + 0.75 * p[OTHER]) * post)
    sources.append(_rhythm(r, n, fs, r.uniform(4.5, 7.0)))
    fields.append(np.full(N_SCALP, 6.0))
    strength = np.asarray(strength, dtype=np.float32)
    a_pd, a_rda, a_sz = p[LPD] + p[GPD], p[LRDA] + p[GRDA], p[SZ]
    if a_pd > 0.01:
        sources.append(_pd_source(r, n, fs, st.pd_f, prevalence=min(1.0, 0.5 + a_pd)) * strength)
        fields.append(AMP_PD * a_pd * st.pd_field)
    if a_rda > 0.01:
        sources.append(_rda_source(r, n, fs, st.rda_f) * strength)
        fields.append(AMP_RDA * a_rda * st.rda_field)
    if a_sz > 0.01:
        src, u = _sz_source(r, n, fs, st)
        spread = st.sz_spread * u
        src = src * strength
        sources += [src * (1 - spread), src * spread]
        fields += [AMP_SZ * a_sz * st.sz_lat_field, AMP_SZ * a_sz * st.sz_gen_field]
    x += np.stack(sources, axis=1) @ np.stack(fields).astype(np.float32)
    _artifacts(r, n, fs, st, x)
    x *= np.float32(tr.amp)
    # Reference activity common to all electrodes: most of the referential amplitude, none of the
    # bipolar one (real referential channels have std 28-57 µV while bipolar spectra stay low).
    cm = sps.sosfilt(_background_sos(fs), r.standard_normal(n, dtype=np.float32) * np.float32(np.sqrt(fs / 2)))
    x += (np.float32(tr.cm) * cm.astype(np.float32) + 10.0 * _slow(r, n, fs, 0.05))[:, None]
    if not with_ekg:
        return x
    ekg = _ekg(r, n, fs, tr)
    x += np.float32(tr.ekg_leak) * ekg[:, None]
    return np.concatenate([x, ekg[:, None]], axis=1)

"""The label side of the synthetic dataset: whole real eegs (rows, offsets, shared spectrograms,
vote counts) sampled from the real label structure, invented patients and Kaggle-like ids, a
latent class distribution per eeg and votes re-sampled from it. No signals here, so a large
label table can be drawn in a second (tests compare its statistics with the real ones)."""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field
from importlib import resources

import numpy as np
import pandas as pd

from hms.constants import CONSENSUS, EEG_WINDOW_S, HQ_MIN_VOTES, N_CLASSES, SPEC_WINDOW_S, TRAIN_COLUMNS, VOTE_COLS
from hms.errors import ConfigError
from hms.seed import derive_seed
from hms.synth.config import SynthConfig

log = logging.getLogger(__name__)

STRUCTURE_FILE = "train_label_structure.csv.gz"
# The EEG file starts this many seconds after its spectrogram offset origin: a row's 50 s EEG
# window is centred in its 600 s spectrogram window when spec_offset - eeg_offset is the same
# for all rows of an eeg (true for every real eeg).
EEG_IN_SPEC_S = (SPEC_WINDOW_S - EEG_WINDOW_S) // 2  # 275


@dataclass(frozen=True)
class EegPlan:
    """One EEG file cut from its spectrogram's recording."""

    eeg_id: int
    start_s: int  # where the EEG file starts in the spectrogram's recording (seconds)
    length_s: int
    p: tuple[float, ...]  # latent class distribution, CLASSES order
    patient_seed: int
    seed: int


@dataclass(frozen=True)
class SpecPlan:
    """One spectrogram file, its recording, and the EEG files cut from it."""

    split: str
    spectrogram_id: int
    span_s: int  # the recording and spectrogram cover [0, span_s)
    eegs: tuple[EegPlan, ...]
    seed: int


@dataclass
class LabelPlan:
    train: pd.DataFrame  # train.csv, TRAIN_COLUMNS
    latent: pd.DataFrame  # eeg_id + VOTE_COLS (latent p of each train eeg)
    test: pd.DataFrame  # test.csv, TEST_COLUMNS
    specs: list[SpecPlan] = field(default_factory=list)


@dataclass(frozen=True)
class _Real:
    """The real structure, indexed for sampling whole spectrogram groups of whole eegs."""

    offsets: np.ndarray  # (rows,) eeg offsets, rows sorted by (eeg, offset)
    diffs: np.ndarray  # (eegs,) spectrogram offset - eeg offset (constant within a real eeg)
    votes: np.ndarray  # (rows, 6)
    eeg_start: np.ndarray  # (eegs + 1,) row ranges of each eeg
    eeg_fold: np.ndarray  # (eegs,)
    spec_eegs: tuple[np.ndarray, ...]  # eeg indices of each real spectrogram, by diff
    prior: np.ndarray  # (6,) mean normalised votes over real eegs
    hq_eegs: np.ndarray  # eegs whose largest row has >= 10 votes


@functools.lru_cache(maxsize=1)
def load_real_structure() -> _Real:
    """Read the packaged copy of the real label structure (106,519 rows, 17,001 eegs)."""
    with resources.files("hms.synth").joinpath("resources").joinpath(STRUCTURE_FILE).open("rb") as fh:
        df = pd.read_csv(fh, compression="gzip")
    need = ["eeg_idx", "eeg_label_offset_seconds", "spectrogram_idx", "spectrogram_label_offset_seconds",
            "patient_fold", *VOTE_COLS]
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise ValueError(f"hms/synth/resources/{STRUCTURE_FILE}: missing column(s) {missing}; restore it from "
                         "shared real_label_structure/")
    df = df.sort_values(["eeg_idx", "eeg_label_offset_seconds"], kind="stable").reset_index(drop=True)
    eeg = df["eeg_idx"].to_numpy()
    starts = np.flatnonzero(np.r_[True, eeg[1:] != eeg[:-1]])
    eeg_start = np.r_[starts, len(df)]
    first = df.iloc[starts]
    diffs = (first["spectrogram_label_offset_seconds"] - first["eeg_label_offset_seconds"]).to_numpy(np.int64)
    votes = df[list(VOTE_COLS)].to_numpy(np.int64)
    summed = np.add.reduceat(votes, starts, axis=0)
    prior = (summed / summed.sum(axis=1, keepdims=True)).mean(axis=0)
    max_votes = np.maximum.reduceat(votes.sum(axis=1), starts)
    spec = first["spectrogram_idx"].to_numpy()
    order = np.lexsort((diffs, spec))
    spec_sorted = spec[order]
    cuts = np.flatnonzero(np.r_[True, spec_sorted[1:] != spec_sorted[:-1]])
    spec_eegs = tuple(np.split(order, cuts[1:]))
    return _Real(offsets=df["eeg_label_offset_seconds"].to_numpy(np.float64), diffs=diffs, votes=votes,
                 eeg_start=eeg_start, eeg_fold=first["patient_fold"].to_numpy(np.int64), spec_eegs=spec_eegs,
                 prior=prior, hq_eegs=np.flatnonzero(max_votes >= HQ_MIN_VOTES))


def unique_ints(rng: np.random.Generator, n: int, low: int, high: int, taken: set[int] | None = None) -> np.ndarray:
    """n distinct random integers in [low, high), none in `taken` (Kaggle-like random ids)."""
    taken = set() if taken is None else taken
    out: list[int] = []
    seen = set(taken)
    while len(out) < n:
        for v in rng.integers(low, high, size=2 * (n - len(out)) + 8).tolist():
            if v not in seen:
                seen.add(v)
                out.append(v)
                if len(out) == n:
                    break
    taken.update(out)
    return np.asarray(out, dtype=np.int64)


def latent_distribution(rng: np.random.Generator, shares: np.ndarray, n_votes: int, prior: np.ndarray,
                        prior_strength: float) -> np.ndarray:
    """A Dirichlet posterior draw around real vote shares: the truth behind the votes.
    Few votes -> wide (proto and edge cases arise), many votes -> close to the real shares."""
    p = rng.dirichlet(prior_strength * prior + n_votes * shares)
    # Tiny Dirichlet components underflow to 0; keep every class possible so KL stays finite.
    p = np.maximum(p, 1e-6)
    return p / p.sum()


def _eeg_rows(real: _Real, e: int, cfg: SynthConfig) -> tuple[np.ndarray, np.ndarray]:
    """Offsets and votes of a real eeg's rows, capped (the first offset of every real eeg is 0)."""
    lo, hi = real.eeg_start[e], real.eeg_start[e + 1]
    off, votes = real.offsets[lo:hi], real.votes[lo:hi]
    if cfg.max_eeg_offset_s is None and cfg.max_rows_per_eeg is None:
        return off, votes
    max_off = np.inf if cfg.max_eeg_offset_s is None else cfg.max_eeg_offset_s
    keep = np.flatnonzero(off <= max_off)[: cfg.max_rows_per_eeg]
    return off[keep], votes[keep]


def _draw_train(cfg: SynthConfig, seed: int, attempt: int) -> tuple[pd.DataFrame, pd.DataFrame, list[SpecPlan], set[int]]:
    real = load_real_structure()
    rng = np.random.default_rng(derive_seed(seed, "labels", attempt))
    order = rng.permutation(len(real.spec_eegs))
    groups: list[np.ndarray] = []
    total = 0
    for g in order:
        eegs = real.spec_eegs[g]
        if cfg.max_eegs_per_spectrogram is not None and len(eegs) > cfg.max_eegs_per_spectrogram:
            eegs = eegs[np.sort(rng.choice(len(eegs), cfg.max_eegs_per_spectrogram, replace=False))]
        eegs = eegs[: cfg.n_train_eegs - total]
        groups.append(eegs)
        total += len(eegs)
        if total >= cfg.n_train_eegs:
            break
    if total < cfg.n_train_eegs:
        raise ConfigError(f"synth.n_train_eegs: asked for {cfg.n_train_eegs} train eegs, the (capped) real structure gives {total}")

    # Patients: invented, several spectrograms (hence eegs) each, a patient within one real fold.
    n_patients = int(min(len(groups), max(cfg.min_patients, round(cfg.n_train_eegs / cfg.eegs_per_patient))))
    folds = np.array([real.eeg_fold[g[0]] for g in groups])
    fold_ids, fold_counts = np.unique(folds, return_counts=True)
    # Largest-remainder split of the patients over folds, at least one per fold, at most its groups.
    want = fold_counts / fold_counts.sum() * n_patients
    per_fold = np.clip(np.floor(want).astype(int), 1, fold_counts)
    for i in np.argsort(-(want - np.floor(want))):
        if per_fold.sum() >= n_patients:
            break
        if per_fold[i] < fold_counts[i]:
            per_fold[i] += 1
    patient_of_group = np.empty(len(groups), dtype=np.int64)
    next_patient = 0
    for f, k in zip(fold_ids, per_fold):
        idx = rng.permutation(np.flatnonzero(folds == f))
        pats = np.r_[np.arange(k), rng.integers(0, k, size=len(idx) - k)]
        patient_of_group[idx] = next_patient + pats
        next_patient += k
    n_patients = next_patient

    taken: set[int] = set()
    eeg_ids = unique_ints(rng, total, 10**6, 2**32 - 1, taken)
    spec_ids = unique_ints(rng, len(groups), 10**3, 2**31 - 1)
    patient_ids = unique_ints(rng, n_patients, 1, 2**16)
    patient_seeds = [derive_seed(seed, "patient", int(pid)) for pid in patient_ids]

    rows: list[dict[str, np.ndarray]] = []
    latent = np.empty((total, N_CLASSES))
    specs: list[SpecPlan] = []
    k = 0
    for gi, eegs in enumerate(groups):
        pat = patient_of_group[gi]
        if cfg.real_layout:
            d = 0
        else:
            d = int(real.diffs[eegs[0]]) if real.diffs[eegs[0]] <= 120 else int(rng.integers(0, 121))
        plans: list[EegPlan] = []
        span_need = 0
        spec_rows: list[tuple[np.ndarray, np.ndarray]] = []
        for e in eegs:
            if cfg.real_layout:
                # Real eegs of one spectrogram never overlap; the few seconds a synthetic file is
                # longer than its last window could, so an eeg starts no earlier than the previous end.
                d = max(int(real.diffs[e]), d)
            off, votes = _eeg_rows(real, int(e), cfg)
            summed = votes.sum(axis=0)
            p = latent_distribution(rng, summed / summed.sum(), int(votes.sum(axis=1).max()), real.prior,
                                    cfg.prior_strength)
            # Rows with identical real votes were the same annotators: they get identical new votes.
            uniq, inv = np.unique(votes, axis=0, return_inverse=True)
            new = np.stack([rng.multinomial(int(u.sum()), p) for u in uniq])[inv.ravel()]
            length = int(off.max()) + EEG_WINDOW_S + int(rng.integers(0, 5))
            eeg_id = int(eeg_ids[k])
            plans.append(EegPlan(eeg_id=eeg_id, start_s=d + EEG_IN_SPEC_S, length_s=length, p=tuple(p.tolist()),
                                 patient_seed=patient_seeds[pat], seed=derive_seed(seed, "eeg", eeg_id)))
            latent[k] = p
            rows.append({"eeg_id": np.full(len(off), eeg_id), "eeg_sub_id": np.arange(len(off)),
                         "eeg_label_offset_seconds": off, "spectrogram_id": np.full(len(off), spec_ids[gi]),
                         "spectrogram_label_offset_seconds": off + d, "patient_id": np.full(len(off), patient_ids[pat]),
                         "votes": new})
            spec_rows.append((off + d, np.full(len(off), len(rows) - 1)))
            span_need = max(span_need, d + int(off.max()) + SPEC_WINDOW_S)
            if cfg.real_layout:
                d = d + length  # the earliest start of the next eeg (its real place is usually later)
            else:
                d = d + length + int(rng.integers(0, 61))  # the next eeg of this spectrogram starts after a gap
            k += 1
        span = span_need + int(rng.integers(0, 11)) * 2
        span += span % 2  # whole 2 s rows
        specs.append(SpecPlan(split="train", spectrogram_id=int(spec_ids[gi]), span_s=span, eegs=tuple(plans),
                              seed=derive_seed(seed, "spectrogram", int(spec_ids[gi]))))
        # spectrogram_sub_id: the row's rank among the spectrogram's rows by spectrogram offset.
        so = np.concatenate([s for s, _ in spec_rows])
        rank = np.empty(len(so), dtype=np.int64)
        rank[np.argsort(so, kind="stable")] = np.arange(len(so))
        pos = 0
        for s, ri in spec_rows:
            rows[int(ri[0])]["spectrogram_sub_id"] = rank[pos:pos + len(s)]
            pos += len(s)

    votes = np.concatenate([r.pop("votes") for r in rows])
    train = pd.DataFrame({c: np.concatenate([r[c] for r in rows]) for c in rows[0]})
    train["label_id"] = unique_ints(rng, len(train), 10**6, 2**32 - 1)
    train["expert_consensus"] = np.asarray(CONSENSUS)[votes.argmax(axis=1)]
    train[list(VOTE_COLS)] = votes
    for c in ("eeg_label_offset_seconds", "spectrogram_label_offset_seconds"):
        train[c] = train[c].astype(np.float64)
    train = train[list(TRAIN_COLUMNS)]
    int_cols = [c for c in TRAIN_COLUMNS if c not in ("eeg_label_offset_seconds", "spectrogram_label_offset_seconds",
                                                      "expert_consensus")]
    train[int_cols] = train[int_cols].astype(np.int64)
    latent_df = pd.DataFrame(latent, columns=list(VOTE_COLS))
    latent_df.insert(0, "eeg_id", eeg_ids)
    return train, latent_df, specs, taken | set(spec_ids.tolist()) | set(patient_ids.tolist())


def _acceptable(train: pd.DataFrame, cfg: SynthConfig) -> bool:
    g = train.groupby("eeg_id")
    votes = g[list(VOTE_COLS)].sum().to_numpy()
    n_votes = train[list(VOTE_COLS)].sum(axis=1).groupby(train["eeg_id"]).max()
    per_class = np.bincount(votes.argmax(axis=1), minlength=N_CLASSES)
    classes_ok = int(per_class.min()) >= cfg.min_per_class
    return classes_ok and int((n_votes >= HQ_MIN_VOTES).sum()) >= cfg.min_hq_eegs


def sample_labels(cfg: SynthConfig, seed: int) -> LabelPlan:
    """The whole label side of a dataset: train.csv, latent p, test.csv and the file plan."""
    for attempt in range(cfg.max_redraws):
        train, latent, specs, taken = _draw_train(cfg, seed, attempt)
        if _acceptable(train, cfg):
            break
    else:
        raise ConfigError(f"synth: no label sample of {cfg.n_train_eegs} eegs had >= {cfg.min_per_class} eegs per class and "
                          f">= {cfg.min_hq_eegs} eegs with >= {HQ_MIN_VOTES} votes in {cfg.max_redraws} draws; "
                          "use more train eegs (synth.n_train_eegs)")
    if attempt:
        log.info("label sample redrawn %d time(s) to contain every class and enough >= 10-vote eegs", attempt)
    test, test_specs = _draw_test(cfg, seed, train, taken)
    return LabelPlan(train=train, latent=latent, test=test, specs=specs + test_specs)


def _draw_test(cfg: SynthConfig, seed: int, train: pd.DataFrame, taken: set[int]) -> tuple[pd.DataFrame, list[SpecPlan]]:
    """Test eegs resemble the >= 10-vote part of train: one 50 s EEG centred in a 600 s spectrogram each."""
    real = load_real_structure()
    rng = np.random.default_rng(derive_seed(seed, "test"))
    picks = rng.choice(real.hq_eegs, size=cfg.n_test_eegs, replace=False)
    eeg_ids = unique_ints(rng, cfg.n_test_eegs, 10**6, 2**32 - 1, taken)
    spec_ids = unique_ints(rng, cfg.n_test_eegs, 10**3, 2**31 - 1, taken)
    patient_ids = unique_ints(rng, cfg.n_test_eegs, 1, 2**16, taken)
    specs = []
    for e, eeg_id, spec_id, pid in zip(picks, eeg_ids.tolist(), spec_ids.tolist(), patient_ids.tolist()):
        lo, hi = real.eeg_start[e], real.eeg_start[e + 1]
        row = real.votes[lo + int(rng.integers(0, hi - lo))]
        p = latent_distribution(rng, row / row.sum(), int(row.sum()), real.prior, cfg.prior_strength)
        eeg = EegPlan(eeg_id=eeg_id, start_s=EEG_IN_SPEC_S, length_s=EEG_WINDOW_S, p=tuple(p.tolist()),
                      patient_seed=derive_seed(seed, "patient", pid), seed=derive_seed(seed, "eeg", eeg_id))
        specs.append(SpecPlan(split="test", spectrogram_id=spec_id, span_s=SPEC_WINDOW_S, eegs=(eeg,),
                              seed=derive_seed(seed, "spectrogram", spec_id)))
    test = pd.DataFrame({"spectrogram_id": spec_ids, "eeg_id": eeg_ids, "patient_id": patient_ids})
    return test, specs

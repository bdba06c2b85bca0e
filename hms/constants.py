"""Names and numbers fixed by the Kaggle data contract (see docs/ and shared hms-data.md)."""

from __future__ import annotations

# Class order of sample_submission.csv; every prediction file uses it.
CLASSES: tuple[str, ...] = ("seizure", "lpd", "gpd", "lrda", "grda", "other")
VOTE_COLS: tuple[str, ...] = tuple(f"{c}_vote" for c in CLASSES)
# train.csv's expert_consensus spelling, in CLASSES order.
CONSENSUS: tuple[str, ...] = ("Seizure", "LPD", "GPD", "LRDA", "GRDA", "Other")
N_CLASSES = len(CLASSES)

TRAIN_COLUMNS: tuple[str, ...] = (
    "eeg_id", "eeg_sub_id", "eeg_label_offset_seconds", "spectrogram_id",
    "spectrogram_sub_id", "spectrogram_label_offset_seconds", "label_id", "patient_id",
    "expert_consensus", *VOTE_COLS,
)
TEST_COLUMNS: tuple[str, ...] = ("spectrogram_id", "eeg_id", "patient_id")
SUBMISSION_COLUMNS: tuple[str, ...] = ("eeg_id", *VOTE_COLS)

EEG_CHANNELS: tuple[str, ...] = (
    "Fp1", "F3", "C3", "P3", "F7", "T3", "T5", "O1", "Fz", "Cz", "Pz",
    "Fp2", "F4", "C4", "P4", "F8", "T4", "T6", "O2", "EKG",
)
SCALP_CHANNELS: tuple[str, ...] = EEG_CHANNELS[:19]
FS = 200  # Hz
EEG_WINDOW_S = 50
EEG_WINDOW = EEG_WINDOW_S * FS  # 10,000 samples
CENTER_START, CENTER_STOP = 20 * FS, 30 * FS  # the 10 s the experts labelled

SPEC_REGIONS: tuple[str, ...] = ("LL", "RL", "LP", "RP")  # file order
# Kaggle's spectrogram bins are STFT bins 3..102 of a 1024-point FFT at 200 Hz, printed to 2 decimals.
# Kaggle rounds half up (3.125 -> 3.13), which round() does not.
SPEC_FREQS: tuple[float, ...] = tuple(int((k + 3) * FS / 1024 * 100 + 0.5) / 100 for k in range(100))
SPEC_FREQ_LABELS: tuple[str, ...] = tuple(f"{f:g}" for f in SPEC_FREQS)
SPEC_COLUMNS: tuple[str, ...] = ("time",) + tuple(
    f"{r}_{f}" for r in SPEC_REGIONS for f in SPEC_FREQ_LABELS
)
SPEC_WINDOW_S = 600
SPEC_STEP_S = 2
SPEC_WINDOW_ROWS = SPEC_WINDOW_S // SPEC_STEP_S  # 300

HQ_MIN_VOTES = 10  # "high quality" eegs: at least this many votes
KL_EPS = 1e-15  # Kaggle clips submissions to [eps, 1-eps]

MODEL_NAMES: tuple[str, ...] = ("prior", "lgbm", "catboost", "efficientnet", "resnet", "wave", "ensemble")

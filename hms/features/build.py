"""Build one feature representation for one split: the single entry point used by the DVC
feature stages (training) and by `hms predict` (test time), so both go through the same code.

Windows are processed in chunks of CHUNK samples; each worker process loads one chunk's files and
runs the batched signal code on it, so memory is bounded by (workers x in-flight chunks) whatever
the dataset size. Chunks are cut from the samples sorted by (spectrogram_id, eeg_id), so the eegs
of one recording, which share a spectrogram file, mostly land in one chunk and the file is read
once. Each result is written at its samples' rows of a memmap (arrays) or of one table, so the
output is in sample order and, as the chunks depend only on the samples table, identical
whatever `workers` is.

Waves of a split where eegs have several samples (per-row mode: up to 743 rows of one eeg, whose
50 s windows are 2 s apart) are built as tracks (hms.features.store): each eeg's labelled span
is preprocessed and resampled once and stored once, and a sample is a slice of it. The real
label structure has 106,519 rows covering 1.36 M distinct EEG seconds against 5.3 M seconds of
windows: 3.9 x less disk and work. Inside a window, a track differs from the window processed
alone only near the window's edges (the band-pass sees the real neighbouring signal instead of
padding); a track of one window is exactly the window's waves, so per-eeg mode (one window per
eeg) is stored as before, byte for byte.
"""

from __future__ import annotations

import dataclasses
import logging
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from hms.constants import EEG_WINDOW, FS
from hms.data.layout import DataDir
from hms.errors import ConfigError
from hms.features import store
from hms.features.mosaic import MosaicConfig, mosaic_batch, panel_shape
from hms.features.tabular import TabularConfig, feature_manifest, tabular_batch
from hms.features.waves import WavesConfig, waves_batch, waves_shape
from hms.features.windows import clear_cache, load_eeg_batch, load_eeg_span, load_spec_batch, sample_label
from hms.io import write_csv, write_parquet
from hms.params import to_dataclass
from hms.seed import single_thread
from hms.signal.montage import MONTAGES, WAVES_NAMES, panel_flip_index
from hms.signal.filters import resample
from hms.signal.preprocess import SignalConfig, preprocess

log = logging.getLogger(__name__)

FEATURE_KINDS: tuple[str, ...] = ("tabular", "mosaic", "waves")
KIND_CONFIGS: dict[str, type] = {"tabular": TabularConfig, "mosaic": MosaicConfig, "waves": WavesConfig}
CHUNK = 8  # windows per task: enough to batch the filter, small enough to balance 2 workers on small sets
SAMPLE_COLUMNS = ("sample_id", "eeg_id", "spectrogram_id", "eeg_offset", "spec_offset")
# Top-level keys a params block / config.json may hold besides the kind blocks.
_META_KEYS = {"kind", "signal", "workers", "layout"}


def parse_config(kind: str, params: dict[str, Any]) -> tuple[SignalConfig, Any]:
    """`features` params block (or a features config.json) -> (SignalConfig, kind config)."""
    if kind not in FEATURE_KINDS:
        raise ConfigError(f"unknown feature kind {kind!r}; expected one of {FEATURE_KINDS}")
    params = dict(params or {})
    unknown = sorted(set(params) - _META_KEYS - set(FEATURE_KINDS))
    if unknown:
        raise ConfigError(f"params.yaml: unknown key(s) {unknown} in block 'features'; known: {sorted(_META_KEYS | set(FEATURE_KINDS))}")
    if params.get("kind", kind) != kind:
        raise ConfigError(f"feature config is for kind {params['kind']!r}, not {kind!r}: pass the {kind} config.json")
    sig = to_dataclass(SignalConfig, params.get("signal"), "features.signal")
    cfg = to_dataclass(KIND_CONFIGS[kind], params.get(kind), f"features.{kind}")
    return sig, cfg


def stale_keys(kind: str, features: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(missing, unknown): keys of today's `signal` and `kind` configs that a stored feature config (a
    config.json of the feature stage, as a trained model records it) lacks, and keys it has that today's
    configs do not know. Missing keys mean an older version: rebuilding its features would fill them
    with today's defaults, which need not be what the model was trained on (features.mosaic.montage and
    features.tabular.montages, stop 22, default to another montage than the one used before). Unknown
    keys mean a newer version, whose features this one cannot build."""
    missing: list[str] = []
    unknown: list[str] = []
    for block, cls in (("signal", SignalConfig), (kind, KIND_CONFIGS[kind])):
        if isinstance(features.get(block), dict):
            names = [f.name for f in dataclasses.fields(cls)]
            missing += [f"{block}.{n}" for n in names if n not in features[block]]
            unknown += [f"{block}.{k}" for k in sorted(set(features[block]) - set(names))]
    return missing, unknown


def config_json(kind: str, sig: SignalConfig, cfg: Any) -> dict[str, Any]:
    """What config.json holds: the resolved params (a valid `params` for build_features) plus the
    layout models need (shapes, panel / channel names, flip permutations)."""
    if kind == "mosaic":
        layout = {"shape": list(panel_shape(cfg)), "panels": list(cfg.panels),
                  "panel_flip": panel_flip_index(cfg.panels).tolist() if _flippable(cfg.panels) else None,
                  "axes": "panel, frequency (ascending), time"}
    elif kind == "waves":
        layout = {"shape": list(waves_shape(cfg)), "channels": list(WAVES_NAMES), "fs": cfg.fs_out,
                  "axes": "channel, time"}
    else:
        layout = {"n_features": len(feature_manifest(cfg))}
    return {"kind": kind, "signal": dataclasses.asdict(sig), kind: dataclasses.asdict(cfg), "layout": layout}


def _flippable(panels: list[str]) -> bool:
    try:
        panel_flip_index(panels)
        return True
    except ValueError:
        return False


def compute_chunk(kind: str, data: DataDir, split: str, sig: SignalConfig, cfg: Any,
                  rows: list[dict[str, Any]]) -> np.ndarray:
    """Features of a few samples (a list of prepared-table rows) as one float32 batch."""
    ids = [sample_label(split, r) for r in rows]
    raw = load_eeg_batch(data, split, rows)  # type: ignore[arg-type]
    if kind == "waves":
        return waves_batch(raw, sig, cfg, ids)
    if kind == "mosaic" and not any(p.startswith("K_") for p in cfg.panels):
        spec = np.zeros((len(rows), 0, 0), np.float32)  # EEG panels only: no spectrogram file needed
    else:
        spec = load_spec_batch(data, split, rows)  # type: ignore[arg-type]
    if kind == "mosaic":
        return mosaic_batch(raw, spec, sig, cfg, ids)
    return tabular_batch(raw, spec, sig, cfg, ids)


def _init_worker() -> None:
    single_thread()


def run_chunks(fn: Callable[[list[dict[str, Any]]], np.ndarray], chunks: list[list[dict[str, Any]]],
               workers: int) -> Iterator[np.ndarray]:
    """Results of fn(chunk) in chunk order; at most 2 x workers chunks in flight (bounded memory)."""
    if workers <= 1 or len(chunks) <= 1:
        with single_thread():
            for c in chunks:
                yield fn(c)
        return
    with ProcessPoolExecutor(workers, initializer=_init_worker) as pool:
        pending: list[Future] = []
        it = iter(chunks)
        for c in it:
            pending.append(pool.submit(fn, c))
            if len(pending) >= 2 * workers:
                break
        while pending:
            result = pending.pop(0).result()
            nxt = next(it, None)
            if nxt is not None:
                pending.append(pool.submit(fn, nxt))
            yield result


def chunk_positions(samples: pd.DataFrame, size: int | None = None) -> list[np.ndarray]:
    """Row positions of each chunk: the samples sorted by (spectrogram_id, eeg_id, position), cut
    every `size` (default CHUNK). A function of the samples table alone, never of `workers`."""
    size = CHUNK if size is None else size
    order = np.lexsort((np.arange(len(samples)), samples["eeg_id"].to_numpy(np.int64),
                        samples["spectrogram_id"].to_numpy(np.int64)))
    return [order[i:i + size] for i in range(0, len(order), size)]


def _remove_stale(out_dir: Path, split: str) -> None:
    """Temporary files of an interrupted run (atomic_path names them .<name>.<random>)."""
    for pattern in (f".{split}.npy.*", f".{split}_index.parquet.*", f".{split}.parquet.*", ".config.json.*", ".manifest.csv.*"):
        for p in out_dir.glob(pattern):
            log.info("removing %s left by an interrupted run", p)
            p.unlink()


def build_features(kind: str, data: DataDir, split: str, samples: pd.DataFrame, params: dict[str, Any],
                   out_dir: Path, workers: int = 2) -> None:
    """Write features/<kind> for `split` (see hms.features.store for the format) plus config.json.

    `params` is the `features` block of params.yaml or the config.json of an earlier build."""
    sig, cfg = parse_config(kind, params)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _remove_stale(out_dir, split)
    missing = [c for c in SAMPLE_COLUMNS if c not in samples.columns]
    if missing:
        raise ValueError(f"build_features: the {split} samples table lacks column(s) {missing}; pass a prepared table")
    ids = samples["sample_id"].to_numpy(np.int64)
    if len(np.unique(ids)) != len(ids):
        raise ValueError(f"build_features: duplicate sample_id in the {split} samples table")
    if kind == "waves" and uses_tracks(samples):
        _build_wave_tracks(data, split, samples, sig, cfg, out_dir, workers)
        store.write_config(out_dir, config_json(kind, sig, cfg))
        clear_cache()
        return
    rows = samples[list(SAMPLE_COLUMNS)].to_dict("records")
    positions = chunk_positions(samples)
    chunks = [[rows[i] for i in pos] for pos in positions]
    fn = _ChunkFn(kind, data, split, sig, cfg)
    bar = tqdm(total=len(rows), desc=f"features {kind} {split}", unit="eeg", leave=False)
    if kind == "tabular":
        manifest = feature_manifest(cfg)
        values = np.zeros((len(rows), len(manifest)), np.float32)
        for pos, res in zip(positions, run_chunks(fn, chunks, workers)):
            values[pos] = res
            bar.update(len(res))
        table = pd.DataFrame(values, columns=manifest["column"].tolist())
        table.insert(0, "sample_id", ids)
        write_parquet(table, store.table_path(out_dir, split))
        write_csv(manifest, out_dir / "manifest.csv")
    else:
        shape = panel_shape(cfg) if kind == "mosaic" else waves_shape(cfg)
        writer = store.ArrayWriter(out_dir, split, (len(rows), *shape), dtype=np.float16)
        try:
            for pos, res in zip(positions, run_chunks(fn, chunks, workers)):
                writer[pos] = res  # float16 already (half the bytes to send back from the workers)
                bar.update(len(res))
        except BaseException:
            writer.abort()
            raise
        writer.close()
        store.write_index(out_dir, split, ids)
    bar.close()
    clear_cache()
    store.write_config(out_dir, config_json(kind, sig, cfg))
    log.info("features %s %s: %d samples -> %s", kind, split, len(rows), out_dir)


# --- waves as tracks ------------------------------------------------------------------------------

def uses_tracks(samples: pd.DataFrame) -> bool:
    """Tracks pay off when an eeg has several windows (per-row mode); whole-file windows (test)
    never go to tracks."""
    offs = samples["eeg_offset"].to_numpy(np.float64)
    return bool(samples["eeg_id"].duplicated().any() and np.isfinite(offs).all())


def plan_tracks(samples: pd.DataFrame, fs_out: int, n_keep: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Tracks of a samples table and the row of the tracks file where each sample's window starts.

    A track is a maximal run of overlapping or touching windows of one eeg whose starts lie on the
    output sample grid of each other (start differences a multiple of FS / gcd(FS, fs_out) raw
    samples; Kaggle offsets are whole seconds, so an eeg is one grid). Tracks are laid out in the
    order of the feature chunks (spectrogram_id, eeg_id, start). Returns (tracks: eeg_id,
    spectrogram_id, raw_start, raw_stop, last_offset, n_samples, out_start, out_len; starts)."""
    step = FS // int(np.gcd(FS, int(fs_out)))
    raw = np.rint(samples["eeg_offset"].to_numpy(np.float64) * FS).astype(np.int64)
    eeg = samples["eeg_id"].to_numpy(np.int64)
    spec = samples["spectrogram_id"].to_numpy(np.int64)
    order = np.lexsort((raw, raw % step, eeg, spec))
    win_out = EEG_WINDOW * fs_out // FS
    crop = (win_out - n_keep) // 2  # as waves_batch keeps the central n_keep samples
    starts = np.empty(len(samples), dtype=np.int64)
    tracks: list[tuple[int, int, int, int, float, int, int, int]] = []
    out_pos = 0
    i = 0
    offsets = samples["eeg_offset"].to_numpy(np.float64)
    while i < len(order):
        first = order[i]
        lo, hi, j = raw[first], raw[first] + EEG_WINDOW, i + 1
        while (j < len(order) and eeg[order[j]] == eeg[first] and raw[order[j]] % step == raw[first] % step
               and raw[order[j]] <= hi):
            hi = max(hi, raw[order[j]] + EEG_WINDOW)
            j += 1
        members = order[i:j]
        out_len = (hi - lo) * fs_out // FS
        starts[members] = out_pos + (raw[members] - lo) * fs_out // FS + crop
        last = members[np.argmax(raw[members])]
        tracks.append((int(eeg[first]), int(spec[first]), int(lo), int(hi), float(offsets[last]), len(members),
                       out_pos, int(out_len)))
        out_pos += int(out_len)
        i = j
    cols = ["eeg_id", "spectrogram_id", "raw_start", "raw_stop", "last_offset", "n_samples", "out_start", "out_len"]
    return pd.DataFrame(tracks, columns=cols), starts


def wave_track(raw: np.ndarray, sig: SignalConfig, cfg: WavesConfig, label: str) -> np.ndarray:
    """(20, n) raw span -> (36, n * fs_out / FS) float32 waves, the operations of waves_batch
    without its central crop."""
    x = resample(preprocess(raw[None], sig, [label], MONTAGES), FS, cfg.fs_out)[0]
    return (x / cfg.scale_uv).astype(np.float32)


@dataclasses.dataclass(frozen=True)
class _TrackFn:
    """Picklable: waves of a few tracks, float16 (out_len, 36) each (the file's layout)."""

    data: DataDir
    split: str
    sig: SignalConfig
    cfg: WavesConfig

    def __call__(self, tracks: list[dict[str, Any]]) -> list[np.ndarray]:
        out = []
        for t in tracks:
            raw = load_eeg_span(self.data, self.split, t["eeg_id"], t["raw_start"], t["raw_stop"], t["last_offset"])
            label = f"{self.split} eeg_id {int(t['eeg_id'])} (track of {int(t['n_samples'])} windows)"
            x = wave_track(raw, self.sig, self.cfg, label)
            if x.shape[-1] != t["out_len"]:  # an invariant of plan_tracks
                raise RuntimeError(f"{label}: {x.shape[-1]} output samples, planned {t['out_len']}")
            out.append(np.ascontiguousarray(x.T).astype(np.float16))
        return out


def _build_wave_tracks(data: DataDir, split: str, samples: pd.DataFrame, sig: SignalConfig, cfg: WavesConfig,
                       out_dir: Path, workers: int) -> None:
    n_keep = waves_shape(cfg)[1]
    tracks, starts = plan_tracks(samples, cfg.fs_out, n_keep)
    # Tasks of about CHUNK windows' worth of signal (a long track alone), in track order.
    records = tracks.to_dict("records")
    tasks: list[list[dict[str, Any]]] = []
    budget = CHUNK * EEG_WINDOW
    for t in records:
        if tasks and sum(u["raw_stop"] - u["raw_start"] for u in tasks[-1]) + t["raw_stop"] - t["raw_start"] <= budget:
            tasks[-1].append(t)
        else:
            tasks.append([t])
    total = int(tracks["out_len"].sum())
    log.info("features waves %s: %d samples in %d tracks (%d rows stored, %.1fx fewer than windows)", split,
             len(samples), len(tracks), total, len(samples) * n_keep / max(total, 1))
    bar = tqdm(total=len(samples), desc=f"features waves {split} (tracks)", unit="sample", leave=False)
    writer = store.ArrayWriter(out_dir, split, (total, waves_shape(cfg)[0]), dtype=np.float16)
    try:
        for task, res in zip(tasks, run_chunks(_TrackFn(data, split, sig, cfg), tasks, workers)):
            for t, x in zip(task, res):
                writer[t["out_start"]:t["out_start"] + t["out_len"]] = x
                bar.update(t["n_samples"])
    except BaseException:
        writer.abort()
        raise
    writer.close()
    bar.close()
    store.write_track_index(out_dir, split, samples["sample_id"].to_numpy(np.int64), starts, n_keep)
    log.info("features waves %s: %d samples -> %s", split, len(samples), out_dir)


@dataclasses.dataclass(frozen=True)
class _ChunkFn:
    """Picklable callable for the worker processes."""

    kind: str
    data: DataDir
    split: str
    sig: SignalConfig
    cfg: Any

    def __call__(self, rows: list[dict[str, Any]]) -> np.ndarray:
        out = compute_chunk(self.kind, self.data, self.split, self.sig, self.cfg, rows)
        return out if self.kind == "tabular" else out.astype(np.float16)

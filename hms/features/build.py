"""Build one feature representation for one split: the single entry point used by the DVC
feature stages (training) and by `hms predict` (test time), so both go through the same code.

Windows are processed in chunks of CHUNK samples; each worker process loads one chunk's files and
runs the batched signal code on it, so memory is bounded by (workers x in-flight chunks) whatever
the dataset size. Chunks are cut from the samples sorted by (spectrogram_id, eeg_id), so the eegs
of one recording, which share a spectrogram file, mostly land in one chunk and the file is read
once. Each result is written at its samples' rows of a memmap (arrays) or of one table, so the
output is in sample order and, as the chunks depend only on the samples table, identical
whatever `workers` is.
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

from hms.data.layout import DataDir
from hms.features import store
from hms.features.mosaic import MosaicConfig, mosaic_batch, panel_shape
from hms.features.tabular import TabularConfig, feature_manifest, tabular_batch
from hms.features.waves import WavesConfig, waves_batch, waves_shape
from hms.features.windows import load_eeg_batch, load_spec_batch, sample_label
from hms.io import write_csv, write_parquet
from hms.params import to_dataclass
from hms.seed import single_thread
from hms.signal.montage import BIPOLAR_NAMES, panel_flip_index
from hms.signal.preprocess import SignalConfig

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
        raise ValueError(f"unknown feature kind {kind!r}; expected one of {FEATURE_KINDS}")
    params = dict(params or {})
    unknown = sorted(set(params) - _META_KEYS - set(FEATURE_KINDS))
    if unknown:
        raise ValueError(f"params.yaml: unknown key(s) {unknown} in block 'features'; known: {sorted(_META_KEYS | set(FEATURE_KINDS))}")
    if params.get("kind", kind) != kind:
        raise ValueError(f"feature config is for kind {params['kind']!r}, not {kind!r}: pass the {kind} config.json")
    sig = to_dataclass(SignalConfig, params.get("signal"), "features.signal")
    cfg = to_dataclass(KIND_CONFIGS[kind], params.get(kind), f"features.{kind}")
    return sig, cfg


def config_json(kind: str, sig: SignalConfig, cfg: Any) -> dict[str, Any]:
    """What config.json holds: the resolved params (a valid `params` for build_features) plus the
    layout models need (shapes, panel / channel names, flip permutations)."""
    if kind == "mosaic":
        layout = {"shape": list(panel_shape(cfg)), "panels": list(cfg.panels),
                  "panel_flip": panel_flip_index(cfg.panels).tolist() if _flippable(cfg.panels) else None,
                  "axes": "panel, frequency (ascending), time"}
    elif kind == "waves":
        layout = {"shape": list(waves_shape(cfg)), "channels": list(BIPOLAR_NAMES), "fs": cfg.fs_out,
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
    store.write_config(out_dir, config_json(kind, sig, cfg))
    log.info("features %s %s: %d samples -> %s", kind, split, len(rows), out_dir)


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

"""`hms scan`: a recording -> per-window probabilities, events and a timeline.

out_dir/
  windows.parquet, windows.csv  one row per window: start_s / end_s of its labelled 10 s, the six
                                probabilities (class order of sample_submission.csv), `pattern`
                                (the most likely class, Kaggle spelling) and its probability
  events.csv                    pattern, start_s, end_s, duration_s, mean_p, max_p, n_windows
  annotations.csv               the file's own annotations (EDF+), if any
  timeline.png                  compressed spectrogram, stacked probabilities, event lanes
  scan_summary.json             recording, models, settings, seconds per step, x real time
"""

from __future__ import annotations

import collections
import contextlib
import logging
import queue
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Iterator, TypeVar

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from hms.constants import CLASSES, CONSENSUS
from hms.data.errors import DataError
from hms.errors import ConfigError
from hms.io import write_csv, write_json, write_parquet
from hms.recording.events import EventConfig, find_events
from hms.recording.predict import batch_features, feature_specs, load_models
from hms.recording.read import open_recording
from hms.recording.timeline import draw_timeline
from hms.recording.timing import StepTimer, capped_warnings
from hms.recording.windows import WindowGrid, WindowStream, spectrogram_strip_times

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class ScanOptions:
    step_s: float = 2.0
    batch: int = 64  # windows per feature / model batch
    chunk: int = 512  # windows per read + filter chunk
    exact: bool = False  # per-window filtering, as `hms predict` (slower)
    tta: bool = True  # the models' TTA (flips, shifts) as saved; False runs each neural net once per window
    threads: int = 2  # batches scored in parallel, one torch thread each; features in one more thread (1: all in one)
    min_weight: float = 0.0  # skip base models whose blend weight is below this (0: run every model)
    allow_missing: int = 0
    allow_truncated: bool = False
    events: EventConfig = field(default_factory=EventConfig)
    progress: bool = True
    timeline: bool = True


@dataclass
class ScanResult:
    windows: pd.DataFrame
    events: pd.DataFrame
    summary: dict[str, Any]
    out_dir: Path


def prefetch(items: Iterator[T], ahead: int = 1) -> Iterator[T]:
    """Yield from `items`, computing up to `ahead` items in a background thread while the caller works
    on the current one (the features of the next batch while the models score this one; numpy,
    scipy and torch release the GIL in their heavy loops). ahead=0: plain iteration."""
    if ahead <= 0:
        yield from items
        return
    q: queue.Queue = queue.Queue(maxsize=ahead)
    done = object()
    stop = threading.Event()

    def work() -> None:
        try:
            for item in items:
                if stop.is_set():
                    return
                q.put(item)
            q.put(done)
        except BaseException as exc:  # re-raised in the consumer
            q.put(exc)

    t = threading.Thread(target=work, name="scan-features", daemon=True)
    t.start()
    try:
        while True:
            item = q.get()
            if item is done:
                break
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while t.is_alive():  # unblock a producer waiting on a full queue
            try:
                q.get(timeout=0.1)
            except queue.Empty:
                pass
        t.join()


def score_in_parallel(predict: Callable[[dict[str, np.ndarray]], np.ndarray],
                      batches: Iterator[tuple[np.ndarray, dict[str, np.ndarray]]],
                      threads: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(label starts, probabilities) of each batch, in order, with up to `threads` batches scored at
    once. Small nets on small inputs use a core better through one torch thread per batch than
    through torch's intra-op threads; each batch's result does not depend on `threads`."""
    if threads <= 1:
        for starts, feats in batches:
            yield starts, predict(feats)
        return
    with ThreadPoolExecutor(threads, thread_name_prefix="scan-models") as pool:
        pending: collections.deque = collections.deque()
        for starts, feats in batches:
            pending.append((starts, pool.submit(predict, feats)))
            if len(pending) > threads:
                s, fut = pending.popleft()
                yield s, fut.result()
        while pending:
            s, fut = pending.popleft()
            yield s, fut.result()


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def window_table(label_start_s: np.ndarray, probs: np.ndarray) -> pd.DataFrame:
    table = pd.DataFrame({"start_s": label_start_s, "end_s": label_start_s + 10.0})
    for k, c in enumerate(CLASSES):
        table[c] = probs[:, k].astype(np.float32)
    best = probs.argmax(axis=1)
    table["pattern"] = np.asarray(CONSENSUS)[best]
    table["pattern_p"] = probs[np.arange(len(probs)), best].astype(np.float32)
    return table


def scan_recording(recording: str | Path, models_dir: str | Path, out_dir: str | Path,
                   opts: ScanOptions = ScanOptions(), timer: StepTimer | None = None) -> ScanResult:
    t_start = time.perf_counter()
    timer = timer or StepTimer()
    out_dir = Path(out_dir)
    with timer("open"):
        rec = open_recording(recording, allow_missing=opts.allow_missing, allow_truncated=opts.allow_truncated)
    try:
        grid = WindowGrid(rec.n, opts.step_s)
    except ConfigError:  # a bad --step, not a fault of the recording
        raise
    except ValueError as exc:
        raise DataError(rec.path, str(exc)) from None
    with timer("load models"):
        ens = load_models(models_dir, tta=opts.tta, timer=timer, min_weight=opts.min_weight)
    specs = feature_specs(ens)
    log.info("scan %s: %.1f min at %g Hz -> %d windows every %g s; features %s",
             rec.path, rec.duration_s / 60, rec.fs_in, grid.n_windows, opts.step_s, [f.key for f in specs])
    for f in specs:
        if f.per_window and not opts.exact:
            log.info("features %s: eeg_seconds=%g reaches into each window's filter transient, so these features are "
                     "computed window by window, as `hms predict` does (slower; docs/scan.md)", f.key, f.cfg.eeg_seconds)
    stream = WindowStream(rec, grid, timer, batch=opts.batch, chunk=opts.chunk, exact=opts.exact)
    starts, probs = [], []
    bar = tqdm(total=grid.n_windows, desc="scan", unit="window", disable=not opts.progress, leave=False)
    # A dead or masked electrode makes the NaN handling warn once per window: show a few.
    with capped_warnings(("hms.signal.clean",)), torch_threads(1):
        batches = prefetch(((wb.label_start_s, batch_features(wb, specs, timer, exact=opts.exact)) for wb in stream),
                           ahead=opts.threads if opts.threads > 1 else 0)
        for label_start_s, p in score_in_parallel(ens.predict, batches, opts.threads):
            probs.append(p)
            starts.append(label_start_s)
            bar.update(len(label_start_s))
    bar.close()
    table = window_table(np.concatenate(starts), np.concatenate(probs))
    scored_s = time.perf_counter() - t_start
    with timer("outputs"):
        events = find_events(table["start_s"].to_numpy(), table[list(CLASSES)].to_numpy(), opts.step_s, opts.events)
        write_parquet(table, out_dir / "windows.parquet")
        write_csv(table, out_dir / "windows.csv", float_format="%.5g")
        write_csv(events, out_dir / "events.csv", float_format="%.4g")
        if len(rec.annotations):
            write_csv(rec.annotations, out_dir / "annotations.csv")
        if opts.timeline:
            strip = stream.strip if stream.strip is not None else np.zeros((0, 2, 1))
            draw_timeline(table, events, strip, spectrogram_strip_times(len(strip)), out_dir / "timeline.png",
                          rec.duration_s, f"{rec.path.name}: {rec.duration_s / 60:.1f} min, {len(table)} windows every "
                          f"{opts.step_s:g} s, {len(events)} events", rec.annotations)
    total = time.perf_counter() - t_start
    summary = {
        "recording": rec.summary(),
        "models_dir": str(models_dir),
        "features": {f.key: f.kind for f in specs},
        "options": {k: v for k, v in asdict(opts).items() if k != "progress"},
        "windows": len(table),
        "events": len(events),
        "seconds": {"total": round(total, 3), "scoring": round(scored_s, 3), "steps": timer.table()},
        "x_real_time": round(rec.duration_s / total, 1),
    }
    write_json(summary, out_dir / "scan_summary.json")
    log.info("scan: %d windows, %d events in %.1f s (%.0fx real time) -> %s", len(table), len(events), total,
             rec.duration_s / total, out_dir)
    return ScanResult(table, events, summary, out_dir)

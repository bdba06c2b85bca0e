"""Wall-clock seconds per scan step (read, filter, spectrogram, features per kind, each model, ...),
accumulated over the whole scan: the benchmark prints them, `scan_summary.json` keeps them."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import defaultdict
from typing import Iterator


class StepTimer:
    """Wall seconds and CPU seconds per step, exclusive: a step started inside another (the chunk's
    filtering, triggered by the first feature that needs it) is counted for itself only, so the
    steps add up (the wall seconds of steps running at once in different threads add up too). CPU =
    of the thread running the step (torch's own intra-op threads, when more than one, are not
    counted). On a shared machine the CPU seconds are the steadier figure."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.cpu: dict[str, float] = defaultdict(float)
        self._local = threading.local()
        self._lock = threading.Lock()  # steps of several threads add to the same totals

    def _stack(self) -> list[list]:
        if not hasattr(self._local, "stack"):
            self._local.stack = []
        return self._local.stack

    @contextlib.contextmanager
    def __call__(self, step: str) -> Iterator[None]:
        stack = self._stack()
        now = (time.perf_counter(), time.thread_time())
        if stack:  # pause the enclosing step
            outer = stack[-1]
            self._add(outer[0], now[0] - outer[1], now[1] - outer[2])
        stack.append([step, *now])
        try:
            yield
        finally:
            name, t0, c0 = stack.pop()
            end = (time.perf_counter(), time.thread_time())
            self._add(name, end[0] - t0, end[1] - c0)
            if stack:  # resume it
                stack[-1][1:] = list(end)

    def _add(self, step: str, wall: float, cpu: float) -> None:
        with self._lock:
            self.seconds[step] += wall
            self.cpu[step] += cpu

    def table(self) -> dict[str, dict[str, float]]:
        """{step: {"wall": s, "cpu": s}}, slowest first."""
        order = sorted(self.seconds, key=lambda k: -self.seconds[k])
        return {k: {"wall": round(self.seconds[k], 3), "cpu": round(self.cpu[k], 3)} for k in order}


class RepeatFilter(logging.Filter):
    """Let the first `limit` records of a logger through and count the rest: the per-window NaN
    warnings of the feature code would otherwise repeat for every window of a long recording."""

    def __init__(self, limit: int = 3) -> None:
        super().__init__()
        self.limit, self.count = limit, 0

    def filter(self, record: logging.LogRecord) -> bool:
        self.count += 1
        return self.count <= self.limit


@contextlib.contextmanager
def capped_warnings(logger_names: tuple[str, ...], limit: int = 3) -> Iterator[dict[str, int]]:
    """Cap the records of `logger_names` at `limit` each; yields {logger: records seen} when done."""
    filters = {name: RepeatFilter(limit) for name in logger_names}
    for name, f in filters.items():
        logging.getLogger(name).addFilter(f)
    counts: dict[str, int] = {}
    try:
        yield counts
    finally:
        for name, f in filters.items():
            logging.getLogger(name).removeFilter(f)
            counts[name] = f.count
            if f.count > limit:
                logging.getLogger(name).warning("... %d more warnings like these were not shown", f.count - limit)

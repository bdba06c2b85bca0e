"""How a training run is watched, not what it trains: dvclive (the native tracker: curves, and CPU,
RAM, disk and GPU use sampled while training, in place of `watch nvidia-smi`) and an optional
Weights & Biases mirror of the same curves, the params and the OOF scores.

The `tracking` params block is not part of any model's config (config.json, the fold-cache key):
switching monitoring or W&B on or off changes no prediction, so every cached fold is reused."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping

log = logging.getLogger(__name__)

WANDB_ENV = "HMS_WANDB"  # 1: mirror to W&B whatever params.yaml says (e.g. one `dvc exp run`), 0: never
# dvclive samples every `interval` s (at most 0.1) and logs the mean of `num_samples` (below 30) samples
MONITOR_INTERVAL_S, MONITOR_SAMPLES = 0.1, 29


@dataclass
class TrackingConfig:
    monitor_system: bool = True  # CPU, RAM, disk and GPU use -> dvclive/<model>/plots/metrics/system/ (every 2.9 s)
    wandb: bool = False  # mirror curves, params and OOF scores to Weights & Biases (`pip install hms[wandb]`)
    wandb_project: str = "hms"

    def wandb_on(self) -> bool:
        env = os.environ.get(WANDB_ENV, "")
        return env == "1" if env in ("0", "1") else self.wandb


@contextlib.contextmanager
def open_live(live_dir: Path, tracking: TrackingConfig | None, name: str,
              config: Mapping[str, Any]) -> Iterator[Any]:
    """dvclive's Live for a model's curves (what the driver logs to), with system monitoring and the W&B
    mirror as `tracking` says. `config` (the model's config.json) becomes the W&B run's config."""
    from dvclive import Live  # imported here: dvclive is slow to import and only training needs it

    tracking = tracking or TrackingConfig(monitor_system=False)
    with Live(str(live_dir), save_dvc_exp=False, dvcyaml=None, report=None) as live:
        if tracking.monitor_system:
            _monitor(live)
        if not tracking.wandb_on():
            yield live
            return
        mirror = WandbMirror(live, _wandb_run(tracking, name, config))
        try:
            yield mirror
        finally:
            mirror.finish()


def log_summary(live: Any, values: Mapping[str, Any], prefix: str = "oof/") -> None:
    """The run's final numbers (e.g. OOF kl_hq) into dvclive's metrics.json and the W&B summary."""
    values = {f"{prefix}{k}": v for k, v in values.items() if isinstance(v, (int, float))}
    if isinstance(live, WandbMirror):
        live.run.summary.update(values)
        live = live.live
    live.summary.update(values)


class WandbMirror:
    """Quacks like the part of dvclive.Live the driver uses (`step`, `log_metric`) and sends every
    metric to dvclive and to a W&B run. Curves restart at step 1 in each fold, so W&B plots them
    against a custom `step` axis rather than its own ever-increasing step."""

    def __init__(self, live: Any, run: Any) -> None:
        self.live, self.run = live, run
        run.define_metric("step")
        run.define_metric("*", step_metric="step")

    @property
    def step(self) -> int:
        return self.live.step

    @step.setter
    def step(self, value: int) -> None:
        self.live.step = value

    @property
    def summary(self) -> dict[str, Any]:
        return self.live.summary

    def log_metric(self, name: str, value: float, **kwargs: Any) -> None:
        self.live.log_metric(name, value, **kwargs)
        self.run.log({name: value, "step": self.live.step})

    def finish(self) -> None:
        self.run.finish()


def _wandb_run(tracking: TrackingConfig, name: str, config: Mapping[str, Any]) -> Any:
    try:
        import wandb
    except ImportError:
        raise RuntimeError("tracking.wandb is true but wandb is not installed: pip install 'hms[wandb]' "
                           "(or set tracking.wandb: false)") from None
    # console="off": W&B does not wrap stdout/stderr (DVC and the tests read them); WANDB_MODE=offline
    # keeps the run on disk (wandb/offline-run-*) for a later `wandb sync`
    return wandb.init(project=tracking.wandb_project, name=name, job_type="train", config=dict(config),
                      reinit="create_new", settings=wandb.Settings(console="off"))


def _monitor(live: Any) -> None:
    """Start dvclive's system monitor on `live`, through a subclass that fixes two things (dvclive 3.49):
    on a machine with nvidia-ml-py but no NVIDIA driver, every sample raised NVMLError before the CPU and
    RAM were read (nothing was logged, and a traceback was), and `system/gpu/usage (%)` was memory-
    bandwidth utilisation divided by SM utilisation; here it is nvidia-smi's GPU-Util."""
    from dvclive import monitor_system as ms

    class Monitor(ms._SystemMonitor):
        def _get_gpu_info(self) -> dict[str, float]:
            return _gpu_info() if _nvml_works() else {}

    try:
        live._system_monitor = Monitor(live=live, interval=MONITOR_INTERVAL_S, num_samples=MONITOR_SAMPLES,
                                       directories_to_monitor={"main": str(Path(live.dir).resolve().anchor)})
    except (AttributeError, TypeError):  # dvclive's private monitor API moved: its own monitor, unpatched
        live.monitor_system(interval=MONITOR_INTERVAL_S, num_samples=MONITOR_SAMPLES)


@functools.lru_cache(maxsize=1)
def _nvml_works() -> bool:
    try:
        import pynvml

        pynvml.nvmlInit()
        pynvml.nvmlShutdown()
        return True
    except Exception:  # noqa: BLE001 - no library, no driver, no device: no GPU metrics, not an error
        return False


def _gpu_info() -> dict[str, float]:
    import pynvml

    gib = 1024.0**3
    pynvml.nvmlInit()
    try:
        n = pynvml.nvmlDeviceGetCount()
        out: dict[str, float] = {"system/gpu/count": n}
        for i in range(n):
            handle = pynvml.nvmlDeviceGetHandleByIndex(i)
            mem = pynvml.nvmlDeviceGetMemoryInfo(handle)
            util = pynvml.nvmlDeviceGetUtilizationRates(handle)
            out[f"system/gpu/usage (%)/{i}"] = float(util.gpu)
            out[f"system/vram/usage (%)/{i}"] = 100.0 * mem.used / mem.total
            out[f"system/vram/usage (GB)/{i}"] = mem.used / gib
            out[f"system/vram/total (GB)/{i}"] = mem.total / gib
        return out
    finally:
        pynvml.nvmlShutdown()

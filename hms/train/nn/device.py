"""Device, precision and CPU thread choices, made once per fit from the `nn` block."""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass
from typing import ContextManager

import torch
import torch.nn as nn

from hms.train.nn.config import LoopConfig

log = logging.getLogger(__name__)
_LOGGED: set[tuple] = set()  # predictions make a runtime per call: say each distinct one once


@dataclass(frozen=True)
class Runtime:
    device: torch.device
    amp_dtype: torch.dtype | None  # None = full fp32
    channels_last: bool
    num_workers: int
    pin_memory: bool

    def autocast(self) -> ContextManager:
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    @property
    def needs_scaler(self) -> bool:
        return self.amp_dtype == torch.float16


def available_cores() -> int:
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    omp = os.environ.get("OMP_NUM_THREADS", "")
    return min(cores, int(omp)) if omp.isdigit() and int(omp) > 0 else cores


def make_runtime(cfg: LoopConfig) -> Runtime:
    threads = cfg.threads if cfg.threads > 0 else available_cores()
    torch.set_num_threads(threads)
    if cfg.device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("nn.device is cuda but torch sees no CUDA device; set nn.device: auto or cpu")
    use_cuda = cfg.device == "cuda" or (cfg.device == "auto" and torch.cuda.is_available())
    device = torch.device("cuda" if use_cuda else "cpu")
    amp_dtype: torch.dtype | None = None
    if use_cuda and cfg.amp != "off":
        if cfg.amp == "fp16" or (cfg.amp == "auto" and not torch.cuda.is_bf16_supported()):
            amp_dtype = torch.float16
        else:
            amp_dtype = torch.bfloat16
    elif cfg.amp in ("bf16", "fp16"):
        log.warning("nn.amp=%s ignored on CPU: training in fp32", cfg.amp)
    workers = cfg.num_workers
    if workers < 0:
        # CPU: the main process already uses every core for the math; workers would only compete.
        workers = min(8, max(available_cores() - 1, 0)) if use_cuda else 0
    rt = Runtime(device, amp_dtype, cfg.channels_last, workers, use_cuda)
    if (rt, threads) not in _LOGGED:
        _LOGGED.add((rt, threads))
        log.info("device %s, amp %s, %d torch threads, %d loader workers", device, amp_dtype, threads, workers)
    return rt


def place(model: nn.Module, rt: Runtime) -> nn.Module:
    """Move a net to the runtime's device and, with `channels_last`, its 2D convolution weights to that
    memory format: the convolutions then run channels-last whatever the input's layout (oneDNN and cuDNN
    follow the weights), at the same values. 1D and linear weights are not 4D and stay as they are."""
    model = model.to(rt.device)
    return model.to(memory_format=torch.channels_last) if rt.channels_last else model

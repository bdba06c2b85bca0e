"""The one seeding function: params.yaml's `seed` drives python, numpy and torch."""

from __future__ import annotations

import os
import random

import numpy as np


def seed_everything(seed: int, deterministic_torch: bool = True) -> np.random.Generator:
    """Seed python, numpy and (if installed) torch; return a numpy Generator for local use."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    os.environ["PYTHONHASHSEED"] = str(seed)
    try:
        import torch
    except ImportError:  # torch is optional for the data-only stages
        return np.random.default_rng(seed)
    torch.manual_seed(seed)
    if deterministic_torch:
        torch.use_deterministic_algorithms(True, warn_only=True)
        if torch.backends.cudnn.is_available():
            torch.backends.cudnn.benchmark = False
    return np.random.default_rng(seed)


def derive_seed(seed: int, *keys: int | str) -> int:
    """A stable child seed for a sub-task (fold, model, file) so parallel work stays reproducible."""
    ss = np.random.SeedSequence([seed, *[_key_int(k) for k in keys]])
    return int(ss.generate_state(1)[0])


def _key_int(key: int | str) -> int:
    if isinstance(key, int):
        return key
    return int.from_bytes(key.encode()[:8].ljust(8, b"\0"), "little") ^ len(key)


def single_thread():
    """Limit BLAS/OpenMP to one thread; works as a call or a context manager. Multi-threaded
    reductions change the last bits of float results, so data and features computed under it are
    byte-identical whatever the number of worker processes."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1)

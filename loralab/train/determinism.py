"""Seeds, RNG state capture/restore and the compute-precision choice.

Everything random in a run draws from generators seeded here: Python, NumPy and torch (adapter init
and dropout). Data order uses its own NumPy generator keyed by (seed, epoch), so it never depends on
how much randomness something else consumed.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from loralab.errors import ConfigError


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict[str, Any]:
    """Snapshot of every global generator, for a checkpoint."""
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what rng_state() captured."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def resolve_device(name: str) -> torch.device:
    """'auto' picks CUDA when present."""
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("train.device=cuda but no CUDA device is visible; use train.device=auto or cpu")
    if name == "cuda" or (name == "auto" and torch.cuda.is_available()):
        return torch.device("cuda")
    return torch.device("cpu")


def resolve_precision(
    precision: str, device: torch.device, step_probe: Callable[[torch.dtype | None], None] | None = None
) -> str:
    """'auto' measures instead of guessing: bf16 where it is supported and faster, else fp32.

    On a CPU, bf16 can be faster (AVX-512 BF16) or ~100x slower (AVX2) than fp32, and small models
    lose either way to the casts (docs/performance.md). `step_probe(dtype)` runs one training-like
    forward/backward of the real model on a real batch under autocast to `dtype` (None: fp32); the
    faster one, timed best of two after a warm-up, wins. Without a probe, CPUs get fp32.
    """
    if precision == "fp16" and device.type != "cuda":
        raise ConfigError("train.precision=fp16 needs a CUDA device; use bf16 or fp32 on a CPU")
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if step_probe is None:
        return "fp32"

    def best(dtype: torch.dtype | None) -> float:
        times = []
        for _ in range(3):
            t = time.perf_counter()
            step_probe(dtype)
            times.append(time.perf_counter() - t)
        return min(times[1:])

    with torch.random.fork_rng(devices=[]):  # the probe's dropout draws must not shift the run's RNG
        fp32, bf16 = best(None), best(torch.bfloat16)
    return "bf16" if bf16 < 0.9 * fp32 else "fp32"

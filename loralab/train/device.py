"""Where a run computes and in which precision: the device choice and the measured `auto` precision."""

from __future__ import annotations

import time
from collections.abc import Callable

import torch

from loralab.errors import ConfigError


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

"""Seeds, RNG state capture/restore and the compute-precision choice.

Everything random in a run draws from generators seeded here: Python, NumPy and torch (adapter init
and dropout). Data order uses its own NumPy generator keyed by (seed, epoch), so it never depends on
how much randomness something else consumed.
"""

from __future__ import annotations

import random
import time
from typing import Any

import numpy as np
import torch


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
    if name == "cuda" or (name == "auto" and torch.cuda.is_available()):
        return torch.device("cuda")
    return torch.device("cpu")


def _bf16_faster_on_cpu(n: int = 512, repeats: int = 3) -> bool:
    a32 = torch.randn(n, n, generator=torch.Generator().manual_seed(0))
    b32 = a32.clone()
    a16, b16 = a32.bfloat16(), b32.bfloat16()

    def best(x: torch.Tensor, y: torch.Tensor) -> float:
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            x @ y
            times.append(time.perf_counter() - t)
        return min(times)

    best(a32, b32), best(a16, b16)  # warm-up
    return best(a16, b16) < 0.8 * best(a32, b32)


def resolve_precision(precision: str, device: torch.device) -> str:
    """'auto' measures instead of guessing: bf16 where it is supported and faster, else fp32."""
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    # On some CPUs bf16 matmul is ~100x slower than fp32 (MEASUREMENTS.md): probe, don't assume.
    return "bf16" if _bf16_faster_on_cpu() else "fp32"

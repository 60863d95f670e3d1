"""Seeds and RNG state capture/restore.

Everything random in a run draws from generators seeded here: Python, NumPy and torch (adapter init
and dropout). Data order uses its own NumPy generator keyed by (seed, epoch), so it never depends on
how much randomness something else consumed.
"""

from __future__ import annotations

import os
import random
from typing import Any

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def set_deterministic(enabled: bool) -> None:
    """`train.deterministic`: deterministic kernels (cuBLAS with a fixed workspace, no cuDNN autotune).

    Call before the first CUDA op: cuBLAS reads CUBLAS_WORKSPACE_CONFIG when it initialises. An op with
    no deterministic kernel warns instead of failing the run (warn_only). False leaves torch as it is.
    """
    if not enabled:
        return
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False


def rng_state() -> dict[str, Any]:
    """Snapshot of every global generator, for a checkpoint."""
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": _numpy_state_as_tensor(np.random.get_state()),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what rng_state() captured."""
    random.setstate(state["python"])
    name, keys, pos, has_gauss, cached = state["numpy"]
    keys = keys.numpy() if isinstance(keys, torch.Tensor) else keys  # older checkpoints: an ndarray
    np.random.set_state((name, keys.astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _numpy_state_as_tensor(state: tuple) -> tuple:
    """NumPy's state with its key array as a tensor, so that `torch.load(weights_only=True)` reads
    the checkpoint (an ndarray would need unpickling arbitrary globals)."""
    name, keys, pos, has_gauss, cached = state
    return (name, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached))

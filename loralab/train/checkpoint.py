"""Resumable checkpoints: adapter weights, optimizer, scheduler, RNG states, data position, callbacks.

A checkpoint is written to a temporary directory and swapped into place, so a kill at any moment
leaves either the previous checkpoint or the new one, never a torn one.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from loralab.atomic import recover_dir, replace_dir
from loralab.train.determinism import rng_state, set_rng_state


def trainable_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The parameters that train (the adapters), by name, detached and contiguous."""
    return {n: p.detach().contiguous().clone() for n, p in model.named_parameters() if p.requires_grad}


def save_checkpoint(
    directory: Path,
    *,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    step: int,
    loop_state: dict[str, Any],
    callbacks: dict[str, Any],
) -> None:
    """Write everything needed to continue after `step` optimizer steps."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".checkpoint.", dir=directory.parent))
    try:
        save_file(trainable_state(model), str(tmp / "adapter.safetensors"))
        torch.save(
            {
                "step": step,
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "rng": rng_state(),
                "loop": loop_state,
                "callbacks": callbacks,
            },
            tmp / "state.pt",
        )
    except BaseException:  # a full disk: drop the half-written copy, the previous checkpoint stays
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    replace_dir(tmp, directory)


def has_checkpoint(directory: Path) -> bool:
    """Whether a complete checkpoint exists (recovering from a crash during the swap)."""
    recover_dir(directory)
    return (directory / "state.pt").is_file() and (directory / "adapter.safetensors").is_file()


def load_checkpoint(
    directory: Path, *, model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any
) -> dict[str, Any]:
    """Restore adapter, optimizer, scheduler and RNG; return the state (step, loop, callbacks)."""
    weights = load_file(str(directory / "adapter.safetensors"))
    params = dict(model.named_parameters())
    missing = set(weights) ^ {n for n, p in params.items() if p.requires_grad}
    if missing:
        raise RuntimeError(f"checkpoint does not match the model's adapters: {sorted(missing)[:3]}")
    with torch.no_grad():
        for name, tensor in weights.items():
            params[name].copy_(tensor)
    state = torch.load(directory / "state.pt", weights_only=True)  # never unpickle arbitrary code
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    set_rng_state(state["rng"])
    return state

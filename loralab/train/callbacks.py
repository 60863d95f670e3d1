"""Observers of the training loop. The loop calls every hook of every callback in order; a callback
never changes what the loop does except through the objects it is handed (AdaLoRA's rank masks).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class TrainState:
    """What the loop knows at a hook: counters, the last logged values and the live objects."""

    step: int  # optimizer steps completed
    max_steps: int
    epoch: int = 0
    tokens_seen: int = 0  # supervised tokens trained on
    examples_seen: int = 0
    wall_time: float = 0.0  # seconds of training so far, summed over resumes
    model: Any = None  # the PEFT model
    optimizer: Any = None
    logs: dict[str, Any] = field(default_factory=dict)


class Callback:
    """Base class: every hook is a no-op. Stateful callbacks also implement state_dict/load_state_dict,
    which the checkpoint saves and a resume restores."""

    def on_train_begin(self, state: TrainState) -> None:
        """Before the first step (also after a resume)."""

    def on_before_zero_grad(self, state: TrainState) -> None:
        """After optimizer.step() and before zero_grad(): gradients are still there (AdaLoRA's hook)."""

    def on_step_end(self, state: TrainState) -> None:
        """After an optimizer step; `state.logs` holds this step's loss, lr, grad norm, tokens."""

    def on_evaluate(self, state: TrainState, metrics: dict[str, Any]) -> None:
        """After an evaluation at `state.step`."""

    def on_checkpoint(self, state: TrainState) -> None:
        """After a checkpoint at `state.step` was written."""

    def on_train_end(self, state: TrainState) -> None:
        """After the last step."""

    def state_dict(self) -> dict[str, Any]:
        """Resumable state (JSON-able or torch-saveable)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what state_dict returned."""

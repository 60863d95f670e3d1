"""The training loop's callback protocol: `Callback` (hooks and resumable state) and `TrainState`.

The loop calls every hook of every callback in order; a callback never changes what the loop does
except through the objects it is handed (a dynamic strategy's rank masks). This module sits below
`strategies` and `train` and imports nothing of loralab, so that a strategy can hand the loop a
callback without importing the training package.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any


@dataclass
class LoopCounters:
    """The loop's progress, which a checkpoint saves and a resume restores as a whole."""

    step: int = 0  # optimizer steps completed
    epoch: int = 0
    tokens_seen: int = 0  # supervised tokens trained on
    examples_seen: int = 0
    wall_time: float = 0.0  # seconds of training so far, summed over resumes

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, saved: dict[str, Any]) -> LoopCounters:
        return cls(**saved)


@dataclass
class TrainState(LoopCounters):
    """What the loop knows at a hook: its counters, the last logged values and the live objects."""

    max_steps: int = 0
    model: Any = None  # the PEFT model
    optimizer: Any = None
    logs: dict[str, Any] = field(default_factory=dict)

    @property
    def counters(self) -> LoopCounters:
        """A copy of the resumable counters."""
        return LoopCounters(**{f.name: getattr(self, f.name) for f in fields(LoopCounters)})


class Callback:
    """Base class: every hook is a no-op. Stateful callbacks also implement state_dict/load_state_dict,
    which the checkpoint saves and a resume restores."""

    def on_train_begin(self, state: TrainState) -> None:
        """Before the first step (also after a resume)."""

    def on_before_zero_grad(self, state: TrainState) -> None:
        """After optimizer.step() and before zero_grad(): gradients are still there (dynamic strategies)."""

    def on_step_end(self, state: TrainState) -> None:
        """After an optimizer step; `state.logs` holds this step's loss, lr, grad norm, tokens."""

    def on_evaluate(self, state: TrainState, metrics: dict[str, Any]) -> None:
        """After an evaluation at `state.step`."""

    def on_checkpoint(self, state: TrainState) -> None:
        """After a checkpoint at `state.step` was written."""

    def on_train_end(self, state: TrainState) -> None:
        """After the last step."""

    @property
    def state_key(self) -> str:
        """Key of this callback's state in a checkpoint; unique among a run's callbacks (the loop
        refuses two callbacks with one key: give one of them another `state_key`)."""
        return type(self).__qualname__

    def state_dict(self) -> dict[str, Any]:
        """Resumable state (JSON-able or torch-saveable)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what state_dict returned."""

"""A line of `metrics.jsonl`, typed: one training step or one evaluation of a run.

Written by the training loop's `MetricsLogger` (train rows, and an eval row per evaluation) and by the
run's base evaluation (the eval row at step 0 with `base`); read by the store's index (live progress),
`loralab show` and the analysis (learning curves). Reading is tolerant: keys this schema does not name
(from older files, or test fakes) are kept, and a line that does not parse is skipped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class MetricsRow(BaseModel):
    """One train step (`type="train"`) or one evaluation (`type="eval"`); absent values are None."""

    model_config = ConfigDict(frozen=True, extra="allow")

    type: Literal["train", "eval"] = Field(description="A training step or an evaluation.")
    step: int = Field(ge=0, description="Optimizer steps done (0: before training).")
    # train rows (the loop's `TrainState.logs`)
    max_steps: int | None = Field(None, description="Optimizer steps the run will take in all.")
    epoch: int | float | None = Field(None, description="Epoch of the step's last micro-batch.")
    loss: float | None = Field(None, description="Mean NLL per supervised token of the step (nats).")
    lr: float | None = Field(None, description="Learning rate of the step.")
    grad_norm: float | None = Field(None, description="Gradient norm before clipping.")
    tokens: int | float | None = Field(None, description="Supervised tokens in the step.")
    padding: float | None = Field(None, description="Fraction of the step's positions that were padding.")
    step_s: float | None = Field(None, description="Wall time of the step (s).")
    tokens_per_s: float | None = Field(None, description="Supervised tokens per second of the step.")
    # eval rows (`EvalResult.summary()`)
    base: bool = Field(False, description="The base model's eval (adapters at identity), at step 0.")
    eval_loss: float | None = Field(None, description="Token-weighted mean NLL on the eval split (nats).")
    eval_ppl: float | None = Field(None, description="exp(eval_loss).")
    eval_tokens: int | None = Field(None, description="Supervised tokens evaluated.")
    eval_examples: int | None = Field(None, description="Examples evaluated.")
    eval_seconds: float | None = Field(None, description="Wall time of the eval (s).")
    eval_tokens_per_s: float | None = Field(None, description="Supervised tokens per second of the eval.")

    @classmethod
    def train(cls, logs: Mapping[str, Any], max_steps: int | None = None) -> MetricsRow:
        """The row of one logged training step (`TrainState.logs`)."""
        return cls(type="train", max_steps=max_steps, **logs)

    @classmethod
    def eval(cls, step: int, summary: Mapping[str, Any], base: bool = False) -> MetricsRow:
        """The row of one evaluation (`EvalResult.summary()`) at `step`."""
        return cls(type="eval", step=step, base=base, **summary)

    def to_json(self) -> dict[str, Any]:
        """The JSON line's object: set values only (None and a False `base` are left out, as before)."""
        row = self.model_dump(exclude_none=True)  # python mode: a NaN loss stays NaN, as json writes it
        if not self.base:
            row.pop("base")
        return row


def parse_metrics_row(data: Any) -> MetricsRow | None:
    """A metrics line as a row, or None if it is not one (a damaged or foreign line)."""
    if not isinstance(data, Mapping):
        return None
    try:
        return MetricsRow.model_validate(data)
    except ValidationError:
        return None


def parse_metrics_rows(lines: Iterable[Any]) -> list[MetricsRow]:
    """The lines of metrics.jsonl (decoded) that are rows, in order; the others are skipped."""
    return [row for row in map(parse_metrics_row, lines) if row is not None]

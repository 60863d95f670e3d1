"""The budget grammar: 'r8' (what uniform rank 8 costs), a parameter count, or a fraction of the model.

Pure and below every layer: `config` validates `lora.budget` with it at load time (no torch), and
`strategies.budget` resolves the parsed spec to parameters over a model's modules. One budget type.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from loralab.errors import ConfigError


class BudgetSpec(BaseModel):
    """A parsed budget: what uniform rank r costs, an absolute count, or a fraction of the model."""

    model_config = ConfigDict(frozen=True)
    kind: Literal["rank", "params", "fraction"]
    value: float

    def __str__(self) -> str:
        if self.kind == "rank":
            return f"r{int(self.value)}"
        if self.kind == "fraction":
            return f"{self.value * 100:g}%"
        return str(int(self.value))


def parse_budget(text: str) -> BudgetSpec:
    """Parse 'r8', '1500000' / '1.5e6' or '0.5%' into a BudgetSpec."""
    t = str(text).strip().lower()
    try:
        if t.startswith("r") and t[1:].isdigit() and int(t[1:]) > 0:
            return BudgetSpec(kind="rank", value=int(t[1:]))
        if t.endswith("%"):
            frac = float(t[:-1]) / 100
            if 0 < frac <= 1:
                return BudgetSpec(kind="fraction", value=frac)
        else:
            count = float(t)
            if count >= 1 and count == int(count):
                return BudgetSpec(kind="params", value=int(count))
    except ValueError:
        pass
    raise ConfigError(
        f"budget {text!r} is not understood; use 'r8' (uniform rank 8), a parameter count like '1500000',"
        " or a fraction of the model like '0.5%'"
    )

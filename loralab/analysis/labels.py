"""Labels and the natural order of cell values ('r4' before 'r16'): shared by the statistics, the
contrasts, the tables and the figures, below all of them."""

from __future__ import annotations

import re
from typing import Any


def natural_key(values: tuple | list) -> tuple:
    """Sort key that orders 'r4' before 'r16' and numbers by value (None last)."""
    out = []
    for v in values:
        if isinstance(v, int | float) and not isinstance(v, bool):
            out.append((0, float(v), ""))
        elif v is None:
            out.append((2, 0.0, ""))
        else:
            parts = re.split(r"(\d+(?:\.\d+)?)", str(v))
            out.append(
                (1, 0.0, tuple((0, float(x), "") if i % 2 else (1, 0.0, x) for i, x in enumerate(parts)))
            )
    return tuple(out)


def label_of(values: dict[str, Any]) -> str:
    """'budget=r8, lr=0.001' (or 'all' for an empty context)."""
    return ", ".join(f"{k.split('.')[-1]}={fmt_value(v)}" for k, v in values.items()) or "all"


def fmt_value(v: Any) -> str:
    """A field value for labels: floats in their shortest form (3e-04, not 0.00030000000000000003)."""
    return f"{v:g}" if isinstance(v, float) else str(v)

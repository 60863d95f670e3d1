"""The paper's numbers: every value the prose mentions, generated from the store, never typed.

A `Number` is one value with its key (`cell.uniform.budget-r8.loss`), where it came from, and its
printed forms. The draft refers to it as `{{num:KEY}}`; at build time the placeholder becomes the
LaTeX macro `\\LLCellUniformBudgetREightLoss` (defined in `numbers.tex`) or, in Markdown, the same
text. Editing prose therefore never desynchronises a number, and rebuilding after a new analysis
updates them all.

Rounding: losses, differences and intervals to `decimals` places (default 3); p-values to 3 places, or
"< 0.001" below that; percentages to `decimals` places of the percent; config values with Python's
`g` format (6 significant digits); integers exactly.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal

from loralab.errors import PaperError

# "prel" is a p-value with its relation, for prose: "= 0.168" or "< 0.001".
NumberKind = Literal["float", "int", "p", "prel", "percent", "g", "text"]
PLACEHOLDER = re.compile(r"\{\{num:([^{}\s]+)\}\}")
_DIGITS = ("Zero", "One", "Two", "Three", "Four", "Five", "Six", "Seven", "Eight", "Nine")
P_FLOOR = 0.001


@dataclass(frozen=True)
class Number:
    """One generated value: `key`, the value, how it is printed, and its source in the store."""

    key: str
    value: float | int | str
    kind: NumberKind
    source: str  # e.g. "stats.json: comparisons[2].p_adjusted"
    decimals: int = 3

    def text(self) -> str:
        """Plain-text form (Markdown)."""
        if self.kind == "text":
            return str(self.value)
        v = self.value
        if self.kind == "int":
            return str(int(v))
        if self.kind == "g":  # config values: as short as Python prints them (3e-4 -> 0.0003)
            return f"{float(v):g}"
        if self.kind == "percent":
            out = f"{100 * float(v):.{self.decimals}f}"
            return out.rstrip("0").rstrip(".") if "." in out else out  # 80, not 8
        if self.kind in ("p", "prel"):
            if float(v) < P_FLOOR:
                return f"< {P_FLOOR}"
            return ("= " if self.kind == "prel" else "") + f"{float(v):.3f}"
        if not math.isfinite(float(v)):
            return "n/a"
        out = f"{float(v):.{self.decimals}f}"
        return "0." + "0" * self.decimals if out == "-0." + "0" * self.decimals else out

    def latex(self) -> str:
        """LaTeX form (a proper minus sign, math-mode '<')."""
        from loralab.paper.escape import latex_escape

        t = self.text()
        if self.kind == "text":
            return latex_escape(t)
        if t.startswith("< "):
            return r"\ensuremath{<}\," + t[2:]
        if t.startswith("-"):
            return r"\ensuremath{-}" + t[1:]
        return t


def macro_name(key: str) -> str:
    """A LaTeX command name (letters only) for `key`: 'cell.r8.loss' -> 'LLCellREightLoss'."""
    words = re.split(r"[^A-Za-z0-9]+", key)
    parts = []
    for word in words:
        for chunk in re.findall(r"[A-Za-z]+|[0-9]", word):
            parts.append(_DIGITS[int(chunk)] if chunk.isdigit() else chunk[0].upper() + chunk[1:])
    return "LL" + "".join(parts)


def _letters(i: int) -> str:
    """0 -> 'A', 25 -> 'Z', 26 -> 'AA': a letters-only suffix."""
    out = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        out = chr(ord("A") + r) + out
    return out


class NumberTable:
    """All numbers of one paper, by key, with collision-free macro names."""

    def __init__(self, numbers: list[Number]):
        self._numbers: dict[str, Number] = {}
        for n in numbers:
            if n.key in self._numbers:
                raise PaperError(f"number key {n.key!r} is generated twice (a bug in the draft generator)")
            self._numbers[n.key] = n
        self._macros: dict[str, str] = {}
        taken: dict[str, str] = {}
        for key in sorted(self._numbers):
            name = macro_name(key)
            if name in taken:  # e.g. 'a-b' and 'a_b': disambiguate deterministically
                i = 0
                while f"{name}X{_letters(i)}" in taken:
                    i += 1
                name = f"{name}X{_letters(i)}"
            taken[name] = key
            self._macros[key] = name

    def __getitem__(self, key: str) -> Number:
        if key not in self._numbers:
            raise PaperError(
                f"the draft refers to {{{{num:{key}}}}}, which the study's stats.json does not provide;"
                " fix the key or rerun `loralab paper draft --force`"
            )
        return self._numbers[key]

    def __iter__(self):
        return iter(self._numbers[k] for k in sorted(self._numbers))

    def __len__(self) -> int:
        return len(self._numbers)

    def macro(self, key: str) -> str:
        """The LaTeX macro name (without backslash) of `key`."""
        self[key]
        return self._macros[key]

    def numbers_tex(self) -> str:
        """The `numbers.tex` file: one \\newcommand per number, sorted, with its source."""
        lines = [
            "% Generated by loralab from the study's analysis; do not edit (rerun `loralab paper build`)."
        ]
        for n in self:
            lines.append(f"% {n.key} <- {n.source}")
            lines.append(f"\\newcommand{{\\{self._macros[n.key]}}}{{{n.latex()}}}")
        return "\n".join(lines) + "\n"

    def resolve(self, text: str, target: Literal["markdown", "latex"]) -> str:
        """Replace every `{{num:KEY}}` in Markdown `text` with the value (Markdown) or its macro (LaTeX)."""
        from loralab.paper.escape import md_escape

        def sub(m: re.Match[str]) -> str:
            key = m.group(1)
            if target == "latex":
                return f"`\\{self.macro(key)}{{}}`{{=latex}}"
            return md_escape(self[key].text())

        return PLACEHOLDER.sub(sub, text)

"""Escaping user text (strategy names, study names, titles) for Markdown and LaTeX.

Everything the draft writes about a study passes through `md_escape`, so that pandoc reads it as
literal text; pandoc's LaTeX writer then escapes it for LaTeX. `latex_escape` is for the few strings
we write into LaTeX ourselves (numbers.tex).
"""

from __future__ import annotations

import re

# Characters that mean something to pandoc's Markdown reader inside a line (emphasis, code, links,
# math, sub/superscript, citations, table cells, entities, raw TeX). Pandoc accepts a backslash before
# any ASCII punctuation; we escape only these, so that names like `linear-decay` stay readable.
_MD_SPECIAL = set("\\`*_{}[]<>#$~^@|&")
# Runs of these become typographic dashes or ellipses ("--", "..."); escaped only inside a run.
_MD_RUNS = set("-.")

_LATEX = {
    "\\": r"\textbackslash{}",
    "{": r"\{",
    "}": r"\}",
    "$": r"\$",
    "&": r"\&",
    "#": r"\#",
    "%": r"\%",
    "_": r"\_",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "`": r"\textasciigrave{}",  # a backtick would start a ligature to an opening quote
}


def md_escape(text: str) -> str:
    """`text` as literal pandoc Markdown (inline): every special character backslash-escaped."""
    text = str(text)
    out = []
    for i, ch in enumerate(text):
        in_run = ch in _MD_RUNS and ch in (text[i - 1 : i], text[i + 1 : i + 2])
        if ch in _MD_SPECIAL or in_run:
            out.append("\\" + ch)
        elif ch in "\n\r\t":
            out.append(" ")
        else:
            out.append(ch)
    return "".join(out)


def md_code(text: str) -> str:
    """`text` as an inline code span (a fence longer than any backtick run inside; no escaping)."""
    text = " ".join(str(text).split())
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or longest else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def latex_escape(text: str) -> str:
    """`text` as literal LaTeX (text mode)."""
    text = str(text)
    # "--" would become a dash ligature: break each run with an empty group
    return "".join(
        "-{}" if ch == "-" and text[i + 1 : i + 2] == "-" else _LATEX.get(ch, ch) for i, ch in enumerate(text)
    )

"""Escaping user text (strategy names, study names, titles) for Markdown and LaTeX.

Everything the draft writes about a study passes through `md_escape`, so that pandoc reads it as
literal text; pandoc's LaTeX writer then escapes it for LaTeX. `latex_escape` is for the few strings
we write into LaTeX ourselves (numbers.tex).
"""

from __future__ import annotations

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


def latex_escape(text: str) -> str:
    """`text` as literal LaTeX (text mode)."""
    return "".join(_LATEX.get(ch, ch) for ch in str(text))

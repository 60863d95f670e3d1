"""Cross-references through pandoc with loralab's Lua filter, for LaTeX and Markdown."""

import pytest

from loralab.errors import PaperError
from loralab.paper.convert import cited_keys, to_latex, to_markdown

DOC = """---
title: T
---

# Intro {#sec:intro}

See @fig:loss, @tbl:main and @sec:deep [@sec:intro; @hu2022lora].

## Deep {#sec:deep}

![Loss.](figures/loss.pdf){#fig:loss}

| a | b |
|---|---|
| 1 | 2 |

: Main. {#tbl:main}
"""


def test_latex_gets_ref_and_labels():
    tex = to_latex(DOC)
    for ref in ("Figure~\\ref{fig:loss}", "Table~\\ref{tbl:main}", "Section~\\ref{sec:deep}"):
        assert ref in tex
    for label in ("fig:loss", "tbl:main", "sec:deep", "sec:intro"):
        assert f"\\label{{{label}}}" in tex
    assert "\\citep{hu2022lora}" in tex  # the real citation survives next to the cross-reference
    assert "@fig:" not in tex and "cite{fig:" not in tex and "citet{fig" not in tex


def test_markdown_gets_numbered_text():
    md = to_markdown(DOC)
    assert "[Figure 1](#fig:loss)" in md
    assert "[Table 1](#tbl:main)" in md
    assert "[Section 1.1](#sec:deep)" in md
    assert "[Section 1](#sec:intro)" in md
    assert "Figure 1: Loss." in md and "Table 1: Main." in md
    assert "@hu2022lora" in md


@pytest.mark.parametrize("ref", ["@fig:nope", "@tbl:nope", "@sec:nope", "[see @fig:nope]"])
def test_unresolved_reference_is_an_error(ref):
    with pytest.raises(PaperError, match=r"unresolved reference @(fig|tbl|sec):nope"):
        to_latex(DOC + f"\n{ref}\n")
    with pytest.raises(PaperError, match="unresolved reference"):
        to_markdown(DOC + f"\n{ref}\n")


def test_duplicate_label_is_an_error():
    with pytest.raises(PaperError, match="duplicate label 'sec:intro'"):
        to_latex(DOC + "\n# Again {#sec:intro}\n")


def test_cited_keys_excludes_crossrefs():
    assert cited_keys(DOC) == {"hu2022lora"}

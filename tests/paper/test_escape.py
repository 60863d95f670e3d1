import shutil
import subprocess

import pytest

from loralab.paper.convert import run_pandoc
from loralab.paper.escape import latex_escape, md_escape
from tests.paper.conftest import needs_latex

NASTY = r"a_b % c & d # e $ f {g} h ~ i ^ j \ k -- l ... m [@x] *n* `o` <p> |q| @sec:r"


def test_markdown_escape_round_trips_through_pandoc():
    plain = run_pandoc(md_escape(NASTY), ["-t", "plain", "--wrap=none"]).strip()
    assert plain == NASTY


@pytest.mark.latex
@needs_latex
def test_latex_escape_survives_pdflatex(tmp_path):
    doc = (
        "\\documentclass{article}\\usepackage[T1]{fontenc}\\usepackage{lmodern}\\usepackage{textcomp}"
        "\\pagestyle{empty}\\begin{document}\\noindent " + latex_escape(NASTY) + "\n\\end{document}\n"
    )
    (tmp_path / "t.tex").write_text(doc)
    subprocess.run(
        ["pdflatex", "-no-shell-escape", "-interaction=nonstopmode", "-halt-on-error", "t.tex"],
        cwd=tmp_path,
        capture_output=True,
        check=True,
    )
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (Debian poppler-utils) not installed")
    text = subprocess.run(["pdftotext", "t.pdf", "-"], cwd=tmp_path, capture_output=True, text=True).stdout
    assert " ".join(text.split()) == NASTY


@pytest.mark.parametrize("name", ["linear-decay", "mlp-heavy", "r8"])
def test_plain_names_stay_readable(name):
    assert md_escape(name) == name

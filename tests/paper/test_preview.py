"""Where TeX is missing, `loralab paper build` still writes a readable PDF: a Typst preview, labelled."""

import os
import shutil
import subprocess
import sys

import pytest

import loralab.paper.build as build
from loralab.paper import build_paper
from loralab.paper.preview import PREVIEW_NAME

pytest.importorskip("typst", reason="the preview needs the typst wheel: pip install 'loralab[paper]'")
PDFTOTEXT = shutil.which("pdftotext")
needs_poppler = pytest.mark.skipif(
    PDFTOTEXT is None, reason="pdftotext missing: apt-get install poppler-utils"
)


def _text(pdf) -> str:
    return subprocess.run([PDFTOTEXT, "-layout", str(pdf), "-"], capture_output=True, text=True).stdout


@needs_poppler
def test_without_tex_the_build_writes_a_labelled_preview_with_its_figures(study, monkeypatch):
    monkeypatch.setattr(build, "missing_latex", lambda: "latexmk, pdflatex, bibtex not found")
    out = build_paper(study)
    assert out.pdf is None and out.preview == study / "paper" / PREVIEW_NAME
    assert not (study / "paper" / "paper.pdf").exists()
    data = out.preview.read_bytes()
    assert data.startswith(b"%PDF")
    text = " ".join(_text(out.preview).split())
    assert "Preview typeset with Typst; the arXiv PDF needs LaTeX" in text and "apt-get install" in text
    assert "Where should the rank go?" in text and "References" in text  # title, citations resolved
    assert "Figure 1:" in text and "Figure 1: Figure 1" not in text  # captions numbered once
    if shutil.which("pdfimages"):  # the figure is in the PDF, not only its caption
        images = subprocess.run(["pdfimages", "-list", str(out.preview)], capture_output=True, text=True)
        assert " image " in images.stdout
    assert "preview" in out.summary() and "for the arXiv PDF install LaTeX" in out.summary()
    assert (study / "paper" / "arxiv.tar.gz").is_file()  # the bundle stays LaTeX


def test_no_pdf_requested_means_no_preview_and_no_stale_one(study):
    stale = study / "paper" / PREVIEW_NAME
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_bytes(b"%PDF-old")
    out = build_paper(study, pdf=False)
    assert out.preview is None and not stale.exists()


@needs_poppler
def test_paper_build_without_tex_exits_0_and_says_how_to_get_the_arxiv_pdf(study, tmp_path):
    bare = tmp_path / "bin"  # a PATH without latexmk, pdflatex and bibtex
    bare.mkdir()
    env = {**os.environ, "PYTHONPATH": os.getcwd(), "PATH": str(bare)}
    res = subprocess.run(
        [sys.executable, "-m", "loralab", "paper", "build", str(study)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    line = next(ln for ln in res.stdout.splitlines() if ln.startswith("pdf"))
    assert PREVIEW_NAME in line and "for the arXiv PDF install LaTeX" in line and "apt-get install" in line
    assert "Preview typeset with Typst" in _text(study / "paper" / PREVIEW_NAME)

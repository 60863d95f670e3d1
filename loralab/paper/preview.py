"""A readable PDF where TeX is missing: paper.md -> Typst (pandoc) -> `paper-preview.pdf` (typst).

The preview is for reading, not for arXiv: it is typeset by Typst (the `typst` wheel, no TeX), its
citations are formatted by pandoc's citeproc, and a line under the title says that it is a preview
and how to get the LaTeX PDF. The arXiv bundle stays LaTeX (paper.tex, built where LaTeX is).
"""

from __future__ import annotations

import importlib.util
from importlib.resources import as_file, files
from pathlib import Path

from loralab.errors import PaperError
from loralab.paper.convert import run_pandoc
from loralab.paper.latex import INSTALL_HINT
from loralab.store import atomic_write_bytes

PREVIEW_NAME = "paper-preview.pdf"
PREVIEW_LABEL = f"Preview typeset with Typst; the arXiv PDF needs LaTeX: {INSTALL_HINT}"


def missing_typst() -> str | None:
    """Why the preview cannot be typeset here, or None when it can."""
    if importlib.util.find_spec("typst") is None:
        return "typst is not installed; install it with `pip install 'loralab[paper]'`"
    return None


def to_typst(markdown: str, paper_dir: Path, bibliography: Path) -> str:
    """A standalone Typst document from resolved Markdown, labelled as a preview under its title."""
    with as_file(files("loralab.paper") / "resources" / "preview-header.typ") as header:
        return run_pandoc(
            markdown,
            [
                "-t",
                "typst",
                "-s",
                "--citeproc",
                f"--bibliography={bibliography}",
                f"--include-in-header={header}",
                "-M",
                "reference-section-title=References",
                "-M",
                f"subtitle={PREVIEW_LABEL}",
                "-V",
                "section-numbering=1.1",
            ],
            cwd=paper_dir,
        )


def build_preview(markdown: str, paper_dir: Path, bibliography: Path, *, source_date: int | None) -> Path:
    """Typeset `markdown` (figure paths relative to `paper_dir`) into `<paper_dir>/paper-preview.pdf`.

    `source_date` (Unix seconds) stands in for the clock, so the same inputs give the same PDF.
    """
    import typst

    source = to_typst(markdown, paper_dir, bibliography)
    try:
        pdf = typst.compile(source.encode(), root=str(paper_dir), timestamp=source_date)
    except typst.TypstError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise PaperError(f"typst could not typeset the preview: {first}") from None
    if not isinstance(pdf, bytes) or not pdf.startswith(b"%PDF"):
        raise PaperError("typst returned no PDF for the preview")
    path = paper_dir / PREVIEW_NAME
    atomic_write_bytes(path, pdf)
    return path

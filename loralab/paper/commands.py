"""What `loralab paper draft|build|check` do, so that cli.py only parses arguments.

Progress goes to stderr as plain lines (readable when piped); results go to stdout.
"""

from __future__ import annotations

import sys
from pathlib import Path

from loralab.paper.build import build_paper, draft_paper
from loralab.paper.bundle import check_bundle
from loralab.paper.draft import PLACEHOLDER_AUTHOR


def _progress(line: str) -> None:
    print(f"paper: {line}", file=sys.stderr, flush=True)


def draft_command(study_dir: Path, *, force: bool) -> str:
    """Write the draft; returns what to print."""
    path = draft_paper(study_dir, force=force, progress=_progress)
    return f"{path}\nedit it, then: loralab paper build {study_dir}"


def build_command(study_dir: Path, *, pdf: bool) -> str:
    """Build Markdown, LaTeX, PDF (where LaTeX is installed) and the arXiv bundle; returns the summary."""
    out = build_paper(study_dir, pdf=pdf, progress=_progress)
    lines = [out.summary()]
    if out.pdf is not None:
        lines.append(f"check the bundle as arXiv would: loralab paper check {out.bundle}")
    return "\n".join(lines)


def check_command(bundle: Path) -> str:
    """Compile a bundle with pdflatex alone in a clean directory; returns the verdict."""
    _progress(f"compiling {bundle} with pdflatex (no bibtex, no shell escape), twice")
    result = check_bundle(bundle)
    pages = f", {result.pages} pages" if result.pages is not None else ""
    boxes = (
        f", {result.overfull} overfull boxes over 10pt (worst {result.worst_overfull:.1f}pt)"
        if result.overfull
        else ", no overfull boxes over 10pt"
    )
    lines = [f"ok: {bundle} compiles ({result.toplevel}{pages}{boxes})"]
    if result.placeholder_author:
        lines.append(
            f"warning: the author is the placeholder {PLACEHOLDER_AUTHOR!r}; set paper.authors in the"
            " study file and rebuild"
        )
    return "\n".join(lines)

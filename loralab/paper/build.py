"""From a study directory to the paper: draft, resolved Markdown, LaTeX, PDF and arXiv bundle.

```
<root>/<study>/paper/
  draft.md         the editable draft (placeholders, never typed numbers)
  paper.md         the draft with numbers, claims and cross-references resolved
  paper.tex        LaTeX from pandoc with loralab's template and crossref filter
  numbers.tex      one macro per number (\\input by paper.tex)
  references.bib   the curated bibliography plus any other *.bib in paper/
  figures/         the analysis figures the paper includes (PDF; PNG for paper.md)
  paper.pdf        latexmk + bibtex, where LaTeX is installed
  paper-preview.pdf  where LaTeX is missing: a preview typeset with Typst (loralab.paper.preview)
  paper.bbl        the bibliography as LaTeX, for arXiv
  arxiv.tar.gz     the arXiv bundle (see loralab.paper.bundle)
  build/           LaTeX's auxiliary files
```
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from loralab.errors import PaperError
from loralab.paper.bib import check_citations, merged_bibliography
from loralab.paper.bundle import README_NAME, bundle_members, make_bundle
from loralab.paper.convert import cited_keys, to_latex, to_markdown
from loralab.paper.draft import (
    DRAFT_NAME,
    PLACEHOLDER_AUTHOR,
    draft_edited,
    placeholder_warning,
    write_draft,
)
from loralab.paper.facts import PaperFacts, collect_facts
from loralab.paper.inputs import StudyInputs, load_inputs
from loralab.paper.latex import INSTALL_HINT, build_pdf, missing_latex
from loralab.paper.preview import PREVIEW_NAME, build_preview, missing_typst
from loralab.paper.results import figure_slug
from loralab.store import atomic_write_text

Progress = Callable[[str], None]
GENERATED_BIB = "references.bib"


@dataclass(frozen=True)
class PaperOutputs:
    """What `write_paper`/`build_paper` wrote; `pdf` is None when skipped (`pdf_skipped` says why),
    and then `preview` is the Typst preview where it could be typeset (`preview_skipped`: why not)."""

    draft: Path
    markdown: Path
    tex: Path
    numbers: Path
    bib: Path
    bundle: Path
    pdf: Path | None
    pdf_skipped: str | None
    preview: Path | None = None
    preview_skipped: str | None = None

    def summary(self) -> str:
        """A few lines for the terminal."""
        lines = [f"draft     {self.draft}", f"markdown  {self.markdown}", f"latex     {self.tex}"]
        if self.pdf is not None:
            lines.append(f"pdf       {self.pdf}")
        elif self.preview is not None:
            lines.append(
                f"pdf       preview {self.preview} (Typst, not for arXiv); for the arXiv PDF {INSTALL_HINT}"
                " and build again"
            )
        else:
            no_preview = f"; no preview either: {self.preview_skipped}" if self.preview_skipped else ""
            lines.append(f"pdf       skipped: {self.pdf_skipped}{no_preview}")
        lines.append(f"arXiv     {self.bundle}")
        return "\n".join(lines)


def _quiet(_: str) -> None:
    pass


def draft_paper(study_dir: str | Path, *, force: bool = False, progress: Progress = _quiet) -> Path:
    """`loralab paper draft`: write `paper/draft.md` (an edited one only with `force`)."""
    inputs = load_inputs(study_dir)
    path = write_draft(inputs, collect_facts(inputs), force=force)
    progress(f"draft written: {path}")
    return path


def copy_figures(inputs: StudyInputs) -> dict[str, Path]:
    """Copy the analysis figures into paper/figures/ under safe names; returns slug -> PDF path."""
    out_dir = inputs.paper_dir / "figures"
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    copied = {}
    for name, rels in sorted(inputs.stats.artifacts.figures.items()):
        s = figure_slug(name)
        for rel in rels:
            ext = Path(rel).suffix.lower()
            if ext not in (".pdf", ".png"):
                continue
            src = inputs.artifact(rel)
            if not src.is_file():
                raise PaperError(
                    f"stats.json lists figure {rel}, but {src} does not exist; rerun `loralab analyze`"
                )
            shutil.copyfile(src, out_dir / f"{s}{ext}")
            if ext == ".pdf":
                copied[s] = out_dir / f"{s}.pdf"
    return copied


def _check_images(markdown: str, paper_dir: Path) -> None:
    for target in re.findall(r"!\[[^\]]*\]\(([^)\s]+)", markdown):
        if target.startswith(("/", "\\")) or ".." in Path(target).parts:
            raise PaperError(
                f"the draft includes {target}; figures must be relative paths inside {paper_dir}"
            )
        if not (paper_dir / target).is_file():
            raise PaperError(f"the draft includes {target}, which does not exist in {paper_dir}")


def _png_images(markdown: str, paper_dir: Path) -> str:
    """For paper.md: use each figure's PNG where the analysis wrote one."""

    def sub(m: re.Match[str]) -> str:
        png = m.group(2)[: -len(".pdf")] + ".png"
        return m.group(1) + (png if (paper_dir / png).is_file() else m.group(2))

    return re.sub(r"(!\[[^\]]*\]\()([^)\s]+\.pdf)", sub, markdown)


def resolve(draft: str, facts: PaperFacts, target: str) -> str:
    """The draft with claims and numbers filled in for `target` ('markdown' or 'latex')."""
    text = facts.resolve_claims(draft)
    text = facts.numbers.resolve(text, target)  # type: ignore[arg-type]
    left = re.search(r"\{\{[^{}]*\}\}", text)
    if left:
        raise PaperError(
            f"the draft has an unknown placeholder {left.group(0)} (use {{{{num:KEY}}}} or {{{{claim:KEY}}}})"
        )
    return text


def build_paper(
    study_dir: str | Path,
    *,
    pdf: bool = True,
    progress: Progress = _quiet,
) -> PaperOutputs:
    """`loralab paper build`: resolve the draft into Markdown and LaTeX, build the PDF where LaTeX is
    installed, and write the arXiv bundle. A missing or unedited draft is (re)generated first, so that
    it follows a new analysis; an edited one is used as it is."""
    inputs = load_inputs(study_dir)
    facts = collect_facts(inputs)
    paper_dir = inputs.paper_dir
    draft_path = paper_dir / DRAFT_NAME
    if draft_edited(inputs):
        progress(f"using the edited draft {draft_path}")
    else:
        write_draft(inputs, facts, force=True)
        progress(f"draft written: {draft_path}")
    draft = draft_path.read_text()
    warning = placeholder_warning(inputs)
    if warning and f"name: '{PLACEHOLDER_AUTHOR}'" in draft:
        progress(warning)

    copy_figures(inputs)
    _check_images(draft, paper_dir)
    md_source = resolve(draft, facts, "markdown")
    tex_source = resolve(draft, facts, "latex")

    user_bibs = sorted(p for p in paper_dir.glob("*.bib") if p.name != GENERATED_BIB)
    bib_text, entries = merged_bibliography(user_bibs)
    check_citations(cited_keys(tex_source), entries)
    bib = paper_dir / GENERATED_BIB
    atomic_write_text(bib, bib_text)
    numbers = paper_dir / "numbers.tex"
    atomic_write_text(numbers, facts.numbers.numbers_tex())

    progress("pandoc: draft.md -> paper.tex, paper.md")
    tex = paper_dir / "paper.tex"
    atomic_write_text(tex, to_latex(tex_source))
    markdown = paper_dir / "paper.md"
    atomic_write_text(markdown, to_markdown(_png_images(md_source, paper_dir)))

    pdf_path: Path | None = None
    skipped = None if pdf else "not requested (--no-pdf)"
    bbl = paper_dir / "paper.bbl"
    if pdf:
        skipped = missing_latex()
    if skipped is None:
        progress("latexmk: paper.tex -> paper.pdf (pdflatex + bibtex)")
        sources = sorted(n for n in bundle_members(paper_dir, need_bbl=False) if n != README_NAME)
        built = build_pdf(paper_dir, sources, source_date=inputs.evidence_time())
        pdf_path = paper_dir / "paper.pdf"
        shutil.copyfile(built, pdf_path)
        shutil.copyfile(built.with_suffix(".bbl"), bbl)
    else:
        bbl.unlink(missing_ok=True)  # a stale .bbl would not match this paper.tex
        (paper_dir / "paper.pdf").unlink(missing_ok=True)
    (paper_dir / PREVIEW_NAME).unlink(missing_ok=True)  # a stale preview would not match this paper
    preview: Path | None = None
    preview_skipped = None
    if pdf and skipped is not None:  # LaTeX is missing: a readable preview instead
        preview_skipped = missing_typst()
        if preview_skipped is None:
            progress(f"typst: paper.md -> {PREVIEW_NAME} (a preview; {skipped})")
            md_text = markdown.read_text()
            preview = build_preview(md_text, paper_dir, bib, source_date=inputs.evidence_time())
    bundle = make_bundle(paper_dir)
    progress(f"arXiv bundle: {bundle}")
    return PaperOutputs(
        draft_path, markdown, tex, numbers, bib, bundle, pdf_path, skipped, preview, preview_skipped
    )


def write_paper(
    study_dir: str | Path, *, force: bool = False, pdf: bool = True, progress: Progress = _quiet
) -> PaperOutputs:
    """Draft (unless an edited draft exists; `force` regenerates it) and build the whole paper.

    The one call the demo needs: study directory in, paths of draft.md, paper.md, paper.tex, the PDF
    (or None with the reason) and the arXiv bundle out.
    """
    if force:
        draft_paper(study_dir, force=True, progress=progress)
    return build_paper(study_dir, pdf=pdf, progress=progress)

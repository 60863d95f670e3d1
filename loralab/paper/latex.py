"""Running LaTeX: the PDF build (latexmk + bibtex) and the log checks shared with the bundle check.

LaTeX always runs without shell escape (`-no-shell-escape`) and stops at the first error.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from loralab.errors import PaperError

INSTALL_HINT = (
    "install LaTeX (Debian/Ubuntu: apt-get install latexmk texlive-latex-recommended"
    " texlive-latex-extra texlive-fonts-recommended lmodern)"
)
PDFLATEX_FLAGS = ("-no-shell-escape", "-interaction=nonstopmode", "-halt-on-error", "-file-line-error")


def missing_latex(tools: tuple[str, ...] = ("latexmk", "pdflatex", "bibtex")) -> str | None:
    """Why LaTeX cannot run here (the missing tools), or None when it can."""
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        return f"{', '.join(missing)} not found; {INSTALL_HINT}"
    return None


def log_problem(log: str) -> str | None:
    """The first error in a LaTeX log (an error, a missing file, an undefined reference or citation)."""
    for line in log.splitlines():
        m = re.match(r"^(?:\S+:\d+: |! )(.*)", line)
        if m:
            return m.group(1).strip()
    patterns = (
        r"LaTeX Warning: (Reference `[^']*' on page \d+ undefined)",
        r"LaTeX Warning: (Citation `[^']*' on page \d+ undefined)",
        r"(?:Package natbib Warning|LaTeX Warning): (Citation `[^']*' (?:on page \d+ )?undefined)",
        r"LaTeX Warning: (File `[^']*' not found)",
        r"^(No file \S+\.bbl)\.",
        r"LaTeX Warning: (There were undefined references)",
    )
    for pattern in patterns:
        m = re.search(pattern, log, flags=re.MULTILINE)
        if m:
            return m.group(1)
    return None


def page_count(log: str) -> int | None:
    """Pages of the PDF, from 'Output written on X.pdf (N pages'."""
    m = re.search(r"Output written on .*?\((\d+) pages?", log, flags=re.DOTALL)
    return int(m.group(1)) if m else None


def build_pdf(paper_dir: Path, tex_name: str = "paper.tex", timeout: float = 600) -> Path:
    """Compile `paper_dir/tex_name` with latexmk (pdflatex + bibtex) into `paper_dir/build/`."""
    out = paper_dir / "build"
    out.mkdir(exist_ok=True)
    pdflatex = "pdflatex " + " ".join(PDFLATEX_FLAGS) + " %O %S"
    cmd = ["latexmk", "-norc", "-pdf", "-bibtex", f"-pdflatex={pdflatex}", "-outdir=build", tex_name]
    try:
        res = subprocess.run(cmd, cwd=paper_dir, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise PaperError(f"latexmk took more than {timeout:.0f} s on {paper_dir / tex_name}") from None
    log_path = out / (Path(tex_name).stem + ".log")
    log = log_path.read_text(errors="replace") if log_path.exists() else ""
    problem = log_problem(log)
    if res.returncode != 0 or problem:
        why = problem or (res.stderr.strip().splitlines() or ["latexmk failed"])[-1]
        raise PaperError(f"LaTeX failed on {paper_dir / tex_name}: {why} (log: {log_path})")
    return out / (Path(tex_name).stem + ".pdf")

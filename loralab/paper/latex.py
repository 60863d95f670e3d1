"""Running LaTeX: the PDF build (latexmk + bibtex) and the log checks shared with the bundle check.

LaTeX always runs without shell escape (`-no-shell-escape`) and stops at the first error.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from loralab.errors import PaperError

INSTALL_HINT = (
    "install LaTeX (Debian/Ubuntu: apt-get install latexmk texlive-latex-recommended"
    " texlive-fonts-recommended lmodern)"
)
# TeX wraps its log at 79 columns, which would cut error messages (and file names) in half.
LOG_ENV = {"max_print_line": "10000"}
PDFLATEX_FLAGS = ("-no-shell-escape", "-interaction=nonstopmode", "-halt-on-error", "-file-line-error")


def reproducible_date(epoch: int | None) -> dict[str, str]:
    """pdfTeX's dates and PDF id from `epoch` instead of the clock (same inputs, same PDF bytes)."""
    if epoch is None:
        return {}
    return {"SOURCE_DATE_EPOCH": str(int(epoch)), "FORCE_SOURCE_DATE": "1"}


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


_OVERFULL = re.compile(r"^Overfull \\hbox \(([0-9.]+)pt too wide\)", re.MULTILINE)


def overfull_boxes(log: str, over: float = 10.0) -> tuple[int, float]:
    """How many overfull hboxes in a LaTeX log stick out more than `over` pt, and the worst width (pt)."""
    widths = [float(w) for w in _OVERFULL.findall(log)]
    return sum(w > over for w in widths), max(widths, default=0.0)


def page_count(log: str) -> int | None:
    """Pages of the PDF, from 'Output written on X.pdf (N pages'."""
    m = re.search(r"Output written on .*?\((\d+) pages?", log, flags=re.DOTALL)
    return int(m.group(1)) if m else None


def build_pdf(
    paper_dir: Path,
    files: list[str],
    tex_name: str = "paper.tex",
    timeout: float = 600,
    source_date: int | None = None,
) -> Path:
    """Compile `paper_dir/tex_name` with latexmk (pdflatex + bibtex); PDF, .bbl and log go to `build/`.

    LaTeX runs in a fresh temporary directory holding copies of `files` (relative to `paper_dir`):
    latexmk substitutes `%` patterns in paths, so a study directory named with `%`, `#` or `~` must
    never appear on its command line, and a stale aux file cannot leak into the build.
    """
    out = paper_dir / "build"
    out.mkdir(exist_ok=True)
    stem = Path(tex_name).stem
    pdflatex = "pdflatex " + " ".join(PDFLATEX_FLAGS) + " %O %S"
    cmd = ["latexmk", "-norc", "-pdf", "-bibtex", f"-pdflatex={pdflatex}", tex_name]
    with tempfile.TemporaryDirectory(prefix="loralab-latex-") as tmp:
        work = Path(tmp)
        for rel in files:
            (work / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(paper_dir / rel, work / rel)
        try:
            res = subprocess.run(
                cmd,
                cwd=work,
                capture_output=True,
                text=True,
                timeout=timeout,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **LOG_ENV, **reproducible_date(source_date)},
            )
        except subprocess.TimeoutExpired:
            raise PaperError(f"latexmk took more than {timeout:.0f} s on {paper_dir / tex_name}") from None
        for ext in (".log", ".pdf", ".bbl", ".blg"):
            if (work / (stem + ext)).exists():
                shutil.copyfile(work / (stem + ext), out / (stem + ext))
    log_path = out / (stem + ".log")
    log = log_path.read_text(errors="replace") if log_path.exists() else ""
    problem = log_problem(log)
    if res.returncode != 0 or problem:
        why = problem or (res.stderr.strip().splitlines() or ["latexmk failed"])[-1]
        raise PaperError(f"LaTeX failed on {paper_dir / tex_name}: {why} (log: {log_path})")
    return out / (stem + ".pdf")

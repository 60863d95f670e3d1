"""The arXiv bundle (`paper/arxiv.tar.gz`) and its check.

The bundle holds paper.tex, numbers.tex, the generated paper.bbl (or, without LaTeX here, the .bib),
the figures the paper includes (PDF) and arXiv's `00README.json`. Members are sorted, with fixed
mtimes, owners and modes, and gzip's own timestamp is 0, so the same inputs give the same bytes.

`check_bundle` unpacks a bundle into a fresh temporary directory, refusing any member that is not a
plain file or directory inside it (absolute paths, `..`, links, devices), and compiles it with
pdflatex alone — no bibtex, no shell escape — twice, as arXiv would. A LaTeX error, a missing file
or an undefined reference or citation fails the check with one line.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from loralab.errors import PaperError
from loralab.paper.draft import PLACEHOLDER_AUTHOR
from loralab.paper.latex import (
    LOG_ENV,
    PDFLATEX_FLAGS,
    log_problem,
    missing_latex,
    overfull_boxes,
    page_count,
)

README_NAME = "00README.json"
FIXED_MTIME = 315532800  # 1980-01-01: a fixed, zip-safe timestamp for every member
# kpathsea's paranoid mode: TeX may read and write only below the bundle's directory (and its own
# installation), so a bundle that leans on a file outside itself fails here as it would on arXiv.
PARANOID = {"openin_any": "p", "openout_any": "p", **LOG_ENV}


def readme_json(toplevel: str = "paper.tex") -> str:
    """arXiv's 00README.json: compile `toplevel` with pdflatex."""
    readme = {"process": {"compiler": "pdflatex"}, "sources": [{"filename": toplevel, "usage": "toplevel"}]}
    return json.dumps(readme, indent=2, sort_keys=True) + "\n"


def included_graphics(tex: str) -> list[str]:
    """Files named by \\includegraphics in `tex`, in order."""
    return re.findall(r"\\includegraphics(?:\[[^\]]*\])?\{([^}]*)\}", tex)


def bundle_members(
    paper_dir: Path, tex_name: str = "paper.tex", *, need_bbl: bool = True
) -> dict[str, bytes]:
    """Member name -> bytes of the bundle for the built paper in `paper_dir` (with `need_bbl=False`:
    the sources LaTeX needs to build it, .bib instead of .bbl)."""
    tex_path = paper_dir / tex_name
    tex = tex_path.read_text()
    members = {tex_name: tex.encode(), "numbers.tex": (paper_dir / "numbers.tex").read_bytes()}
    bbl = paper_dir / (Path(tex_name).stem + ".bbl")
    if bbl.exists() and need_bbl:
        members[bbl.name] = bbl.read_bytes()
    else:  # no LaTeX here: ship the .bib so that the bundle can still be completed elsewhere
        members["references.bib"] = (paper_dir / "references.bib").read_bytes()
    for name in included_graphics(tex):
        rel = PurePosixPath(name)
        if rel.is_absolute() or ".." in rel.parts:
            raise PaperError(f"{tex_path} includes {name}, a path outside the paper directory")
        src = paper_dir / rel
        if not src.is_file() or src.is_symlink():
            raise PaperError(f"{tex_path} includes {name}, which is not a file in {paper_dir}")
        members[str(rel)] = src.read_bytes()
    members[README_NAME] = readme_json(tex_name).encode()
    return members


def write_tarball(path: Path, members: dict[str, bytes]) -> Path:
    """A reproducible .tar.gz of `members` (sorted, fixed metadata, gzip mtime 0)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        dirs = sorted({str(p) for name in members for p in PurePosixPath(name).parents if str(p) != "."})
        for d in dirs:
            info = tarfile.TarInfo(d)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, FIXED_MTIME
            tar.addfile(info)
        for name in sorted(members):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(members[name]), 0o644, FIXED_MTIME
            tar.addfile(info, io.BytesIO(members[name]))
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0) as gz:
        gz.write(buf.getvalue())
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(out.getvalue())
    tmp.replace(path)
    return path


def make_bundle(paper_dir: Path, name: str = "arxiv.tar.gz") -> Path:
    """Write the arXiv bundle of the paper built in `paper_dir`."""
    return write_tarball(paper_dir / name, bundle_members(paper_dir))


def safe_extract(bundle: Path, dest: Path) -> list[str]:
    """Unpack `bundle` into `dest`, refusing unsafe members; returns the file names."""
    try:
        tar = tarfile.open(bundle, mode="r:*")  # noqa: SIM115  (closed by the `with` below)
    except (tarfile.TarError, OSError) as e:
        raise PaperError(f"{bundle} is not a readable tarball: {e}") from None
    names = []
    with tar:
        try:
            members = tar.getmembers()
        except (tarfile.TarError, OSError, EOFError) as e:
            raise PaperError(f"{bundle} is not a readable tarball: {e}") from None
        for m in members:
            p = PurePosixPath(m.name)
            if m.name.startswith(("/", "\\")) or p.is_absolute() or re.match(r"^[A-Za-z]:", m.name):
                raise PaperError(f"{bundle}: member {m.name!r} has an absolute path")
            if ".." in p.parts:
                raise PaperError(f"{bundle}: member {m.name!r} points outside the bundle ('..')")
            if m.issym() or m.islnk():
                raise PaperError(f"{bundle}: member {m.name!r} is a link; arXiv bundles hold plain files")
            if m.isdir():
                (dest / p).mkdir(parents=True, exist_ok=True)
                continue
            if not m.isfile():
                raise PaperError(f"{bundle}: member {m.name!r} is not a regular file")
            target = dest / p
            target.parent.mkdir(parents=True, exist_ok=True)
            f = tar.extractfile(m)
            target.write_bytes(f.read() if f else b"")
            names.append(str(p))
    return names


@dataclass(frozen=True)
class CheckResult:
    """A bundle that compiled: its top-level file and the PDF's page count."""

    toplevel: str
    pages: int | None
    overfull: int = 0  # overfull hboxes more than 10 pt wide
    worst_overfull: float = 0.0  # the widest overfull hbox, in pt
    placeholder_author: bool = False  # the author is still the placeholder 'Anonymous'


def _toplevel(dest: Path, names: list[str], bundle: Path) -> str:
    if README_NAME not in names:
        raise PaperError(f"{bundle} has no {README_NAME}")
    try:
        readme = json.loads((dest / README_NAME).read_text())
        tops = [s["filename"] for s in readme["sources"] if s.get("usage") == "toplevel"]
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise PaperError(f"{bundle}: {README_NAME} is not in arXiv's format ({e})") from None
    if len(tops) != 1 or tops[0] not in names:
        raise PaperError(f"{bundle}: {README_NAME} must name one top-level file present in the bundle")
    return tops[0]


def check_bundle(bundle: str | Path, timeout: float = 300) -> CheckResult:
    """Compile `bundle` as arXiv would (pdflatex only, twice); a PaperError says what fails."""
    bundle = Path(bundle)
    if not bundle.is_file():
        raise PaperError(f"bundle {bundle} does not exist")
    with tempfile.TemporaryDirectory(prefix="loralab-bundle-") as tmp:
        dest = Path(tmp)
        names = safe_extract(bundle, dest)
        top = _toplevel(dest, names, bundle)
        why = missing_latex(("pdflatex",))
        if why:
            raise PaperError(f"cannot compile {bundle}: {why}")
        log = ""
        for _ in range(2):
            try:
                subprocess.run(
                    ["pdflatex", *PDFLATEX_FLAGS, top],
                    cwd=dest,
                    capture_output=True,
                    text=True,
                    timeout=timeout,
                    stdin=subprocess.DEVNULL,
                    env={**os.environ, **PARANOID},
                )
            except subprocess.TimeoutExpired:
                raise PaperError(f"{bundle}: pdflatex took more than {timeout:.0f} s") from None
            log_file = dest / (Path(top).stem + ".log")
            log = log_file.read_text(errors="replace") if log_file.exists() else ""
            problem = log_problem(log)
            if problem and not problem.startswith(("Reference", "Citation", "There were undefined")):
                raise PaperError(f"{bundle} does not compile: {problem}")
        problem = log_problem(log)
        if problem:
            raise PaperError(f"{bundle} does not compile cleanly: {problem}")
        if not (dest / (Path(top).stem + ".pdf")).exists():
            raise PaperError(f"{bundle}: pdflatex wrote no PDF")
        over, worst = overfull_boxes(log)
        tex = (dest / top).read_text(errors="replace")
        placeholder = f"\\author{{{PLACEHOLDER_AUTHOR}}}" in tex
        return CheckResult(top, page_count(log), over, worst, placeholder)

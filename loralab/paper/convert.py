"""Markdown -> LaTeX and Markdown -> resolved Markdown with pandoc (the `pypandoc-binary` wheel),
our LaTeX template and our cross-reference filter (`resources/crossref.lua`).
"""

from __future__ import annotations

import json
import subprocess
from importlib.resources import as_file, files
from pathlib import Path
from typing import Any

from loralab.errors import PaperError

CROSSREF_PREFIXES = ("fig:", "tbl:", "sec:")
READER = "markdown"  # pandoc's Markdown: pipe tables, raw `...`{=latex}, implicit figures, citations


def pandoc_path() -> str:
    """The pandoc binary shipped by pypandoc-binary (or on PATH), or a PaperError saying how to get it."""
    try:
        import pypandoc

        return pypandoc.get_pandoc_path()
    except (ImportError, OSError) as e:
        raise PaperError(
            f"pandoc is not available ({e}); install it with `pip install 'loralab[paper]'`"
        ) from None


def run_pandoc(text: str, args: list[str], *, cwd: Path | None = None) -> str:
    """Run pandoc on Markdown `text` with `args`; its first error line becomes a PaperError."""
    res = subprocess.run(
        [pandoc_path(), "-f", READER, "--columns=1000", *args],
        input=text,
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )
    if res.returncode != 0:
        lines = [ln.strip() for ln in res.stderr.splitlines() if ln.strip()]
        msg = next((ln for ln in lines if "loralab crossref" in ln), lines[0] if lines else "unknown error")
        if "loralab crossref:" in msg:
            msg = msg[msg.index("loralab crossref:") + len("loralab crossref: ") :]
        raise PaperError(f"pandoc failed: {msg}")
    return res.stdout


def _resource(name: str) -> Any:
    return files("loralab.paper") / "resources" / name


def _walk(node: Any, found: set[str]) -> None:
    if isinstance(node, dict):
        if node.get("t") == "Cite":
            for citation in node["c"][0]:
                found.add(citation["citationId"])
        for v in node.values():
            _walk(v, found)
    elif isinstance(node, list):
        for v in node:
            _walk(v, found)


def cited_keys(markdown: str) -> set[str]:
    """Bibliography keys cited in `markdown` (cross-references like @fig:x excluded)."""
    ast = json.loads(run_pandoc(markdown, ["-t", "json"]))
    found: set[str] = set()
    _walk(ast, found)
    return {k for k in found if not k.startswith(CROSSREF_PREFIXES)}


def to_latex(markdown: str) -> str:
    """A standalone LaTeX paper from Markdown (natbib citations, our template, our crossref filter)."""
    with (
        as_file(_resource("paper.latex")) as template,
        as_file(_resource("crossref.lua")) as lua,
        as_file(_resource("alt.lua")) as alt,
    ):
        return run_pandoc(
            markdown,
            [
                "-t",
                "latex",
                "-s",
                "--natbib",
                f"--template={template}",
                f"--lua-filter={lua}",
                f"--lua-filter={alt}",
                "--wrap=preserve",
            ],
        )


def to_markdown(markdown: str) -> str:
    """Markdown with cross-references resolved to numbered text ("Figure 1") and captions numbered."""
    with as_file(_resource("crossref.lua")) as lua, as_file(_resource("alt.lua")) as alt:
        filters = [f"--lua-filter={lua}", f"--lua-filter={alt}"]
        return run_pandoc(markdown, ["-t", "markdown", "-s", *filters, "--wrap=preserve"])

"""The bibliography: loralab's curated `references.bib`, a user's own `.bib` merged in, and checks.

A small BibTeX reader (entries, keys, fields; braces and quotes balanced) is enough to check what
we ship and what users add: unique keys, the fields each entry type needs, and that every citation in
the draft has an entry — before LaTeX runs, so an unknown key is a one-line error, not a "?" in a PDF.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path

from loralab.errors import PaperError

REQUIRED: dict[str, tuple[str, ...]] = {
    "article": ("author", "title", "journal", "year"),
    "inproceedings": ("author", "title", "booktitle", "year"),
    "incollection": ("author", "title", "booktitle", "publisher", "year"),
    "book": ("title", "publisher", "year"),
    "misc": ("author", "title", "year"),
    "techreport": ("author", "title", "institution", "year"),
    "phdthesis": ("author", "title", "school", "year"),
    "mastersthesis": ("author", "title", "school", "year"),
    "online": ("author", "title", "year"),
}
_SKIP = {"comment", "string", "preamble"}
_HEAD = re.compile(r"@\s*([A-Za-z]+)\s*([{(])")


@dataclass(frozen=True)
class BibEntry:
    """One BibTeX entry: type, key, fields (lower-case names) and its source text."""

    type: str
    key: str
    fields: dict[str, str] = field(hash=False)
    text: str
    source: str


def _matching(text: str, start: int, open_ch: str) -> int:
    """Index just past the bracket that closes the one at `start`."""
    braces = 0  # {} nesting inside a ( ) entry
    depth = 0
    i = start
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if open_ch == "{":
            depth += ch == "{"
            depth -= ch == "}"
        else:
            braces += (ch == "{") - (ch == "}")
            if braces == 0:
                depth += ch == "("
                depth -= ch == ")"
        if depth == 0:
            return i + 1
        i += 1
    raise PaperError("unbalanced braces")


def _fields(body: str, where: str) -> dict[str, str]:
    out: dict[str, str] = {}
    i = 0
    while i < len(body):
        m = re.compile(r"\s*,?\s*([A-Za-z][\w\-:.]*)\s*=\s*").match(body, i)
        if not m:
            if body[i:].strip(" \t\r\n,"):
                raise PaperError(f"{where}: cannot read the field text {body[i : i + 30]!r}")
            break
        name, i = m.group(1).lower(), m.end()
        if i < len(body) and body[i] == "{":
            end = _matching(body, i, "{")
            value = body[i + 1 : end - 1]
        elif i < len(body) and body[i] == '"':
            end = body.index('"', i + 1)
            value, end = body[i + 1 : end], end + 1
        else:
            m2 = re.compile(r"[^,\s}]+").match(body, i)
            if not m2:
                raise PaperError(f"{where}: field {name!r} has no value")
            value, end = m2.group(0), m2.end()
        if name in out:
            raise PaperError(f"{where}: field {name!r} appears twice")
        out[name] = value.strip()
        i = end
    return out


def parse_bib(text: str, source: str = "<bib>") -> list[BibEntry]:
    """Entries of a BibTeX file, in order (@comment/@string/@preamble and %-comment lines skipped)."""
    text = "\n".join("" if line.lstrip().startswith("%") else line for line in text.splitlines())
    entries = []
    pos = 0
    while True:
        m = _HEAD.search(text, pos)
        if not m:
            break
        kind = m.group(1).lower()
        try:
            end = _matching(text, m.end() - 1, m.group(2))
        except PaperError:
            line = text.count("\n", 0, m.start()) + 1
            raise PaperError(f"{source}:{line}: entry has unbalanced braces") from None
        pos = end
        if kind in _SKIP:
            continue
        body = text[m.end() : end - 1]
        line = text.count("\n", 0, m.start()) + 1
        key, _, rest = body.partition(",")
        key = key.strip()
        if not key or not re.fullmatch(r"[^\s,{}()\"#%'=\\]+", key):
            raise PaperError(f"{source}:{line}: entry has an invalid key {key!r}")
        entries.append(
            BibEntry(kind, key, _fields(rest, f"{source}:{line} ({key})"), text[m.start() : end], source)
        )
    return entries


def check_entries(entries: list[BibEntry]) -> None:
    """Unique keys (case-insensitively, as BibTeX compares them) and each type's required fields."""
    seen: dict[str, BibEntry] = {}
    for e in entries:
        low = e.key.lower()
        if low in seen:
            raise PaperError(
                f"bibliography key {e.key!r} is defined twice ({seen[low].source} and {e.source})"
            )
        seen[low] = e
        required = REQUIRED.get(e.type)
        if required is None:
            raise PaperError(f"{e.source}: entry {e.key!r} has type @{e.type}, which loralab does not check")
        missing = [f for f in required if not e.fields.get(f)]
        if e.type == "book" and not (e.fields.get("author") or e.fields.get("editor")):
            missing.insert(0, "author or editor")
        if missing:
            raise PaperError(f"{e.source}: @{e.type}{{{e.key}}} lacks {', '.join(missing)}")
        if not re.fullmatch(r"\d{4}", e.fields["year"]):
            raise PaperError(f"{e.source}: @{e.type}{{{e.key}}} has year {e.fields['year']!r}, not 4 digits")


def curated_bib_text() -> str:
    """loralab's curated references.bib."""
    return (files("loralab.paper") / "resources" / "references.bib").read_text()


def merged_bibliography(user_bibs: list[Path]) -> tuple[str, list[BibEntry]]:
    """The curated entries plus the users' (a user entry replaces a curated one with the same key)."""
    curated = parse_bib(curated_bib_text(), "loralab references.bib")
    check_entries(curated)
    user: list[BibEntry] = []
    for path in user_bibs:
        if not path.is_file():
            raise PaperError(f"bibliography {path} does not exist")
        user += parse_bib(path.read_text(), str(path))
    check_entries(user)
    replaced = {e.key.lower() for e in user}
    entries = [e for e in curated if e.key.lower() not in replaced] + user
    text = "\n\n".join(e.text.strip() for e in entries) + "\n"
    return text, entries


def check_citations(cited: set[str], entries: list[BibEntry]) -> None:
    """Every cited key has an entry, or a PaperError naming the unknown ones."""
    known = {e.key for e in entries}
    unknown = sorted(cited - known)
    if unknown:
        raise PaperError(
            f"unknown citation key{'s' if len(unknown) > 1 else ''} {', '.join('@' + k for k in unknown)};"
            " add the entry to a .bib file passed with --bib (or fix the key)"
        )

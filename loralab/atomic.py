"""Files that are never seen half-written: atomic replace for whole files and directories, and
append-only JSON-lines logs read tolerantly. Used by the store and by training's checkpoints.

A whole file is written to a temporary name in the same directory and renamed into place, so a
reader never sees half a file and a killed writer leaves the previous version intact; a log line is
one write, and a torn last line (a writer killed mid-line) is skipped by the readers.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

TAIL_BYTES = 16384  # how much of a log's end `last_jsonl` reads


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Every complete JSON object line of an append-only log, oldest first; [] if there is none.

    A torn last line (a writer killed mid-line) and anything that is not an object are skipped.
    """
    try:
        text = path.read_bytes().decode(errors="replace")  # a damaged line is skipped, not fatal
    except FileNotFoundError:
        return []
    return [row for row in map(_json_or_none, text.splitlines()) if isinstance(row, dict)]


def last_jsonl(path: Path) -> dict[str, Any]:
    """The last complete JSON object line of a log (reading only its tail), or {}."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - TAIL_BYTES))
            tail = f.read().decode(errors="replace")
    except FileNotFoundError:
        return {}
    for row in map(_json_or_none, reversed(tail.splitlines())):  # the first line may be cut: skipped
        if isinstance(row, dict):
            return row
    return {}


def append_jsonl(path: Path, row: dict[str, Any], *, sync: bool = False) -> None:
    """Append one JSON line with one write (O_APPEND: lines of concurrent writers never interleave)."""
    with open(path, "a") as f:
        f.write(json.dumps(row, sort_keys=True, default=str) + "\n")
        f.flush()
        if sync:
            os.fsync(f.fileno())


def _json_or_none(line: str) -> Any:
    try:
        return json.loads(line)
    except json.JSONDecodeError:
        return None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _readable(fd_or_path: int | str) -> None:
    """mkstemp creates 0600 files; results are ordinary files (0644 minus the umask)."""
    os.chmod(fd_or_path, 0o644 & ~_UMASK)


_UMASK = _umask()  # read once: os.umask is process-wide and not thread-safe to query


def atomic_write_text(path: Path, text: str) -> None:
    """Write `text` to `path` via a temp file and rename, fsynced."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        _readable(fd)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` via a temp file and rename, fsynced."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        _readable(fd)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, obj: Any) -> None:
    """Write JSON atomically (sorted keys for stable diffs)."""
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def atomic_write_parquet(path: Path, frame: Any) -> None:
    """Write a pandas DataFrame as parquet via a temp file and rename."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        frame.to_parquet(tmp, index=False)
        _readable(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def replace_dir(tmp_dir: Path, final: Path) -> None:
    """Move a fully written directory into place, replacing an old one without a window of neither."""
    old = final.with_name(f".{final.name}.old")
    os.chmod(tmp_dir, 0o755 & ~_UMASK)  # mkdtemp made it 0700
    if old.exists():
        shutil.rmtree(old)
    if final.exists():
        os.replace(final, old)
    os.replace(tmp_dir, final)
    if old.exists():
        shutil.rmtree(old)


def recover_dir(final: Path) -> None:
    """After a crash inside `replace_dir`, put the old directory back if the new one never landed."""
    old = final.with_name(f".{final.name}.old")
    if old.exists() and not final.exists():
        os.replace(old, final)
    elif old.exists():
        shutil.rmtree(old)

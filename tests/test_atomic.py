"""atomic_write_bytes: the whole new content or the old one, never a torn file or a leftover temp."""

from pathlib import Path

import pytest

from loralab import atomic


def test_atomic_write_bytes_replaces_whole_and_leaves_no_temp(tmp_path: Path):
    path = tmp_path / "sub" / "paper.pdf"
    atomic.atomic_write_bytes(path, b"%PDF-1")
    atomic.atomic_write_bytes(path, b"%PDF-2 longer")
    assert path.read_bytes() == b"%PDF-2 longer"
    assert path.stat().st_mode & 0o777 == 0o644 & ~atomic._UMASK
    assert [p.name for p in path.parent.iterdir()] == ["paper.pdf"]


def test_a_failed_write_keeps_the_old_content(tmp_path: Path):
    path = tmp_path / "paper.pdf"
    atomic.atomic_write_bytes(path, b"old")
    with pytest.raises(TypeError):
        atomic.atomic_write_bytes(path, "not bytes")  # type: ignore[arg-type]
    assert path.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["paper.pdf"]

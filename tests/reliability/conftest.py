"""Helpers of the reliability suite: the real CLI in-process, store snapshots, a private cache dir."""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import TINY_RUN


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Fingerprint digests cached under tmp_path, not in the user's cache."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def error_line(self) -> str:
        lines = [line for line in self.err.splitlines() if line.startswith("error: ")]
        return lines[-1] if lines else ""


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    """Call `loralab ARGS` through its console entry point (`loralab.cli:main`), in this process."""
    from loralab.cli import main

    def call(*args: str) -> Result:
        monkeypatch.setattr(sys, "argv", ["loralab", *map(str, args)])
        try:
            main()
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        out, err = capsys.readouterr()
        return Result(code, out, err)

    return call


def snapshot(root: Path) -> dict[str, str]:
    """Every file and directory under `root` with a digest of its bytes (symlinks by their target)."""
    if not root.exists():
        return {}
    found = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        if p.is_symlink():
            found[rel] = f"-> {p.readlink()}"
        elif p.is_dir():
            found[rel] = "dir"
        else:
            found[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return found


def tiny(store: Path, *extra: str) -> list[str]:
    """Overrides of a seconds-long run stored under `store`."""
    return [*TINY_RUN, f"output.root={store}", *extra]


def write_alpaca(path: Path, n: int = 40, salt: str = "") -> Path:
    """An Alpaca-format JSON file of `n` short records."""
    import json

    rows = [{"instruction": f"Repeat {i}{salt}", "input": "", "output": f"{i} {salt}"} for i in range(n)]
    path.write_text(json.dumps(rows))
    return path


def tiny_tree(root: str) -> dict:
    """The tiny run's overrides as a config tree (a study's `base`), storing under `root`."""
    import yaml

    tree: dict = {}
    for item in tiny(Path(root)):
        key, value = item.split("=", 1)
        node = tree
        for part in key.split(".")[:-1]:
            node = node.setdefault(part, {})
        node[key.split(".")[-1]] = yaml.safe_load(value)
    return tree

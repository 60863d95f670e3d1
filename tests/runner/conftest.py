"""Fixtures for study tests: study files on a tmp_path store, with a fake or a tiny real model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

HERE = Path(__file__).parent
PLUGIN = HERE / "strategy_plugin.py"

# A real run that takes about a second of compute on one thread (tiny-gpt2, synthetic tasks).
TINY_BASE: dict[str, Any] = {
    "model": {"name": "tiny-gpt2"},
    "data": {"source": "synthetic", "synthetic_size": 200},
    "train": {"max_steps": 4, "threads": 1},
    "tracking": {"progress": False},
}


def write_study(path: Path, root: Path, **study: Any) -> Path:
    """Write a study YAML whose store is `root`; `base` and `grid` merge over small defaults."""
    base = {"data": {"source": "synthetic"}, "train": {"max_steps": 3}} | study.pop("base", {})
    base["output"] = {"root": str(root)}
    tree = {"name": study.pop("name", "s"), "base": base, "grid": study.pop("grid", {}), **study}
    path.write_text(yaml.safe_dump(tree, sort_keys=False))
    return path


@pytest.fixture
def study_file(tmp_path: Path):
    """Factory: study_file(**fields) -> path of a study YAML storing under tmp_path/'runs'."""

    def make(name: str = "s", **fields: Any) -> Path:
        return write_study(tmp_path / f"{name}.yaml", tmp_path / "runs", name=name, **fields)

    return make

"""Shared fixtures: a tiny, fast run config and a way to call the real CLI in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TINY_RUN = [
    "model.name=tiny-gpt2",
    "data.source=synthetic",
    "data.synthetic_size=160",
    "data.val_set_size=24",
    "data.cutoff_len=96",
    "train.batch_size=4",
    "train.eval_batch_size=8",
    "train.max_steps=6",
    "train.lr=3e-3",
    "train.checkpoint_every=3",
    "train.threads=1",
    "tracking.progress=false",
]


@pytest.fixture
def tiny_overrides(tmp_path: Path) -> list[str]:
    """key=value overrides for a run that takes seconds, storing under tmp_path."""
    return [*TINY_RUN, f"output.root={tmp_path / 'store'}"]


def cli_env() -> dict[str, str]:
    """Environment for CLI subprocesses: quiet, one thread, never waiting on the hub."""
    return {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run `python -m loralab ARGS` and capture its output."""
    env = cli_env()
    return subprocess.run(
        [sys.executable, "-m", "loralab", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env=env,
    )

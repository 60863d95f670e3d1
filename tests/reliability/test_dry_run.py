"""`loralab run --dry-run` through the real CLI (a subprocess): the same checks as `run` before its
claim, the run id `loralab config` prints, and nothing written."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import run_cli
from tests.reliability.conftest import snapshot, tiny


def test_dry_run_prints_the_run_id_and_writes_nothing(tmp_path: Path) -> None:
    store = tmp_path / "store"
    work = tmp_path / "work"
    work.mkdir()
    args = tiny(store)
    dry = run_cli("run", *args, "--dry-run", cwd=work)
    assert dry.returncode == 0, dry.stderr
    config = run_cli("config", *args, cwd=work)
    assert config.returncode == 0, config.stderr
    run_id = re.match(r"# run id (\w+)", config.stdout).group(1)
    assert f"run id {run_id} " in dry.stdout
    assert "model tiny-gpt2, data synthetic, strategy" in dry.stdout
    assert not store.exists()
    assert snapshot(work) == {}


def test_dry_run_bad_input_is_one_line_and_exit_2(tmp_path: Path) -> None:
    store = tmp_path / "store"
    dry = run_cli("run", *tiny(store), "lora.strategy=no-such-strategy", "--dry-run", cwd=tmp_path)
    assert dry.returncode == 2
    lines = dry.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), dry.stderr
    assert "Traceback" not in dry.stderr
    assert not store.exists()

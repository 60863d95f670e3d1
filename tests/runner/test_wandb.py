"""Optional W&B tracking of a study's runs, offline (no network, no account)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from loralab.runner.executors import LocalExecutor
from loralab.runner.scheduler import plan_runs, run_study
from loralab.runner.study import load_study
from loralab.store import Store

from .conftest import TINY_BASE, write_study

pytest.importorskip("wandb", reason="wandb is not installed (pip install 'loralab[wandb]')")


@pytest.mark.slow
def test_a_study_logs_each_run_to_wandb_offline_grouped_by_study(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    base = TINY_BASE | {"tracking": {"wandb": True, "project": "loralab-tests", "progress": False}}
    path = write_study(
        tmp_path / "s.yaml", tmp_path / "runs", name="wandbstudy", base=base, grid={"seeds": [0, 1]}
    )
    runs = plan_runs(load_study(path))
    assert {(c.tracking.project, c.tracking.group) for c in runs} == {("loralab-tests", "wandbstudy")}
    report = run_study(load_study(path), LocalExecutor(2, gpus=[]), console=Console(file=io.StringIO()))
    assert report.exit_code == 0, report.outcomes
    for cfg in runs:
        rd = Store(cfg.output.root).run_dir("wandbstudy", cfg.run_id())
        [offline] = (rd.path / "wandb").glob(f"offline-run-*-wandbstudy-{cfg.run_id()}")
        [log] = offline.glob("*.wandb")
        record = log.read_bytes()
        assert b"wandbstudy" in record and b"loralab-tests" in record  # group and project
        # and the metrics themselves: training steps and evaluations (keys of the logged history)
        assert b"train/loss" in record and b"train/grad_norm" in record and b"eval/eval_loss" in record

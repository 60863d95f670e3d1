from __future__ import annotations

import io
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
from rich.console import Console

from loralab.errors import ConfigError, StrategyError
from loralab.runner.claims import Claim
from loralab.runner.executors import LocalExecutor
from loralab.runner.scheduler import plan_runs, run_study
from loralab.runner.study import load_study
from loralab.store import Store

from .fakes import fake_run


def run(path: Path, workers: int = 2, **kwargs):
    out = io.StringIO()
    console = Console(file=out, width=200)
    report = run_study(
        load_study(path), LocalExecutor(workers, gpus=[]), run_fn=fake_run, console=console, **kwargs
    )
    return report, out.getvalue()


def test_a_study_runs_everything_then_nothing(study_file):
    path = study_file(grid={"budgets": ["r4", "r8"], "seeds": [0, 1]})
    report, text = run(path)
    assert report.exit_code == 0 and len(report.executed) == 4
    assert "[4/4] done" in text and "4 runs: 4 ran, 0 already done, 0 failed" in report.summary()
    again, _ = run(path)
    assert again.outcomes == {} and again.already_done == 4 and again.exit_code == 0
    for cfg in plan_runs(load_study(path)):
        rd = Store(cfg.output.root).run_dir("s", cfg.run_id())
        assert [e["event"] for e in rd.read_executions()] == ["start", "finish"]
        assert rd.read_status()["attempts"] == 1
    index = pd.read_parquet(report.index)
    assert len(index) == 4 and set(index.state) == {"done"}
    assert {"run_id", "strategy", "budget", "seed", "steps", "eval_loss", "wall_time", "train.lr"} <= set(
        index
    )


def test_a_failing_run_is_recorded_and_the_others_finish(study_file):
    path = study_file(grid={"seeds": [0, 1, 2], "lora.strategy_options.fail": [None, 2]})
    report, text = run(path)
    assert report.exit_code == 1 and len(report.failed) == 3 and len(report.executed) == 3
    assert "RuntimeError: fake failure at step 2" in text
    again, _ = run(path)  # failed runs are kept unless retried
    assert again.outcomes == {} and len(again.kept_failed) == 3 and again.exit_code == 1
    assert "--retry-failed reruns them" in again.summary()
    retried, _ = run(path, retry_failed=True)
    assert {o.state for o in retried.outcomes.values()} == {"failed"} and len(retried.outcomes) == 3


def test_an_interrupted_run_resumes_from_its_checkpoint(study_file):
    path = study_file(
        grid={"seeds": [0], "lora.strategy_options.die_once": [3]}, base={"train": {"max_steps": 5}}
    )
    first, _ = run(path, workers=1)
    assert first.exit_code == 1 and "worker process died" in next(iter(first.outcomes.values())).detail
    second, _ = run(path, workers=1)
    assert second.exit_code == 0 and len(second.executed) == 1
    [cfg] = plan_runs(load_study(path))
    rd = Store(cfg.output.root).run_dir("s", cfg.run_id())
    starts = [e for e in rd.read_executions() if e["event"] == "start"]
    assert [s["state_before"] for s in starts] == ["pending", "running"]
    assert "is gone" in starts[1]["takeover"]
    assert [m["step"] for m in rd.read_metrics()] == [1, 2, 3, 4, 5]
    assert len({m["pid"] for m in rd.read_metrics()}) == 2  # steps 1-3 first attempt, 4-5 the resume


def test_a_run_held_elsewhere_is_waited_for_not_run_twice(study_file):
    path = study_file(grid={"seeds": [0, 1]})
    cfg = plan_runs(load_study(path))[0]
    rd = Store(cfg.output.root).run_dir("s", cfg.run_id())
    held = Claim(rd.path, settle=0)
    assert held.try_acquire()
    threading.Timer(3.0, held.release).start()
    t0 = time.monotonic()
    report, _ = run(path, wait_poll=0.2)
    assert time.monotonic() - t0 > 3.0
    assert report.exit_code == 0 and len(report.executed) == 2


def test_user_errors_raise_before_anything_runs(study_file, tmp_path):
    with pytest.raises(ConfigError, match="is not a config field"):
        run(study_file(grid={"train.lrr": [1]}))
    with pytest.raises(StrategyError, match="unknown strategy 'unifrom'; did you mean 'uniform'"):
        run(study_file(grid={"strategies": ["uniform", "unifrom"]}))
    assert not (tmp_path / "runs").exists()

"""`loralab study` / `loralab status` end to end on tiny real runs (tiny-gpt2, synthetic tasks)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from loralab.runner.claims import _pid_alive, read_claim
from loralab.runner.scheduler import plan_runs
from loralab.runner.study import load_study
from loralab.store import RunDir, Store

from .conftest import PLUGIN, TINY_BASE, write_study

LORALAB = str(Path(sys.executable).parent / "loralab")
# 2 strategies x 2 seeds, long enough (16 steps, checkpoint every 4) to be killed in the middle.
GRID = {"strategies": ["uniform", "test_attn_double"], "seeds": [0, 1]}
BASE = TINY_BASE | {"train": {"max_steps": 16, "checkpoint_every": 4, "threads": 1}}


def loralab(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([LORALAB, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)


def study_args(path: Path, *extra: str) -> list[str]:
    return ["study", str(path), "--strategy-file", str(PLUGIN), *extra]


def run_dirs(path: Path) -> list[RunDir]:
    return [Store(c.output.root).run_dir(c.output.study, c.run_id()) for c in plan_runs(load_study(path))]


FINAL_KEYS = (
    "eval_loss",
    "eval_ppl",
    "final_train_loss",
    "train_steps",
    "train_supervised_tokens",
    "trainable_params",
)


def final_metrics(rd: RunDir) -> tuple[dict, list]:
    """The run's final metrics (eval.json without timings) and every logged (step, train loss)."""
    final = rd.read_json(rd.eval)
    curve = [(m["step"], m["loss"]) for m in rd.read_metrics() if m.get("type") == "train"]
    return {k: final[k] for k in FINAL_KEYS}, curve


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """An uninterrupted 2x2 study run with --workers 2 (the test of that, and the reference)."""
    tmp = tmp_path_factory.mktemp("reference")
    path = write_study(tmp / "study.yaml", tmp / "runs", name="ab", base=BASE, grid=GRID)
    proc = loralab(*study_args(path, "--workers", "2"), cwd=tmp)
    assert proc.returncode == 0, proc.stderr
    assert "4 runs: 4 ran, 0 already done, 0 failed" in proc.stderr
    return path


@pytest.mark.slow
def test_a_study_completes_with_two_workers_and_a_rerun_does_nothing(reference: Path):
    rds = run_dirs(reference)
    assert all(rd.state == "done" for rd in rds)
    proc = loralab(*study_args(reference, "--workers", "2"), cwd=reference.parent, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "4 runs, 4 done, 0 to run" in proc.stderr and "0 ran, 4 already done" in proc.stderr
    for rd in rds:
        assert [e["event"] for e in rd.read_executions()] == ["start", "finish"]
        assert rd.read_status()["attempts"] == 1


@pytest.mark.slow
def test_status_shows_the_runs_and_rebuilds_the_index(reference: Path):
    proc = loralab("status", str(reference), cwd=reference.parent, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count(" done ") == 4 and "test_attn_double" in proc.stdout and "4 done" in proc.stdout
    by_name = loralab("status", "ab", "--root", "runs", cwd=reference.parent, timeout=120)
    assert by_name.returncode == 0 and by_name.stdout.count(" done ") == 4
    index = pd.read_parquet(reference.parent / "runs" / "ab" / "index.parquet")
    assert sorted(index.strategy) == ["test_attn_double"] * 2 + ["uniform"] * 2
    assert index.eval_loss.notna().all() and (index.steps == 16).all() and (index.wall_time > 0).all()
    # every final metric is there for the analysis, equal to the run's eval.json
    assert (index["eval.eval_loss"] == index.eval_loss).all()
    assert (index["eval.budget_status"] == "PASS").all()
    assert (index["eval.trainable_params"] <= index["eval.budget_params"]).all()


@pytest.mark.slow
def test_a_killed_study_resumes_to_the_same_metrics_as_an_uninterrupted_one(reference: Path, tmp_path: Path):
    path = write_study(tmp_path / "study.yaml", tmp_path / "runs", name="ab", base=BASE, grid=GRID)
    rds = run_dirs(path)
    proc = subprocess.Popen(
        [LORALAB, *study_args(path, "--workers", "2")],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        steps = [m["step"] for rd in rds for m in rd.read_metrics() if m.get("type") == "train"]
        if steps and max(steps) >= 6:  # past the checkpoint at step 4, before the end at 16
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the study finished before it could be killed"
    workers = [c.pid for c in (read_claim(rd.path) for rd in rds) if c is not None]
    assert workers
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 10
    while any(_pid_alive(p) for p in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_pid_alive(p) for p in workers), "workers outlived the killed study"
    assert any(rd.state == "running" and rd.checkpoint.exists() for rd in rds)

    again = loralab(*study_args(path, "--workers", "2"), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    resumed = [rd for rd in rds if len([e for e in rd.read_executions() if e["event"] == "start"]) == 2]
    assert resumed and all("is gone" in rd.read_executions()[-2]["takeover"] for rd in resumed)
    for rd, ref in zip(rds, run_dirs(reference), strict=True):
        assert rd.state == "done"
        assert final_metrics(rd) == final_metrics(ref)  # bit-identical, resumed or not


@pytest.mark.slow
def test_two_concurrent_studies_on_one_store_execute_each_run_once(tmp_path: Path):
    path = write_study(tmp_path / "study.yaml", tmp_path / "runs", name="ab", base=TINY_BASE, grid=GRID)
    cmd = [LORALAB, *study_args(path, "--workers", "1")]
    procs = [subprocess.Popen(cmd, cwd=tmp_path, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    for rd in run_dirs(path):
        events = rd.read_executions()
        assert [e["event"] for e in events] == ["start", "finish"], events
        assert rd.state == "done" and rd.read_status()["attempts"] == 1
    ran = [int(o.split(" ran,")[0].rsplit(" ", 1)[1]) for o in outs]
    assert sum(ran) == 4 and all(r >= 1 for r in ran), outs  # both did work, neither twice


def test_a_study_file_mistake_exits_2_with_one_line_before_running(tmp_path: Path):
    path = write_study(tmp_path / "study.yaml", tmp_path / "runs", grid={"train.lrr": [1e-4]})
    proc = loralab("study", str(path), cwd=tmp_path, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: grid field 'train.lrr' is not a config field: train has no 'lrr'; did you mean 'train.lr'?"
        " fields there: " + ", ".join(json.loads(_train_fields()))
    ]
    assert not (tmp_path / "runs").exists()


def _train_fields() -> str:
    from loralab.config import TrainConfig

    return json.dumps(list(TrainConfig.model_fields))


@pytest.mark.slow
def test_a_failing_run_fails_the_study_with_exit_1_and_the_rest_finish(tmp_path: Path):
    # A budget of one parameter cannot hold any rank: that run fails, the other one finishes.
    path = write_study(
        tmp_path / "study.yaml", tmp_path / "runs", base=TINY_BASE, grid={"budgets": ["r4", "1"]}
    )
    proc = loralab("study", str(path), "--workers", "2", cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert "1 ran, 0 already done, 1 failed" in proc.stderr
    assert sorted(rd.state for rd in run_dirs(path)) == ["done", "failed"]


def _default_sigint() -> None:
    """Ctrl-C as a terminal delivers it: a test run in the background (`cmd &`) inherits SIGINT ignored,
    and Python then never raises KeyboardInterrupt, so the child would not be interrupted."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.slow
def test_ctrl_c_stops_the_workers_and_exits_130(tmp_path: Path):
    path = write_study(tmp_path / "study.yaml", tmp_path / "runs", base=BASE, grid={"seeds": [0]})
    [rd] = run_dirs(path)
    proc = subprocess.Popen(
        [LORALAB, "study", str(path)],
        cwd=tmp_path,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=_default_sigint,
    )
    deadline = time.monotonic() + 120
    while read_claim(rd.path) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    worker = read_claim(rd.path).pid
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "the same command resumes the study" in err
    assert not _pid_alive(worker)

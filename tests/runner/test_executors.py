from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from loralab.config import build_config
from loralab.errors import LoralabError
from loralab.runner.commands import make_executor
from loralab.runner.executors import LocalExecutor, available_cpus
from loralab.runner.worker import RunJob, Task
from loralab.store import Store

from .fakes import fake_loss, fake_run


def tasks(root: Path, n: int, **options) -> list[Task]:
    out = []
    for seed in range(n):
        cfg = build_config(
            {
                "train": {"seed": seed, "max_steps": 3},
                "lora": {"strategy_options": options},
                "output": {"root": str(root), "study": "ex"},
            }
        )
        out.append(Task(cfg.model_dump(mode="json"), cfg.run_id(), uuid.uuid4().hex))
    return out


def test_local_executor_runs_every_task_once_over_its_workers(tmp_path: Path):
    ts = tasks(tmp_path, 4, sleep=0.2)
    outcomes = list(LocalExecutor(2, gpus=[]).run(RunJob(run_fn=fake_run), ts))
    assert sorted(o.run_id for o in outcomes) == sorted(t.run_id for t in ts)
    assert {o.state for o in outcomes} == {"done"}
    store = Store(tmp_path)
    pids = {json.loads((store.run_dir("ex", t.run_id).path / "env.json").read_text())["pid"] for t in ts}
    assert len(pids) == 2  # two worker processes shared the four runs
    for seed, t in enumerate(ts):
        rd = store.run_dir("ex", t.run_id)
        assert rd.state == "done" and rd.read_json(rd.eval)["eval_loss"] == fake_loss(seed, 3)
        assert [e["event"] for e in rd.read_executions()] == ["start", "finish"]
        assert not (rd.path / "claim.json").exists()


def test_workers_get_their_share_of_threads_and_one_gpu_each(tmp_path: Path):
    ts = tasks(tmp_path, 4, sleep=0.2)
    ex = LocalExecutor(2, gpus=["3", "5"])
    assert all(o.state == "done" for o in ex.run(RunJob(run_fn=fake_run), ts))
    envs = [json.loads((Store(tmp_path).run_dir("ex", t.run_id).path / "env.json").read_text()) for t in ts]
    threads = max(1, available_cpus() // 2)
    assert {e["torch_threads"] for e in envs} == {threads}
    assert {e["OMP_NUM_THREADS"] for e in envs} == {str(threads)}
    assert {e["CUDA_VISIBLE_DEVICES"] for e in envs} == {"3", "5"}
    by_pid = {e["pid"]: e["CUDA_VISIBLE_DEVICES"] for e in envs}
    assert len(by_pid) == 2 and len(set(by_pid.values())) == 2  # one GPU per worker process


def test_a_run_s_threads_setting_wins_over_the_worker_share(tmp_path: Path):
    cfg = build_config(
        {"train": {"threads": 1, "max_steps": 2}, "output": {"root": str(tmp_path), "study": "ex"}}
    )
    t = Task(cfg.model_dump(mode="json"), cfg.run_id(), "tok")
    [o] = LocalExecutor(1, gpus=[]).run(RunJob(run_fn=fake_run), [t])
    env = json.loads((Store(tmp_path).run_dir("ex", t.run_id).path / "env.json").read_text())
    assert o.state == "done" and env["torch_threads"] == 1


def test_a_dead_worker_fails_its_run_and_the_others_still_run(tmp_path: Path):
    dying = tasks(tmp_path, 1, die=2)
    ok = tasks(tmp_path, 3)
    outcomes = {o.run_id: o for o in LocalExecutor(1, gpus=[]).run(RunJob(run_fn=fake_run), dying + ok)}
    assert outcomes[dying[0].run_id].state == "failed"
    assert "worker process died (exit code 3)" in outcomes[dying[0].run_id].detail
    assert all(outcomes[t.run_id].state == "done" for t in ok)
    rd = Store(tmp_path).run_dir("ex", dying[0].run_id)
    assert rd.state == "running"  # interrupted, not failed: the next study resumes it


def test_run_errors_are_outcomes_with_the_error_line(tmp_path: Path):
    [t] = tasks(tmp_path, 1, fail=2)
    [o] = LocalExecutor(1, gpus=[]).run(RunJob(run_fn=fake_run), [t])
    assert o.state == "failed" and o.detail == "RuntimeError: fake failure at step 2"
    rd = Store(tmp_path).run_dir("ex", t.run_id)
    assert rd.state == "failed"
    assert [e["event"] for e in rd.read_executions()] == ["start", "failed"]


def test_executors_speak_their_own_terms_and_the_cli_helper_names_its_flags():
    with pytest.raises(LoralabError, match=r"a local executor needs at least 1 worker \(got 0\)"):
        LocalExecutor(0)
    with pytest.raises(LoralabError, match="--workers must be at least 1"):
        make_executor("local", workers=0)
    with pytest.raises(LoralabError, match="--cpus-per-run must be > 0"):
        make_executor("ray", cpus_per_run=0)


LEAK_SCRIPT = """
import sys
from pathlib import Path
from loralab.runner.executors import LocalExecutor
from loralab.runner.worker import RunJob
from tests.runner.fakes import semaphore_run
from tests.runner.test_executors import tasks

[outcome] = LocalExecutor(1, gpus=[]).run(RunJob(run_fn=semaphore_run), tasks(Path(sys.argv[1]), 1))
print(outcome.state)
"""


def test_workers_exit_by_themselves_and_leave_no_leaked_semaphore(tmp_path: Path):
    """At the end of a study the workers take their Stop and exit cleanly before any SIGTERM: a worker
    terminated while it exits leaves its semaphores to the resource tracker, which then warns
    "There appear to be 1 leaked semaphore objects to clean up at shutdown" (the end of `loralab demo`)."""
    import os
    import subprocess
    import sys

    root = Path(__file__).parents[2]
    env = {**os.environ, "PYTHONPATH": f"{root}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    res = subprocess.run(
        [sys.executable, "-c", LEAK_SCRIPT, str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=root,
        env=env,
        timeout=120,
    )
    assert res.returncode == 0 and res.stdout.strip() == "done", res.stderr
    assert "leaked semaphore" not in res.stderr and "resource_tracker" not in res.stderr, res.stderr


def test_workers_that_die_before_any_task_fail_the_tasks_instead_of_hanging(tmp_path: Path):
    from .fakes import DiesOnArrival

    ts = tasks(tmp_path, 3)
    job = RunJob(run_fn=DiesOnArrival())  # type: ignore[arg-type]
    outcomes = list(LocalExecutor(2, gpus=[]).run(job, ts))
    assert sorted(o.run_id for o in outcomes) == sorted(t.run_id for t in ts)
    assert {o.state for o in outcomes} == {"failed"}
    assert all("exited (exit codes 3, 3) before starting it" in o.detail for o in outcomes)


def test_the_parent_makes_no_semaphore_for_the_resource_tracker_to_clean_up(tmp_path: Path, monkeypatch):
    """The study process talks to its workers over pipes: no queue semaphores, no feeder threads. A
    queue freed by its feeder thread while the interpreter shut down once left an unlinked semaphore
    registered, and the resource tracker warned of a leak (CI, stop 33)."""
    from multiprocessing import synchronize

    def refuse(*args, **kwargs):
        raise AssertionError("the parent created a multiprocessing semaphore")

    monkeypatch.setattr(synchronize.SemLock, "__init__", refuse)
    ts = tasks(tmp_path, 2)
    assert {o.state for o in LocalExecutor(2, gpus=[]).run(RunJob(run_fn=fake_run), ts)} == {"done"}

"""The Ray executor: an in-process local Ray, and a real two-node cluster started with `ray start`."""

from __future__ import annotations

import io
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from loralab.runner.executors import RayExecutor
from loralab.runner.scheduler import plan_runs, run_study
from loralab.runner.study import load_study
from loralab.store import Store

from . import fakes
from .conftest import PLUGIN, TINY_BASE, write_study

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'loralab[ray]')")


pytestmark = [pytest.mark.ray, pytest.mark.slow]
RAY = str(Path(sys.executable).parent / "ray")
LORALAB = str(Path(sys.executable).parent / "loralab")


@pytest.fixture(autouse=True)
def fakes_by_value():
    """Ray workers cannot import the tests package: ship the fake run function by value."""
    ray.cloudpickle.register_pickle_by_value(fakes)
    yield
    ray.cloudpickle.unregister_pickle_by_value(fakes)


def run(path: Path, executor: RayExecutor):
    return run_study(
        load_study(path), executor, run_fn=fakes.fake_run, console=Console(file=io.StringIO(), width=200)
    )


def test_a_local_ray_runs_a_study_once(study_file):
    path = study_file(grid={"budgets": ["r4", "r8"], "seeds": [0, 1]})
    report = run(path, RayExecutor(num_cpus=2))
    assert report.exit_code == 0 and len(report.executed) == 4
    assert not ray.is_initialized()  # the executor shut down the Ray it started
    again = run(path, RayExecutor(num_cpus=2))
    assert again.outcomes == {} and again.already_done == 4


def test_a_task_lost_with_its_worker_is_retried_and_resumes(study_file):
    path = study_file(
        grid={"seeds": [0], "lora.strategy_options.die_once": [3]}, base={"train": {"max_steps": 5}}
    )
    report = run(path, RayExecutor(num_cpus=1, max_retries=2))
    assert report.exit_code == 0 and len(report.executed) == 1
    [cfg] = plan_runs(load_study(path))
    rd = Store(cfg.output.root).run_dir("s", cfg.run_id())
    starts = [e for e in rd.read_executions() if e["event"] == "start"]
    assert len(starts) == 2 and starts[0]["token"] == starts[1]["token"]
    assert starts[1]["takeover"] == "it is an earlier attempt of the same task"
    assert [m["step"] for m in rd.read_metrics()] == [1, 2, 3, 4, 5]
    assert len({m["pid"] for m in rd.read_metrics()}) == 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def ray_cluster(monkeypatch):
    """A head and a worker node on 127.0.0.1 (one CPU each), stopped at the end."""
    # Ray 2.5x turns token auth on for `ray start --head` when ~/.ray/auth_token exists (a local
    # ray.init() creates one) but not for the nodes and drivers that join: say it once for all.
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    port = _free_port()
    common = ["--node-ip-address", "127.0.0.1", "--num-cpus", "1", "--disable-usage-stats"]
    head = [RAY, "start", "--head", "--port", str(port), "--include-dashboard", "false"]
    head += common
    worker = [RAY, "start", "--address", f"127.0.0.1:{port}", *common]
    try:
        for cmd in (head, worker):
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
            assert proc.returncode == 0, proc.stdout + proc.stderr
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([RAY, "stop", "--force"], capture_output=True, timeout=120)


def test_a_study_runs_on_a_two_node_ray_cluster(ray_cluster: str, tmp_path: Path):
    grid = {"strategies": ["uniform", "test_attn_double"], "seeds": [0, 1]}
    path = write_study(tmp_path / "study.yaml", tmp_path / "runs", name="ray", base=TINY_BASE, grid=grid)
    cmd = [LORALAB, "study", str(path), "--executor", "ray", "--address", ray_cluster]
    proc = subprocess.run(
        [*cmd, "--strategy-file", str(PLUGIN)], cwd=tmp_path, capture_output=True, text=True, timeout=400
    )
    assert proc.returncode == 0, proc.stderr
    assert "4 runs: 4 ran" in proc.stderr and f"cluster at {ray_cluster}" in proc.stderr
    owners = set()
    for cfg in plan_runs(load_study(path)):
        rd = Store(cfg.output.root).run_dir("ray", cfg.run_id())
        events = rd.read_executions()
        assert rd.state == "done" and [e["event"] for e in events] == ["start", "finish"]
        owners.add(events[0]["owner"].split(":")[1])
    assert len(owners) >= 2  # the runs spread over more than one worker process

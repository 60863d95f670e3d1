"""Adaptive studies: seeds are added in looks only where a comparison is unresolved, and a study
interrupted between its runs and its decision resumes at that look without running anything twice."""

from __future__ import annotations

import io
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.console import Console

from loralab.adaptive import read_looks, run_adaptive
from loralab.analysis.load import load_study_dir
from loralab.analysis.schema import Settings
from loralab.analysis.study_stats import study_stats
from loralab.atomic import read_jsonl
from loralab.runner.executors import LocalExecutor
from loralab.runner.study import load_study
from loralab.store import Store

from .runner.conftest import TINY_BASE, write_study
from .runner.fakes import verdict_run

LORALAB = str(Path(sys.executable).parent / "loralab")
OPTIONS = {
    "uniform": {"spread": 1e-5},
    "linear-decay": {"spread": 1e-5},  # tiny seed spread: equivalent at the pilot
    "attention-heavy": {"spread": 0.05},  # large: unresolved, gets more seeds
}


def _study(tmp_path: Path) -> Path:
    return write_study(
        tmp_path / "a.yaml",
        tmp_path / "runs",
        name="a",
        grid={"strategies": list(OPTIONS)},
        strategy_options=OPTIONS,
        adaptive={"looks": [2, 3]},
    )


def _run(path: Path) -> tuple[int, str]:
    out = io.StringIO()
    code = run_adaptive(
        load_study(path), LocalExecutor(2, gpus=[]), run_fn=verdict_run, console=Console(file=out, width=200)
    )
    return code, out.getvalue()


def _seeds(directory: Path) -> dict[str, list[int]]:
    runs = load_study_dir(directory).done
    return {s: sorted(int(x) for x in g["seed"]) for s, g in runs.groupby("strategy")}


def _executions(directory: Path) -> int:
    return sum(len(rd.read_executions()) for rd in Store(directory.parent).runs(directory.name))


def test_seeds_go_only_where_unresolved_and_a_rerun_runs_nothing(tmp_path):
    path = _study(tmp_path)
    code, text = _run(path)
    directory = tmp_path / "runs" / "a"
    assert code == 0, text
    assert _seeds(directory) == {"attention-heavy": [0, 1, 2], "linear-decay": [0, 1], "uniform": [0, 1, 2]}
    looks = read_looks(directory)
    assert [lk.seeds for lk in looks] == [2, 3]
    assert looks[0].next == ["attention-heavy", "uniform"] and looks[1].next == []
    assert looks[0].verdicts["linear-decay vs uniform | all"] == "equivalent"
    assert looks[0].interval_confidence == 1 - 0.05 / (2 * 2)  # 2 comparisons x 2 looks
    # the final analysis knows the design: intervals at 1 - alpha/(m K)
    stats = study_stats(load_study_dir(directory), Settings(n_resamples=100))
    assert stats.settings.looks == 2
    assert all(abs(c.difference_ci.confidence - 0.9875) < 1e-12 for c in stats.comparisons)
    before = _executions(directory)
    code, text = _run(path)
    assert code == 0 and "(recorded)" in text and _executions(directory) == before


def test_interrupted_before_its_decision_the_look_is_decided_again_without_runs(tmp_path):
    path = _study(tmp_path)
    assert _run(path)[0] == 0
    directory = tmp_path / "runs" / "a"
    rows = read_jsonl(directory / "looks.jsonl")
    (directory / "looks.jsonl").write_text("")  # killed after the pilot's runs, before its record
    before = _executions(directory)
    code, text = _run(path)
    assert code == 0, text
    assert _executions(directory) == before  # every run was done: nothing ran twice
    assert [lk.model_dump(exclude={"finished_at"}) for lk in read_looks(directory)] == [
        {k: v for k, v in row.items() if k != "finished_at"} for row in rows
    ]


@pytest.mark.slow
def test_loralab_study_killed_in_a_look_resumes_at_that_look_and_runs_nothing_twice(tmp_path):
    base = TINY_BASE | {"train": {"max_steps": 16, "checkpoint_every": 4, "threads": 1}}
    path = write_study(
        tmp_path / "a.yaml",
        tmp_path / "runs",
        name="a",
        base=base,
        grid={"strategies": ["uniform", "linear-decay", "attention-heavy"]},
        analysis={"equivalence_margin": "1e-9"},  # nothing is equivalent: the pilot leaves all unresolved
        adaptive={"looks": [2, 3]},
    )
    directory = tmp_path / "runs" / "a"
    cmd = [LORALAB, "study", str(path), "--workers", "2"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 400
    seed2 = []
    while time.monotonic() < deadline and proc.poll() is None:
        seed2 = (
            [
                rd
                for rd in Store(directory.parent).runs("a")
                if (rd.path / "spec.yaml").exists() and rd.read_spec()["config"]["train"]["seed"] == 2
            ]
            if directory.is_dir()
            else []
        )
        if len(read_looks(directory)) == 1 and any(
            m.get("type") == "train" for rd in seed2 for m in rd.read_metrics()
        ):
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the study finished before it could be killed in its second look"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    time.sleep(2)  # its workers notice their parent is gone and stop
    assert len(read_looks(directory)) == 1

    again = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=400)
    assert again.returncode == 0, again.stderr
    assert "look 1/2 (recorded)" in again.stderr
    looks = read_looks(directory)
    assert [lk.look for lk in looks] == [0, 1] and looks[0].next == [
        "attention-heavy",
        "linear-decay",
        "uniform",
    ]
    rds = list(Store(directory.parent).runs("a"))
    assert len(rds) == 9 and all(rd.state == "done" for rd in rds)
    for rd in rds:  # no run finished twice; a killed one resumed from its checkpoint
        assert [e["event"] for e in rd.read_executions()].count("finish") == 1

"""Point 3: several writers on one store and readers while they write.

Scenarios (`SCENARIOS` counts them for the closing note): three `loralab study` processes on one
store while this process reads every file, runs `loralab status` and `loralab analyze`; two
`loralab run` of one config at once. A Ray worker killed mid-run being retried and resumed is
tests/runner/test_ray.py::test_a_task_lost_with_its_worker_is_retried_and_resumes (real Ray).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from loralab.config import load_config
from loralab.record import RunRecord
from loralab.runner.scheduler import plan_runs
from loralab.runner.study import load_study
from loralab.store import RunDir, Store
from tests.conftest import cli_env
from tests.reliability.conftest import tiny, tiny_tree

SCENARIOS = 2


def _loralab(*args: str) -> subprocess.Popen:
    """`loralab ARGS` in the background; output to temporary files (a full pipe would block it)."""
    import tempfile

    out, err = tempfile.TemporaryFile("w+"), tempfile.TemporaryFile("w+")  # noqa: SIM115 (closed by _outputs)
    proc = subprocess.Popen([sys.executable, "-m", "loralab", *args], env=cli_env(), stdout=out, stderr=err)
    proc.outputs = (out, err)  # type: ignore[attr-defined]
    return proc


def _outputs(proc: subprocess.Popen) -> tuple[str, str]:
    proc.wait(timeout=300)
    texts = []
    for f in proc.outputs:  # type: ignore[attr-defined]
        f.seek(0)
        texts.append(f.read())
        f.close()
    return texts[0], texts[1]


def _read_everything(root: Path) -> int:
    """Read every file a reader may read; a partial file raises. Returns how many were read."""
    n = 0
    for p in root.rglob("*"):
        if p.name.startswith(".") or not p.is_file():
            continue  # temporary names are never read
        try:
            if p.suffix == ".json" and p.name != "claim.json":
                obj = json.loads(p.read_text())
                if p.name == "eval.json":
                    RunRecord.model_validate(obj)
            elif p.suffix == ".yaml":
                assert isinstance(yaml.safe_load(p.read_text()), dict)
            elif p.suffix == ".parquet":
                pd.read_parquet(p)
            else:
                continue
        except FileNotFoundError:
            continue  # replaced or removed between listing and reading: fine
        n += 1
    return n


@pytest.mark.slow
def test_three_studies_and_readers_on_one_store(tmp_path: Path, cli) -> None:
    store = tmp_path / "store"
    base = tiny_tree(str(store))
    base["train"]["max_steps"] = 8
    study = {
        "name": "c",
        "base": base,
        "grid": {"strategies": ["uniform", "linear-decay"], "seeds": [0, 1, 2]},
    }
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(study))
    procs = [_loralab("study", str(path), "--workers", "1") for _ in range(3)]
    reads = statuses = 0
    while any(p.poll() is None for p in procs):
        reads += _read_everything(store)
        if (store / "c").is_dir():
            result = cli("status", "c", "--root", str(store))
            assert result.code == 0, result.err
            statuses += 1
            pd.read_parquet(store / "c" / "index.parquet")  # the index is never torn
        time.sleep(0.2)
    outs = [_outputs(p)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outs
    assert reads > 0 and statuses > 0
    runs = [Store(c.output.root).run_dir(c.output.study, c.run_id()) for c in plan_runs(load_study(path))]
    assert len(runs) == 6
    for rd in runs:  # every run executed exactly once across the three processes
        assert [e["event"] for e in rd.read_executions()] == ["start", "finish"], rd.read_executions()
        assert rd.state == "done" and rd.read_status()["attempts"] == 1
    assert _read_everything(store) > 0
    analysed = cli("analyze", str(path), "--resamples", "200")
    assert analysed.code == 0, analysed.err
    assert len(pd.read_parquet(store / "c" / "index.parquet")) == 6


@pytest.mark.slow
def test_two_runs_of_one_config_at_once_execute_it_once(tmp_path: Path) -> None:
    args = [*tiny(tmp_path / "store"), "train.max_steps=8"]
    procs = [_loralab("run", *args) for _ in range(2)]
    results = [(p.wait(timeout=300), *_outputs(p)) for p in procs]
    codes = sorted(r[0] for r in results)
    cfg = load_config(None, args)
    rd = RunDir(tmp_path / "store" / "default" / cfg.run_id())
    assert rd.state == "done" and rd.read_status()["attempts"] == 1
    if codes == [0, 2]:  # the second found it being executed: one line, the way out
        err = next(r[2] for r in results if r[0] == 2)
        assert "is being executed by" in err and "Traceback" not in err
    else:  # the second started after the first finished
        assert codes == [0, 0] and any("already done" in r[1] for r in results)

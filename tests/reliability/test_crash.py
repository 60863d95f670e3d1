"""Point 2: SIGKILL at chosen points of a run, and disk-full / permission errors while writing.

Kill points are injected from the test side (tests/reliability/killer.py wraps `os.replace` and
`os.fsync` in the CLI process it starts). In a tiny run, `os.replace` is called 13 times: 1 spec.yaml,
2-3 status.json, 4 allocation.json, 5 base_eval_examples.parquet, 6 base_eval.json, 7 the first
checkpoint, 8-9 the second checkpoint's swap (old moved aside, new moved in), 10 eval_examples.parquet,
11 adapter/, 12 eval.json, 13 status.json `done`. After each kill no file reads as valid when it is
not, and resuming gives the same metrics, bit for bit, as a run never interrupted. `KILL_POINTS`
counts them for the closing note.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml
from safetensors.torch import load_file

from loralab.config import load_config
from loralab.experiment import execute_run
from loralab.record import RunRecord
from loralab.store import RunDir
from loralab.train.checkpoint import has_checkpoint
from tests.conftest import cli_env
from tests.reliability.conftest import tiny

RUN = ["train.checkpoint_every=2"]
KILLS = [
    ("before-replace", 1, "spec.yaml write"),
    ("after-replace", 4, "allocation written"),
    ("before-replace", 7, "first checkpoint swap"),
    ("after-replace", 8, "checkpoint swap: old moved aside, new not in place"),
    ("before-replace", 9, "checkpoint swap: new not moved in"),
    ("before-replace", 11, "adapter save"),
    ("before-replace", 12, "eval.json write"),
    ("after-replace", 12, "eval.json written, status not done"),
    ("after-replace", 13, "done, checkpoint not yet removed"),
    ("fsync", 3, "a file's bytes written, not renamed"),
    ("fsync", 9, "a metrics line being appended"),
]
KILL_POINTS = len(KILLS)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> RunDir:
    root = tmp_path_factory.mktemp("ref")
    return execute_run(load_config(None, [*tiny(root), *RUN])).run_dir


def _check_nothing_reads_valid_that_is_not(rd: RunDir) -> None:
    if not rd.path.exists():
        return
    if rd.spec.exists():
        assert isinstance(yaml.safe_load(rd.spec.read_text()), dict)
    for f in (rd.status_file, rd.allocation, rd.base_eval):
        if f.exists():
            json.loads(f.read_text())
    if rd.eval.exists():
        RunRecord.model_validate_json(rd.eval.read_text())
        assert rd.eval_examples.exists() and (rd.adapter / "adapter_model.safetensors").exists()
    for f in (rd.eval_examples, rd.base_eval_examples):
        if f.exists():
            pd.read_parquet(f)
    if has_checkpoint(rd.checkpoint):  # complete, or absent: never torn
        load_file(str(rd.checkpoint / "adapter.safetensors"))
        torch.load(rd.checkpoint / "state.pt", weights_only=True)


def _same_result(rd: RunDir, ref: RunDir) -> None:
    assert rd.state == "done"
    assert rd.read_record().eval_loss == ref.read_record().eval_loss
    assert rd.read_record().train_steps == ref.read_record().train_steps
    pd.testing.assert_frame_equal(pd.read_parquet(rd.eval_examples), pd.read_parquet(ref.eval_examples))
    assert [m.get("loss") for m in rd.read_metrics()] == [m.get("loss") for m in ref.read_metrics()]


FAST = {("after-replace", 8), ("before-replace", 11), ("before-replace", 12), ("after-replace", 13)}
KILL_PARAMS = [
    pytest.param(p, n, w, id=f"{p}-{n}", marks=() if (p, n) in FAST else pytest.mark.slow)
    for p, n, w in KILLS
]


@pytest.mark.parametrize(("point", "n", "what"), KILL_PARAMS)
def test_kill_then_resume_gives_the_uninterrupted_result(
    tmp_path: Path, reference: RunDir, cli, point: str, n: int, what: str
) -> None:
    args = [*tiny(tmp_path / "store"), *RUN]
    killed = subprocess.run(
        [sys.executable, "-m", "tests.reliability.killer", point, str(n), "--", "run", *args],
        capture_output=True, text=True, timeout=300, env=cli_env(),
    )  # fmt: skip
    assert killed.returncode == -9, f"{what}: not killed\n{killed.stderr}"
    rd = RunDir(tmp_path / "store" / "default" / reference.run_id)
    _check_nothing_reads_valid_that_is_not(rd)
    resumed = cli("run", *args)
    assert resumed.code == 0, resumed.err
    _same_result(rd, reference)
    assert not rd.checkpoint.exists() and not (rd.path / ".checkpoint.old").exists()


def _failing(real, should_fail, err: int):
    def call(*a, **k):
        if should_fail(*a):
            raise OSError(err, os.strerror(err))
        return real(*a, **k)

    return call


@pytest.mark.parametrize("err", [errno.ENOSPC, errno.EACCES])
def test_write_error_in_the_second_checkpoint_keeps_the_first(
    tmp_path: Path, reference: RunDir, cli, monkeypatch: pytest.MonkeyPatch, err: int
) -> None:
    """A full disk or a permission error (injected: root ignores chmod) while writing a checkpoint."""
    import loralab.train.checkpoint as ckpt

    args = [*tiny(tmp_path / "store"), *RUN]
    saves = []
    real_save = ckpt.torch.save
    monkeypatch.setattr(
        ckpt.torch, "save", _failing(real_save, lambda *a: saves.append(1) or len(saves) == 2, err)
    )
    failed = cli("run", *args)
    assert failed.code == 2 and "Traceback" not in failed.err
    assert os.strerror(err) in failed.error_line and "run again" in failed.error_line
    rd = RunDir(tmp_path / "store" / "default" / reference.run_id)
    assert rd.state == "pending"  # not the run's fault: the next attempt resumes it
    assert has_checkpoint(rd.checkpoint)
    assert torch.load(rd.checkpoint / "state.pt", weights_only=True)["step"] == 2
    assert not list(rd.path.glob(".checkpoint.*"))  # the half-written copy was removed
    monkeypatch.setattr(ckpt.torch, "save", real_save)
    assert cli("run", *args).code == 0
    _same_result(rd, reference)


def test_write_error_on_eval_json_leaves_the_run_resumable(
    tmp_path: Path, reference: RunDir, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    import loralab.atomic as atomic

    args = [*tiny(tmp_path / "store"), *RUN]
    real = os.replace
    monkeypatch.setattr(
        atomic.os, "replace", _failing(real, lambda a, b: Path(b).name == "eval.json", errno.ENOSPC)
    )
    failed = cli("run", *args)
    monkeypatch.setattr(atomic.os, "replace", real)
    assert failed.code == 2 and "No space left on device" in failed.error_line
    rd = RunDir(tmp_path / "store" / "default" / reference.run_id)
    assert not rd.eval.exists() and not list(rd.path.glob(".eval.json.*"))
    assert has_checkpoint(rd.checkpoint)
    assert cli("run", *args).code == 0
    _same_result(rd, reference)

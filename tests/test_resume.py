"""Resume and multi-run-per-process edge cases of `execute_run`, in process."""

from __future__ import annotations

import pandas as pd
import pytest

from loralab.config import load_config
from loralab.experiment import execute_run
from loralab.results.allocation import read_allocation
from loralab.store import RunDir


class _Killed(BaseException):
    """Stands in for a kill between the last write of a run and its `done` status."""


@pytest.mark.slow
def test_dynamic_run_killed_after_its_final_allocation_resumes_exactly(tmp_path, tiny_overrides, monkeypatch):
    args = ["lora.strategy=adalora", "train.max_steps=10", "train.checkpoint_every=4"]
    ref = execute_run(load_config(None, [*tiny_overrides, *args, f"output.root={tmp_path / 'ref'}"]))
    cfg = load_config(None, [*tiny_overrides, *args])

    real = RunDir.set_status

    def dies_before_done(self, state, **fields):
        if state == "done":
            raise _Killed
        return real(self, state, **fields)

    monkeypatch.setattr(RunDir, "set_status", dies_before_done)
    with pytest.raises(_Killed):
        execute_run(cfg)
    monkeypatch.setattr(RunDir, "set_status", real)
    rd = RunDir(tmp_path / "store" / "default" / cfg.run_id())
    saved = read_allocation(rd.allocation)
    assert not saved.final.dynamic and saved.initial.dynamic  # final ranks were written
    assert (rd.checkpoint / "state.pt").exists()  # and the checkpoint is still there to resume from

    again = execute_run(cfg)
    assert again.run_dir.state == "done"
    assert again.record.eval_loss == ref.record.eval_loss
    assert again.record.allocated_params == ref.record.allocated_params
    pd.testing.assert_frame_equal(
        pd.read_parquet(rd.eval_examples), pd.read_parquet(ref.run_dir.eval_examples)
    )


@pytest.mark.slow
def test_runs_with_different_precisions_in_one_process(tmp_path, tiny_overrides):
    # a study worker runs many runs in one process; Accelerate's state must not leak between them
    fp32 = execute_run(load_config(None, [*tiny_overrides, "train.precision=fp32"]))
    bf16 = execute_run(load_config(None, [*tiny_overrides, "train.precision=bf16"]))
    assert fp32.record.precision == "fp32" and bf16.record.precision == "bf16"
    assert fp32.run_dir.state == bf16.run_dir.state == "done"


@pytest.mark.slow
def test_eval_precision_is_a_stated_choice(tmp_path, tiny_overrides):
    fp32 = execute_run(load_config(None, [*tiny_overrides, "train.precision=bf16"]))
    bf16 = execute_run(
        load_config(None, [*tiny_overrides, "train.precision=bf16", "train.eval_precision=train"])
    )
    assert fp32.record.eval_precision == "fp32" and bf16.record.eval_precision == "bf16"
    assert fp32.record.base_eval_loss != bf16.record.base_eval_loss  # the same base model, evaluated two ways
    assert fp32.record.base_eval_loss == pytest.approx(bf16.record.base_eval_loss, abs=0.05)

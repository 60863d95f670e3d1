"""A run's decisions are made once (`ResolvedRun`) and "done" is decided in one place (`run/result.py`)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

import loralab.run
from loralab.allocation import check_strategy
from loralab.config import load_config
from loralab.errors import ConfigError
from loralab.run.resolved import ResolvedRun, check_precisions
from loralab.run.result import done_result, is_done
from loralab.store import Store
from loralab.strategies import Budget

CPU = torch.device("cpu")


def _run(*overrides: str) -> ResolvedRun:
    cfg = load_config(None, ["model.name=tiny-gpt2", "data.source=synthetic", *overrides])
    budget = Budget(params=1000, spec="1000", reference_rank=8)
    return ResolvedRun.decide(cfg, check_strategy(cfg), {}, CPU, budget, 10)


@pytest.mark.parametrize(
    ("asked", "precision", "expected"),
    [
        ("train", "bf16", "bf16"),
        ("train", "fp32", "fp32"),
        ("fp32", "bf16", "fp32"),
        ("bf16", "fp32", "bf16"),
    ],
)
def test_the_eval_precision_follows_the_training_one_only_when_asked(
    asked: str, precision: str, expected: str
):
    run = _run(f"train.eval_precision={asked}")
    assert (run.precision, run.eval_precision) == (None, None)  # undecided until measured
    decided = run.with_precision(precision)
    assert (decided.precision, decided.eval_precision) == (precision, expected)
    with pytest.raises(dataclasses.FrozenInstanceError):
        decided.precision = "fp16"  # type: ignore[misc]


def test_the_strategy_is_looked_up_and_its_options_validated_once():
    run = _run("lora.strategy=adalora", "lora.strategy_options.init_ratio=2.0")
    assert run.strategy.name == "adalora" and run.options.init_ratio == 2.0


@pytest.mark.parametrize("key", ["precision", "eval_precision"])
def test_fp16_on_a_cpu_is_refused_before_anything_loads(key: str):
    cfg = load_config(None, [f"train.{key}=fp16"])
    with pytest.raises(ConfigError, match=f"train.{key}=fp16 needs a CUDA"):
        check_precisions(cfg, CPU)
    check_precisions(load_config(None, ["train.eval_precision=bf16"]), CPU)


def test_done_is_one_decision(tmp_path: Path):
    store = Store(tmp_path)
    rd = store.run_dir("s", "abc123abc123")
    assert not is_done(rd) and done_result(rd) is None  # no directory yet
    rd = store.create("s", "abc123abc123", {"run_id": "abc123abc123"})
    rd.set_status("running")
    assert not is_done(rd) and done_result(rd) is None
    rd.set_status("done")
    rd.checkpoint.mkdir()  # killed between `done` and the cleanup: stale
    result = done_result(rd)
    assert is_done(rd) and result is not None and result.skipped and result.record is None
    assert not rd.checkpoint.exists()


def test_the_run_decides_its_scored_metrics_and_its_label_once():
    plain, chosen = _run(), _run("train.eval_metrics=[eval_loss, exact_match]", "lora.budget=r4")
    assert plain.scored == () and [m.name for m in chosen.scored] == ["exact_match"]
    assert chosen.label == "uniform r4 s0"


def test_stages_take_the_resolved_run_not_the_config():
    """Only the orchestration, the resolution and the study cache's keys read a `RunConfig`; every
    stage reads `ResolvedRun` or the one sub-config it needs."""
    package = Path(loralab.run.__file__).parent
    readers = {p.name for p in package.glob("*.py") if "RunConfig" in p.read_text()}
    assert readers == {"execute.py", "resolved.py", "cache.py"}
    assert "cfg" not in {f.name for f in dataclasses.fields(ResolvedRun)}

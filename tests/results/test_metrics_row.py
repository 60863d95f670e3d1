"""metrics.jsonl rows: what the writers emit, read back tolerantly."""

from __future__ import annotations

import math

import pytest
from pydantic import ValidationError

from loralab.config import load_config
from loralab.results.metrics_row import MetricsRow, parse_metrics_row, parse_metrics_rows
from loralab.store import Store
from loralab.store.index import run_row

LOGS = {"step": 3, "epoch": 0, "loss": 2.5, "lr": 1e-4, "grad_norm": 0.7, "tokens": 120}
LOGS |= {"padding": 0.1, "step_s": 0.2, "tokens_per_s": 600.0}
SUMMARY = {"eval_loss": 2.0, "eval_ppl": math.exp(2.0), "eval_tokens": 50, "eval_examples": 4}
SUMMARY |= {"eval_seconds": 0.5, "eval_tokens_per_s": 100.0}


def test_rows_are_written_as_before_plus_max_steps(tmp_path):
    rd = Store(tmp_path).create("s", "r", {})
    rd.append_metrics(MetricsRow.eval(0, SUMMARY, base=True))
    rd.append_metrics(MetricsRow.train(LOGS, max_steps=6))
    rd.append_metrics(MetricsRow.eval(3, SUMMARY))
    base, train, ev = rd.read_metrics()
    assert base == {"type": "eval", "step": 0, "base": True, **SUMMARY}
    assert train == {"type": "train", "max_steps": 6, **LOGS}
    assert ev == {"type": "eval", "step": 3, **SUMMARY}  # no base key, no nulls
    rows = rd.metrics_rows()
    assert [(r.type, r.step, r.base) for r in rows] == [
        ("eval", 0, True),
        ("train", 3, False),
        ("eval", 3, False),
    ]
    assert rows[1].loss == 2.5 and rows[2].eval_loss == 2.0
    last = rd.last_metrics()
    assert last is not None and last.step == 3 and last.type == "eval"


def test_the_index_reads_the_planned_steps_from_the_last_row(tmp_path):
    cfg = load_config(None, ["train.epochs=2"])  # an epoch-based run: its config has no max_steps
    rd = Store(tmp_path).create("s", cfg.run_id(), {"config": cfg.model_dump(mode="json")})
    assert run_row(rd).max_steps is None
    rd.append_metrics(MetricsRow.train(LOGS, max_steps=40))  # the loop knows the count
    row = run_row(rd)
    assert (row.steps, row.max_steps, row.loss) == (3, 40, 2.5)


def test_reading_keeps_unknown_keys_and_skips_what_is_not_a_row():
    old = {"type": "train", "step": 2, "loss": 1.0, "pid": 7}
    lines = [old, {"step": 1, "loss": 1.0}, {"type": "train", "step": "x"}, [1], {"type": "eval", "step": 0}]
    rows = parse_metrics_rows(lines)
    assert [r.step for r in rows] == [2, 0] and rows[0].model_extra == {"pid": 7}
    assert parse_metrics_row(None) is None
    with pytest.raises(ValidationError):
        MetricsRow(type="test", step=1)  # type: ignore[arg-type]


def test_a_nan_loss_is_written_as_nan_not_null(tmp_path):
    rd = Store(tmp_path).create("s", "r", {})
    rd.append_metrics(MetricsRow.train({**LOGS, "loss": float("nan")}))
    (row,) = rd.read_metrics()
    assert math.isnan(row["loss"])

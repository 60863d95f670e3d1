"""Metrics a run scores beyond its eval NLL: the `Scorer` protocol, and how the evaluation stage calls one.

A registered `Metric` whose per-example columns the eval NLL pass does not make names a scorer
(`Metric.scorer`, 'module:attribute', loaded when a run chooses the metric in `train.eval_metrics`).
The evaluation stage gives it the model and the eval split (`EvalSet`) before training (the base
model) and after (the adapted one); the scorer returns one row per eval example with `example` (the
source index), the metric's columns and, where it knows them, `task`. This module checks the frame,
adds its columns to the run's per-example eval file (which the analysis reads) and aggregates them
with the metric's own rule, overall and per task. A resumed run reads a score its file holds already,
and a study cache may share the base model's (keyed by `Scorer.key`).

`exact_match` (`loralab/accuracy.py`) is the built-in scorer; a plug-in metric brings its own in the
module that registers it (entry-point group `loralab.metrics`), and nothing here knows either.
"""

from __future__ import annotations

import importlib
import math
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import pandas as pd
import torch
from torch import nn

from loralab.atomic import atomic_write_parquet
from loralab.config import DataConfig
from loralab.data import AlpacaRecord, TokenizedExample, load_records
from loralab.errors import ConfigError
from loralab.record import MetricScore
from loralab.results.metric import Metric

# Columns of the per-example eval file that a scorer may not write: the NLL pass's and the keys.
RESERVED = ("example", "nll_sum", "tokens", "nll_mean")


@dataclass(frozen=True)
class EvalSet:
    """What a scorer is given: the model (in eval mode, no grad), its tokenizer and the eval examples."""

    model: nn.Module
    tokenizer: Any
    records: list[AlpacaRecord]  # the eval examples' records: instruction, input, reference output, task
    indices: list[int]  # their source indices, the `example` column of the per-example files
    batch_size: int
    pad_id: int
    device: torch.device
    cutoff_len: int  # prompts are cut as training cut them
    autocast: AbstractContextManager | None  # the eval precision's autocast (None: fp32)


@runtime_checkable
class Scorer(Protocol):
    """Scores a model on the eval split: one row per example (`example`, the metric's columns, `task`
    optional). `key` names what its scores depend on beyond the model and the eval split (how answers
    are made and judged, a version): a cached base score is shared only under the same key."""

    key: Mapping[str, Any]

    def __call__(self, eval_set: EvalSet) -> pd.DataFrame: ...


@dataclass(frozen=True)
class Score:
    """A metric over the eval split: its aggregate, per task (None without tasks), time and examples."""

    metric: Metric
    value: float
    by_task: dict[str, float] | None
    seconds: float
    per_example: pd.DataFrame  # `example`, the metric's columns, `task` where the scorer gave it

    @classmethod
    def of(cls, metric: Metric, per_example: pd.DataFrame, seconds: float) -> Score:
        """The metric's own aggregate of per-example columns, overall and per task."""
        value = metric.aggregate({c: per_example[c].tolist() for c in metric.columns})
        by_task = None
        if "task" in per_example.columns:
            tasks = per_example[per_example["task"].fillna("") != ""]
            if len(tasks):
                by_task = {
                    str(task): metric.aggregate({c: group[c].tolist() for c in metric.columns})
                    for task, group in tasks.groupby("task", sort=True)
                }
        return cls(metric, value, by_task, seconds, per_example)


def computed_by_nll(metric: Metric) -> bool:
    """Whether the eval NLL pass makes every column of `metric` (eval_loss): no scorer needed."""
    return metric.scorer is None


def load_scorer(metric: Metric) -> Scorer:
    """The scorer `metric.scorer` names ('module:attribute'), or a ConfigError saying what is wrong."""
    module_name, _, attribute = (metric.scorer or "").partition(":")
    try:
        scorer = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError, ValueError) as e:
        raise ConfigError(
            f"metric {metric.name!r}: its scorer {metric.scorer!r} cannot be loaded ({e}); install the"
            f" package that provides it or remove {metric.name!r} from train.eval_metrics"
        ) from None
    if not isinstance(scorer, Scorer):
        raise ConfigError(
            f"metric {metric.name!r}: {metric.scorer!r} is not a scorer (a callable with a `key`"
            " mapping, loralab/scoring.py); fix the metric's definition"
        )
    return scorer


def score(metric: Metric, eval_set: EvalSet) -> Score:
    """Score the model of `eval_set` with the metric's scorer; its frame checked, one row per example
    in source order. The model's train/eval mode is restored afterwards."""
    scorer = load_scorer(metric)
    was_training = eval_set.model.training
    eval_set.model.eval()
    start = time.perf_counter()
    try:
        with torch.no_grad():
            frame = scorer(eval_set)
    finally:
        eval_set.model.train(was_training)
    frame = _checked(metric, frame, eval_set.indices)
    return Score.of(metric, frame, time.perf_counter() - start)


def _checked(metric: Metric, frame: pd.DataFrame, indices: list[int]) -> pd.DataFrame:
    """The scorer's frame with its columns and rows checked: a bug in a scorer stops the run here,
    never as a wrong aggregate."""
    where = f"scorer of metric {metric.name!r} ({metric.scorer})"
    missing = [c for c in ("example", *metric.columns) if c not in frame.columns]
    if missing:
        raise ValueError(f"{where} returned no column(s) {', '.join(missing)}")
    reserved = [c for c in metric.columns if c in RESERVED]
    if reserved:
        raise ValueError(f"{where} may not write the per-example file's own column(s) {', '.join(reserved)}")
    if sorted(frame["example"].tolist()) != sorted(indices) or frame["example"].duplicated().any():
        raise ValueError(f"{where} must return one row per eval example ({len(indices)}), got {len(frame)}")
    for column in metric.columns:
        values = pd.to_numeric(frame[column], errors="coerce")
        if not all(math.isfinite(v) for v in values):
            raise ValueError(f"{where} returned a non-numeric or non-finite {column!r}")
    keep = ["example", *metric.columns, *(["task"] if "task" in frame.columns else [])]
    return frame[keep].sort_values("example", kind="stable", ignore_index=True)


Memo = Callable[[Callable[[], Score]], Score]


def eval_records(data: DataConfig, examples: list[TokenizedExample]) -> list[AlpacaRecord]:
    """The records of the eval examples (read again from the source: the data stage keeps only ids)."""
    records = load_records(
        data.source, synthetic_size=data.synthetic_size, synthetic_seed=data.synthetic_seed
    )
    return [records[e.index] for e in examples]


def scored(
    metric: Metric, make_eval_set: Callable[[], EvalSet], path: Path, memo: Memo | None = None
) -> Score:
    """The evaluation stage's score of `metric`: read back where the per-example eval file `path`
    holds its columns already (a resumed run's base), else computed (through `memo`, the study cache,
    where given) and its columns added to `path`."""
    saved = read_score(metric, path)
    if saved is not None:
        return saved

    def compute() -> Score:
        return score(metric, make_eval_set())

    result = memo(compute) if memo is not None else compute()
    add_columns(path, result)
    return result


def add_columns(path: Path, result: Score) -> None:
    """Add a score's per-example columns (and `task`, where the file has none yet) to an eval file."""
    frame = pd.read_parquet(path).drop(columns=list(result.metric.columns), errors="ignore")
    new = result.per_example
    if "task" in frame.columns:
        new = new.drop(columns=["task"], errors="ignore")
    atomic_write_parquet(path, frame.merge(new, on="example", how="left", validate="1:1"))


def read_score(metric: Metric, path: Path) -> Score | None:
    """The score a per-example eval file already holds for `metric`, or None."""
    if not path.exists():
        return None
    frame = pd.read_parquet(path)
    if not set(metric.columns) <= set(frame.columns):
        return None
    keep = ["example", *metric.columns, *(["task"] if "task" in frame.columns else [])]
    return Score.of(metric, frame[keep], 0.0)


def scorer_key(metric: Metric) -> dict[str, Any]:
    """What a cached base score of `metric` depends on beyond the base eval's own key."""
    return {"metric": metric.model_dump(mode="json"), "scorer_key": dict(load_scorer(metric).key)}


def metric_score(base: Score, final: Score) -> MetricScore:
    """The run record's entry of one scored metric."""
    return MetricScore(
        base=base.value,
        final=final.value,
        base_by_task=base.by_task,
        final_by_task=final.by_task,
        seconds=final.seconds,
    )

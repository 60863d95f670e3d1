"""The results contract: typed records of what a run and a study write, pydantic only, no torch.

The ground floor of the flow: every layer may import it, and it imports nothing of loralab but
`errors` (and `record`, whose `RunRecord`, the schema of eval.json, it re-exports).

- `metric.py`: `Metric` (columns, aggregation, direction, display, unit, the paper's words) and its
  registry (`register_metric`, `get_metric`, the `loralab.metrics` entry points); `eval_loss`.
- `exact_match.py`: the `exact_match` metric (task accuracy) and its pure answer scoring.
- `allocation.py`: `AllocationRecord`, allocation.json (initial and final allocations, the peak, the
  strategy as the run's code described it: `StrategyRecord`).
- `metrics_row.py`: `MetricsRow`, one line of metrics.jsonl.
- `study_record.py`: `StudyRecord`, a study directory's study.yaml.
"""

from __future__ import annotations

from loralab.record import RunRecord
from loralab.results.allocation import (
    Allocation,
    AllocationRecord,
    ModuleRank,
    StrategyRecord,
    read_allocation,
)
from loralab.results.exact_match import EXACT_MATCH, normalise_answer, score_answer
from loralab.results.metric import (
    EVAL_LOSS,
    Metric,
    get_metric,
    metric_names,
    register_metric,
    registered_metrics,
)
from loralab.results.metrics_row import MetricsRow, parse_metrics_row, parse_metrics_rows
from loralab.results.study_record import PlannedRun, StudyRecord, read_study_record

__all__ = [
    "EVAL_LOSS",
    "EXACT_MATCH",
    "Allocation",
    "AllocationRecord",
    "Metric",
    "MetricsRow",
    "ModuleRank",
    "PlannedRun",
    "RunRecord",
    "StrategyRecord",
    "StudyRecord",
    "get_metric",
    "metric_names",
    "normalise_answer",
    "parse_metrics_row",
    "parse_metrics_rows",
    "read_allocation",
    "read_study_record",
    "register_metric",
    "registered_metrics",
    "score_answer",
]

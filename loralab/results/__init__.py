"""The results contract: typed records of what a run and a study write, pydantic only, no torch.

The ground floor of the flow: every layer may import it, and it imports nothing of loralab but
`errors` (and re-exports `RunRecord` from `loralab/record.py`).
"""

from __future__ import annotations

from loralab.results.metric import EVAL_LOSS, Metric, get_metric, metric_names, register_metric

__all__ = ["EVAL_LOSS", "Metric", "get_metric", "metric_names", "register_metric"]

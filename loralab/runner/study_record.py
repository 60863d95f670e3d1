"""The resolved study definition saved in its directory, so that `loralab analyze DIR` knows the grid.

`<root>/<study>/study.yaml` holds the study (name, baseline, base, grid) and the list of runs the
grid expands to, each with its run id and its point on the grid: a `StudyRecord`
(`loralab/results/study_record.py`), read by the analysis without importing the runner; it is
rewritten (atomically) each time the study is run.
"""

from __future__ import annotations

from typing import Any

from loralab.config import RunConfig
from loralab.results.study_record import PlannedRun, StudyRecord
from loralab.runner.study import SAVED_STUDY, StudyConfig
from loralab.store import Store, atomic_write_text

STUDY_RECORD = SAVED_STUDY


def study_record(study: StudyConfig, runs: list[RunConfig]) -> StudyRecord:
    """The study and its expanded runs (run id and grid point)."""
    return StudyRecord(
        name=study.name,
        baseline=study.baseline,
        definition=study.model_dump(mode="json"),
        runs=tuple(PlannedRun(run_id=cfg.run_id(), point=_point(study, cfg)) for cfg in runs),
    )


def save_study_record(study: StudyConfig, runs: list[RunConfig], store: Store) -> None:
    """Write `<root>/<study>/study.yaml` atomically."""
    atomic_write_text(store.root / study.name / STUDY_RECORD, study_record(study, runs).to_yaml())


def _point(study: StudyConfig, cfg: RunConfig) -> dict[str, Any]:
    tree = cfg.model_dump(mode="json")
    keys = ["lora.strategy", "lora.budget", "train.seed", "model.name", *study.grid.fields]
    return {key: _get(tree, key) for key in keys}


def _get(tree: dict[str, Any], dotted: str) -> Any:
    for part in dotted.split("."):
        tree = tree.get(part) if isinstance(tree, dict) else None
    return tree

"""What the paper reads: the analysis (`<study>/analysis/stats.json`, its figures and tables), each
run's spec.yaml (resolved config and provenance), eval.json (what the run measured: split sizes,
precision, parameter counts) and allocation.json's record of the strategy as the run's code described
it, for the method section. Nothing else.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from loralab.analysis.schema import SCHEMA_VERSION, StudyStats
from loralab.config import RunConfig
from loralab.errors import PaperError, StoreError
from loralab.record import RunRecord
from loralab.results.allocation import StrategyRecord, read_allocation
from loralab.results.study_record import read_study_record
from loralab.store import RunDir, Store


@dataclass(frozen=True)
class RunInfo:
    """One run of the study as the paper needs it: id, state, resolved config, provenance."""

    run_id: str
    state: str
    config: RunConfig
    provenance: dict[str, Any]
    finished: float | None = None  # status.json's finish time (Unix seconds), for the PDF's date
    record: RunRecord | None = None  # eval.json: what the run measured (sizes, precision, parameters)
    # allocation.json: the strategy as the run's code described it (None: recorded before it was kept)
    strategy: StrategyRecord | None = None


@dataclass(frozen=True)
class StudyInputs:
    """The paper's inputs for one study directory `<root>/<study>`."""

    study_dir: Path
    stats: StudyStats
    runs: tuple[RunInfo, ...]  # sorted by run id
    # the study file's definition as study.yaml saved it (plain YAML; {} when the directory has none)
    definition: dict[str, Any] = field(default_factory=dict)

    @property
    def paper_meta(self) -> dict[str, Any]:
        """The study file's `paper:` section (title, authors), {} when absent."""
        meta = self.definition.get("paper")
        return meta if isinstance(meta, dict) else {}

    @property
    def analysis_dir(self) -> Path:
        return self.study_dir / "analysis"

    @property
    def paper_dir(self) -> Path:
        return self.study_dir / "paper"

    def done_runs(self) -> list[RunInfo]:
        """Runs that finished (the ones the analysis used)."""
        return [r for r in self.runs if r.state == "done"]

    def evidence_time(self) -> int | None:
        """When the last finished run finished (Unix seconds): the date the PDF carries, so that a
        rebuild from the same store gives the same bytes."""
        times = [r.finished for r in self.done_runs() if r.finished is not None]
        return int(max(times)) if times else None

    def artifact(self, relative: str) -> Path:
        """An analysis file by its path relative to the analysis directory (refusing paths outside it)."""
        path = (self.analysis_dir / relative).resolve()
        if not path.is_relative_to(self.analysis_dir.resolve()):
            raise PaperError(f"stats.json names {relative!r}, which lies outside {self.analysis_dir}")
        return path


def load_stats(analysis_dir: Path) -> StudyStats:
    """`stats.json` through its schema, or a PaperError saying how to produce it."""
    path = analysis_dir / "stats.json"
    if not path.is_file():
        raise PaperError(f"{path} does not exist; run `loralab analyze {analysis_dir.parent}` first")
    try:
        raw = json.loads(path.read_text())
    except ValueError as e:  # invalid JSON, or bytes that are not UTF-8
        raise PaperError(f"{path} is not valid JSON ({e}); rerun `loralab analyze`") from None
    version = raw.get("schema_version") if isinstance(raw, dict) else None
    if version is not None and version > SCHEMA_VERSION:
        raise PaperError(
            f"{path} has schema_version {version}, newer than this loralab reads ({SCHEMA_VERSION});"
            " upgrade loralab"
        )
    try:
        return StudyStats.model_validate(raw)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise PaperError(f"{path} does not match the stats schema at {where}: {first['msg']}") from None


def load_runs(study_dir: Path) -> tuple[RunInfo, ...]:
    """Every run directory of the study with its resolved config."""
    out = []
    for rd in Store(study_dir.parent).runs(study_dir.name):
        spec = rd.read_spec() or {}
        try:
            config = RunConfig.model_validate(spec.get("config", {}))
        except ValidationError as e:
            raise PaperError(
                f"{rd.spec} has a config this loralab cannot read: {e.errors()[0]['msg']}"
            ) from None
        finished = rd.read_status().get("finished")
        out.append(
            RunInfo(
                rd.run_id,
                rd.state,
                config,
                dict(spec.get("provenance") or {}),
                float(finished) if isinstance(finished, int | float) else None,
                rd.try_record() if rd.state == "done" else None,
                _recorded_strategy(rd) if rd.state == "done" else None,
            )
        )
    return tuple(out)


def _recorded_strategy(rd: RunDir) -> StrategyRecord | None:
    """The strategy as the run recorded it in allocation.json; None where it did not (or cannot be read:
    the analysis says so)."""
    try:
        return read_allocation(rd.allocation).strategy
    except StoreError:
        return None


def load_definition(study_dir: Path) -> dict[str, Any]:
    """The saved study definition (`<study>/study.yaml`'s `definition`), {} when absent."""
    try:
        record = read_study_record(study_dir)
    except StoreError as e:
        raise PaperError(str(e)) from None
    return dict(record.definition) if record is not None else {}


def load_inputs(study_dir: str | Path) -> StudyInputs:
    """Read a study directory's analysis and run specs."""
    study_dir = Path(study_dir)
    if not study_dir.is_dir():
        raise PaperError(f"study directory {study_dir} does not exist (expected <root>/<study>)")
    stats = load_stats(study_dir / "analysis")
    return StudyInputs(
        study_dir=study_dir, stats=stats, runs=load_runs(study_dir), definition=load_definition(study_dir)
    )

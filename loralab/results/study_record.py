"""`<root>/<study>/study.yaml`, typed: the study as it was run and the runs its grid expands to.

The runner writes it each time a study runs (`runner/study_record.py` builds and writes it); the analysis, the
paper and `loralab study DIR` read it with `read_study_record`, so `loralab analyze DIR` knows the
expected grid without importing the runner. `definition` is the resolved study file (the runner's
`StudyConfig` as JSON): kept as a mapping here, below the runner that owns its schema. Files written
before `schema_version` existed (version 0) hold the same keys and load unchanged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from loralab.errors import StoreError, validation_message

SCHEMA_VERSION = 1
STUDY_RECORD = "study.yaml"
_REWRITE = "rerun `loralab study` with the study file (it rewrites it) or analyse with the study YAML"


class PlannedRun(BaseModel):
    """One run of the grid: its id and its point (dotted config field -> value)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    run_id: str = Field(description="The run's id (hash of its resolved spec).")
    point: dict[str, Any] = Field(
        default_factory=dict, description="Where on the grid: lora.strategy, lora.budget, train.seed, ..."
    )


class StudyRecord(BaseModel):
    """The saved study: name, baseline, the resolved definition and the expected runs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: int = Field(SCHEMA_VERSION, description="Version of this schema (0: before it).")
    name: str = Field(description="The study's name, also its directory under the store root.")
    baseline: str = Field("uniform", description="The strategy every other one is compared with.")
    definition: dict[str, Any] = Field(
        default_factory=dict, description="The resolved study file (StudyConfig as JSON)."
    )
    runs: tuple[PlannedRun, ...] = Field((), description="Every run the grid expands to, in plan order.")

    def section(self, name: str) -> dict[str, Any]:
        """A section of the definition (`analysis`, `adaptive`, `paper`), {} when absent."""
        value = self.definition.get(name)
        return value if isinstance(value, dict) else {}

    def to_yaml(self) -> str:
        """The file's text (keys in schema order)."""
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


def parse_study_record(data: Any, where: str = STUDY_RECORD) -> StudyRecord:
    """A study record from a loaded YAML mapping; a StoreError (one line) if it is not one."""
    if not isinstance(data, dict):
        raise StoreError(f"{where} is damaged (it holds no mapping); {_REWRITE}")
    version = data.get("schema_version", 0)
    if isinstance(version, int) and version > SCHEMA_VERSION:
        raise StoreError(
            f"{where} has schema version {version}, newer than this loralab reads ({SCHEMA_VERSION});"
            " upgrade loralab"
        )
    try:
        return StudyRecord.model_validate({**data, "schema_version": version})
    except ValidationError as e:
        raise StoreError(f"{where} is damaged ({validation_message(e)}); {_REWRITE}") from None


def read_study_record(path: str | Path) -> StudyRecord | None:
    """The study record at `path` (a study.yaml or the study directory holding it); None if absent."""
    path = Path(path)
    if path.is_dir():
        path = path / STUDY_RECORD
    if not path.is_file():
        return None
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, ValueError, yaml.YAMLError) as e:
        raise StoreError(f"{path} is damaged ({type(e).__name__}); {_REWRITE}") from None
    return parse_study_record(data, str(path))

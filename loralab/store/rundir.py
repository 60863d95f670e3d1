"""A run directory and the store of them: every file of a run is named here, read and written here.

```
<root>/<study>/index.parquet          (rebuilt from the run directories; see `loralab.store.index`)
<root>/<study>/<run_id>/
  spec.yaml  status.json  metrics.jsonl  allocation.json  signals.json  base_eval.json  eval.json
  base_eval_examples.parquet  eval_examples.parquet  adapter/  checkpoint/  run.log
  claim.json  executions.jsonl        (written by the runner: who executes the run, every attempt)
```
Every file is written to a temporary name in the same directory and renamed into place, so a reader
never sees half a file and a killed writer leaves the previous version intact; the two append-only
logs (`metrics.jsonl`, `executions.jsonl`) are read tolerantly, skipping a torn last line.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import ValidationError

from loralab.atomic import (
    append_jsonl,
    atomic_write_json,
    atomic_write_text,
    last_jsonl,
    read_jsonl,
)
from loralab.config import RunConfig, with_added_fields
from loralab.errors import StoreError, validation_message
from loralab.record import RunRecord
from loralab.results.metrics_row import MetricsRow, parse_metrics_row, parse_metrics_rows

RunState = Literal["pending", "running", "done", "failed"]
STATES: tuple[str, ...] = ("pending", "running", "done", "failed")
INDEX_FILE = "index.parquet"  # per study, beside its run directories
CACHE_DIR = ".cache"  # per study: the study cache (loralab/run/cache.py)
SPEC_FILE = "spec.yaml"
CLAIM_FILE = "claim.json"
EXECUTIONS_FILE = "executions.jsonl"


def plain_name(name: str) -> bool:
    """Whether `name` is one path component that stays inside its parent (no `..`, `/`, NUL)."""
    return bool(name) and not name.startswith(".") and "/" not in name and "\0" not in name


@dataclass(frozen=True)
class RunDir:
    """Paths of one run directory."""

    path: Path

    @property
    def run_id(self) -> str:
        return self.path.name

    @property
    def study(self) -> str:
        return self.path.parent.name

    spec = property(lambda self: self.path / SPEC_FILE)
    status_file = property(lambda self: self.path / "status.json")
    metrics = property(lambda self: self.path / "metrics.jsonl")
    allocation = property(lambda self: self.path / "allocation.json")
    signals = property(lambda self: self.path / "signals.json")
    eval = property(lambda self: self.path / "eval.json")
    base_eval = property(lambda self: self.path / "base_eval.json")  # step-0 eval, kept for a resume
    eval_examples = property(lambda self: self.path / "eval_examples.parquet")
    base_eval_examples = property(lambda self: self.path / "base_eval_examples.parquet")
    adapter = property(lambda self: self.path / "adapter")
    checkpoint = property(lambda self: self.path / "checkpoint")
    log = property(lambda self: self.path / "run.log")
    claim = property(lambda self: self.path / CLAIM_FILE)  # the runner's exactly-once claim
    executions = property(lambda self: self.path / EXECUTIONS_FILE)  # one line per attempt's event

    # --- status -------------------------------------------------------------------------------------
    def read_status(self) -> dict[str, Any]:
        """The status record; `pending` when the run has none yet."""
        if not self.status_file.exists():
            return {"state": "pending"}
        try:
            status = json.loads(self.status_file.read_text())
        except ValueError:  # torn or not UTF-8
            return {"state": "pending"}
        return status if isinstance(status, dict) else {"state": "pending"}

    @property
    def state(self) -> RunState:
        return self.read_status().get("state", "pending")

    def set_status(self, state: RunState, **fields: Any) -> dict[str, Any]:
        """Update status.json atomically, keeping earlier fields (created, started) and stamping times."""
        if state not in STATES:
            raise ValueError(f"unknown run state {state!r}")
        record = self.read_status()
        now = time.time()
        record.setdefault("created", now)
        if state == "running":
            record["started"] = now
            for stale in ("error", "bug", "finished"):
                record.pop(stale, None)
            record["attempts"] = int(record.get("attempts", 0)) + 1
        if state in ("done", "failed"):
            record["finished"] = now
        record["state"] = state
        record["updated"] = now
        record.update(fields)
        atomic_write_json(self.status_file, record)
        return record

    # --- metrics ------------------------------------------------------------------------------------
    def append_metrics(self, row: MetricsRow | dict[str, Any]) -> None:
        """Append one row to metrics.jsonl (fsynced, so a killed run keeps what it logged); a dict is
        checked as a `MetricsRow` first."""
        if not isinstance(row, MetricsRow):
            row = MetricsRow.model_validate(row)
        append_jsonl(self.metrics, row.to_json(), sync=True)

    def read_metrics(self) -> list[dict[str, Any]]:
        """All complete metrics lines as written (a torn last line from a kill is ignored)."""
        return read_jsonl(self.metrics)

    def metrics_rows(self) -> list[MetricsRow]:
        """The metrics lines as typed rows (lines that are not rows are skipped)."""
        return parse_metrics_rows(self.read_metrics())

    def last_metrics(self) -> MetricsRow | None:
        """The last complete metrics line (read from the file's tail) as a row, or None."""
        return parse_metrics_row(last_jsonl(self.metrics))

    def append_execution(self, row: dict[str, Any]) -> None:
        """Append one event (start, finish, failed, lost) to the run's execution log."""
        append_jsonl(self.executions, row)

    def read_executions(self) -> list[dict[str, Any]]:
        """The execution log: one record per start/finish/failure of an attempt, oldest first."""
        return read_jsonl(self.executions)

    def truncate_metrics(self, max_step: int) -> None:
        """Drop metric lines logged after `max_step` (used on resume from a checkpoint at that step)."""
        rows = [r for r in self.read_metrics() if int(r.get("step", 0)) <= max_step]
        atomic_write_text(self.metrics, "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))

    # --- records ------------------------------------------------------------------------------------
    def write_json(self, path: Path, obj: Any) -> None:
        atomic_write_json(path, obj)

    def read_json(self, path: Path) -> Any:
        return json.loads(path.read_text())

    def read_spec(self) -> dict[str, Any]:
        """spec.yaml as a dict (with `run_id`, `config` and `provenance`)."""
        try:
            spec = yaml.safe_load(self.spec.read_text())
        except FileNotFoundError:
            raise StoreError(f"{self.path} is not a run directory (no {SPEC_FILE})") from None
        except yaml.YAMLError as e:
            raise StoreError(f"{self.spec} is damaged ({type(e).__name__}); rerun the run") from None
        if not isinstance(spec, dict):
            raise StoreError(f"{self.spec} holds no mapping; rerun the run")
        if isinstance(spec.get("config"), dict):  # fields added since the run read as what it ran with
            spec["config"] = with_added_fields(spec["config"])
        return spec

    def read_config(self) -> RunConfig:
        """The run's resolved config, validated (a spec of an older, incompatible schema raises)."""
        return self.config_of(self.read_spec())

    def config_of(self, spec: dict[str, Any]) -> RunConfig:
        """The config of this run's spec (as `read_spec` returns it), validated; StoreError if invalid."""
        try:
            return RunConfig.model_validate(spec.get("config", spec))
        except ValidationError as e:
            raise StoreError(f"{self.spec}: {validation_message(e)}") from None

    def write_record(self, record: RunRecord) -> None:
        """Write the run's final record (eval.json)."""
        atomic_write_json(self.eval, record.to_json())

    def read_record(self) -> RunRecord:
        """The run's final record (eval.json); StoreError if it is missing or damaged."""
        try:
            raw = json.loads(self.eval.read_text())
        except FileNotFoundError:
            raise StoreError(f"{self.path} has no {self.eval.name}: the run has not finished") from None
        except (OSError, ValueError) as e:
            raise StoreError(f"{self.eval} is damaged ({type(e).__name__}); rerun the run") from None
        try:
            return RunRecord.model_validate(raw)
        except ValidationError as e:
            raise StoreError(
                f"{self.eval} does not match the run record schema: {validation_message(e)}"
            ) from None

    def try_record(self) -> RunRecord | None:
        """The run's record, or None where it is missing or damaged (for live, tolerant views)."""
        try:
            return self.read_record()
        except StoreError:
            return None


class Store:
    """A results store rooted at `root`."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def run_dir(self, study: str, run_id: str) -> RunDir:
        """The directory of a run; a name that could leave the store (`..`, `/`) is refused."""
        for what, name in (("study name", study), ("run id", run_id)):
            if not plain_name(name):
                raise StoreError(
                    f"{what} {name!r} is not a plain directory name (no '/' or leading '.');"
                    " it could place files outside the store"
                )
        return RunDir(self.root / study / run_id)

    def index_path(self, study: str) -> Path:
        """Where the study's index (a cache rebuilt from its run directories) lives."""
        return self.root / study / INDEX_FILE

    def cache_dir(self, study: str) -> Path:
        """Where the study cache (work shared by the study's runs, safe to delete) lives."""
        return self.root / study / CACHE_DIR

    def create(self, study: str, run_id: str, spec: dict[str, Any]) -> RunDir:
        """Create (or reopen) a run directory; refuse to touch one that is already done."""
        rd = self.run_dir(study, run_id)
        for p in (rd.path.parent, rd.path):
            if p.is_symlink():
                raise StoreError(
                    f"{p} is a symbolic link; the store refuses links (they could write outside it):"
                    " replace it with a directory"
                )
        if rd.path.exists() and rd.state == "done":
            raise StoreError(
                f"run {study}/{run_id} is already done in {self.root}; its results are kept"
                " (delete the directory to redo it)"
            )
        try:
            rd.path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StoreError(
                f"cannot create run directory {rd.path}: {e.strerror}; check output.root"
            ) from None
        if not rd.spec.exists():
            atomic_write_text(rd.spec, yaml.safe_dump(spec, sort_keys=False))
        if not rd.status_file.exists():
            rd.set_status("pending")
        return rd

    def studies(self) -> list[str]:
        """Study names present in the store."""
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith("."))

    def runs(self, study: str | None = None) -> Iterator[RunDir]:
        """Run directories (those holding a spec.yaml), optionally of one study, in sorted order."""
        for s in [study] if study else self.studies():
            sdir = self.root / s
            if not sdir.is_dir():
                continue
            if sdir.is_symlink():
                continue  # links are refused by `create` and never read as runs
            for p in sorted(sdir.iterdir()):
                if p.is_dir() and not p.is_symlink() and (p / SPEC_FILE).exists():
                    yield RunDir(p)

"""The results store: one directory per run, written atomically; the directories are the truth.

```
<root>/<study>/<run_id>/
  spec.yaml  status.json  metrics.jsonl  allocation.json  signals.json  base_eval.json  eval.json
  base_eval_examples.parquet  eval_examples.parquet  adapter/  checkpoint/
```
Every file is written to a temporary name in the same directory and renamed into place, so a reader
never sees half a file and a killed writer leaves the previous version intact.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from loralab.errors import StoreError

RunState = Literal["pending", "running", "done", "failed"]
STATES: tuple[str, ...] = ("pending", "running", "done", "failed")


def atomic_write_text(path: Path, text: str) -> None:
    """Write `text` to `path` via a temp file and rename, fsynced."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, obj: Any) -> None:
    """Write JSON atomically (sorted keys for stable diffs)."""
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def atomic_write_parquet(path: Path, frame: Any) -> None:
    """Write a pandas DataFrame as parquet via a temp file and rename."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        frame.to_parquet(tmp, index=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def replace_dir(tmp_dir: Path, final: Path) -> None:
    """Move a fully written directory into place, replacing an old one without a window of neither."""
    old = final.with_name(f".{final.name}.old")
    if old.exists():
        shutil.rmtree(old)
    if final.exists():
        os.replace(final, old)
    os.replace(tmp_dir, final)
    if old.exists():
        shutil.rmtree(old)


def recover_dir(final: Path) -> None:
    """After a crash inside `replace_dir`, put the old directory back if the new one never landed."""
    old = final.with_name(f".{final.name}.old")
    if old.exists() and not final.exists():
        os.replace(old, final)
    elif old.exists():
        shutil.rmtree(old)


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

    spec = property(lambda self: self.path / "spec.yaml")
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

    # --- status -------------------------------------------------------------------------------------
    def read_status(self) -> dict[str, Any]:
        """The status record; `pending` when the run has none yet."""
        if not self.status_file.exists():
            return {"state": "pending"}
        try:
            return json.loads(self.status_file.read_text())
        except json.JSONDecodeError:
            return {"state": "pending"}

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
    def append_metrics(self, row: dict[str, Any]) -> None:
        """Append one JSON line to metrics.jsonl (flushed, so a killed run keeps what it logged)."""
        with open(self.metrics, "a") as f:
            f.write(json.dumps(row, sort_keys=True) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def read_metrics(self) -> list[dict[str, Any]]:
        """All complete metrics lines (a torn last line from a kill is ignored)."""
        if not self.metrics.exists():
            return []
        rows = []
        for line in self.metrics.read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return rows

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
        """spec.yaml as a dict (with `config` and `provenance`)."""
        return yaml.safe_load(self.spec.read_text())


class Store:
    """A results store rooted at `root`."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def run_dir(self, study: str, run_id: str) -> RunDir:
        return RunDir(self.root / study / run_id)

    def create(self, study: str, run_id: str, spec: dict[str, Any]) -> RunDir:
        """Create (or reopen) a run directory; refuse to touch one that is already done."""
        rd = self.run_dir(study, run_id)
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
            for p in sorted(sdir.iterdir()):
                if p.is_dir() and (p / "spec.yaml").exists():
                    yield RunDir(p)

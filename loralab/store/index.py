"""What the store says about a study's runs: one `RunRow` per run, and `index.parquet` rebuilt from them.

The run directories are the truth; the index is a cache for analysis that anyone may rebuild at any
time (written to a temp file and renamed, so concurrent rebuilds never leave a torn file). Whether a
process is executing a run right now is the runner's knowledge (its claims), passed in as `liveness`:
this module reads files only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from loralab.atomic import atomic_write_parquet
from loralab.config import RunConfig
from loralab.store.frames import RunFiles, config_columns, normalise_dtypes, read_run, record_columns
from loralab.store.rundir import RunDir, Store

Liveness = Callable[[RunDir], str | None]  # the owner executing a run now, or None


@dataclass(frozen=True)
class RunRow:
    """One run as the store shows it now; `live` is True while a process holds a fresh claim on it."""

    run_id: str
    study: str
    strategy: str
    budget: str
    seed: int | None
    state: str  # pending | running | done | failed
    steps: int  # last logged optimizer step
    max_steps: int | None
    eval_loss: float | None
    loss: float | None  # last logged training loss
    wall_time: float | None  # seconds of compute, summed over resumes
    attempts: int
    error: str
    live: bool = False
    owner: str = ""

    @property
    def display_state(self) -> str:
        """`interrupted` for a run marked running that nobody is working on."""
        return "interrupted" if self.state == "running" and not self.live else self.state


def run_row(rd: RunDir, cfg: RunConfig | None = None, liveness: Liveness | None = None) -> RunRow:
    """Read one run directory (which may not exist yet, if `cfg` is given)."""
    return _row(read_run(rd, cfg), liveness)


def _row(run: RunFiles, liveness: Liveness | None) -> RunRow:
    """The row of a run read by `read_run`, with its last metrics line and its owner."""
    rd, cfg, status, record = run.rd, run.typed, run.status, run.record
    last = rd.last_metrics()
    owner = liveness(rd) if liveness is not None else None
    state = run.state
    # the planned steps: the run's own count (an epoch-based run knows it once training starts)
    max_steps = (last.max_steps if last else None) or (cfg.train.max_steps if cfg else None)
    steps = int((last.step if last else 0) or status.get("step") or status.get("steps") or 0)
    if state == "done" and max_steps and not steps:
        steps = int(max_steps)
    wall = record.total_wall_s if record else None  # compute time summed over resumes
    if wall is None and state in ("done", "failed") and status.get("finished") and status.get("started"):
        wall = float(status["finished"]) - float(status["started"])
    return RunRow(
        run_id=rd.run_id,
        study=rd.study,
        strategy=cfg.lora.strategy if cfg else "?",
        budget=cfg.lora.budget if cfg else "?",
        seed=cfg.train.seed if cfg else None,
        state=state,
        steps=steps,
        max_steps=int(max_steps) if max_steps else None,
        eval_loss=record.eval_loss if record else None,
        loss=last.loss if last is not None and last.type == "train" else None,
        wall_time=float(wall) if wall is not None else None,
        attempts=int(status.get("attempts", 0)),
        error=run.error,
        live=owner is not None,
        owner=owner or "",
    )


def study_rows(store: Store, study: str, liveness: Liveness | None = None) -> list[RunRow]:
    """Rows of every run directory of `study` in the store."""
    return [run_row(rd, liveness=liveness) for rd in store.runs(study)]


def rebuild_index(store: Store, study: str, liveness: Liveness | None = None) -> Path:
    """Rebuild `<root>/<study>/index.parquet` from the run directories; returns its path.

    One row per run: the `RunRow` columns, the config flattened (`lora.strategy`, ...) and every
    scalar field of the run record as `eval.<name>` (`eval.data.<name>` for the data stats), as the
    one reader (`loralab.store.frames`) reads them.
    """
    records = []
    for rd in store.runs(study):
        run = read_run(rd)
        row = _row(run, liveness)
        record = {k: v for k, v in asdict(row).items() if k not in ("live", "owner")}
        record["state"] = row.display_state
        records.append(record | config_columns(run) | record_columns(run))
    path = store.index_path(study)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_parquet(path, normalise_dtypes(pd.DataFrame.from_records(records)))
    return path

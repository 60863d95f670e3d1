"""What the store says about a study's runs: one `RunRow` per run, and `index.parquet` rebuilt from them.

The run directories are the truth; the index is a cache for analysis that anyone may rebuild at any
time (written to a temp file and renamed, so concurrent rebuilds never leave a torn file). Whether a
process is executing a run right now is the runner's knowledge (its claims), passed in as `liveness`:
this module reads files only.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from loralab.atomic import atomic_write_parquet
from loralab.config import RunConfig
from loralab.errors import StoreError
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
    if cfg is None:
        cfg = spec_config(rd)
    status = rd.read_status() if rd.path.exists() else {"state": "pending"}
    last = rd.last_metrics()
    record = rd.try_record()
    owner = liveness(rd) if liveness is not None else None
    state = str(status.get("state", "pending"))
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
        error=str(status.get("error", "") or ""),
        live=owner is not None,
        owner=owner or "",
    )


def study_rows(store: Store, study: str, liveness: Liveness | None = None) -> list[RunRow]:
    """Rows of every run directory of `study` in the store."""
    return [run_row(rd, liveness=liveness) for rd in store.runs(study)]


def rebuild_index(store: Store, study: str, liveness: Liveness | None = None) -> Path:
    """Rebuild `<root>/<study>/index.parquet` from the run directories; returns its path.

    One row per run: the `RunRow` columns, the resolved config flattened (`lora.strategy`, ...) and
    every scalar field of the run record as `eval.<name>` (`eval.data.<name>` for the data stats).
    """
    records = []
    for rd in store.runs(study):
        row = run_row(rd, liveness=liveness)
        record = {k: v for k, v in asdict(row).items() if k not in ("live", "owner")}
        record["state"] = row.display_state
        cfg = spec_config(rd)
        if cfg is not None:
            record.update(_flatten(cfg.model_dump(mode="json", exclude={"output", "tracking"})))
        final = rd.try_record()
        if final is not None:
            record.update(_flatten(final.to_json(), "eval."))
        records.append(record)
    df = pd.DataFrame.from_records(records)
    for col in df.columns:  # parquet wants one type per column; mixed ones become text
        kinds = {type(v) for v in df[col] if v is not None and v == v}
        if len(kinds) > 1 and not kinds <= {int, float}:
            df[col] = df[col].map(lambda v: None if v is None else str(v))
    path = store.index_path(study)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_parquet(path, df)
    return path


def spec_config(rd: RunDir) -> RunConfig | None:
    """The run's config, or None where its spec is missing, damaged or of an incompatible schema."""
    try:
        return rd.read_config()
    except StoreError:
        return None


def _flatten(tree: dict, prefix: str = "") -> dict:
    """Nested dicts to dotted columns (`pandas.json_normalize`); lists become JSON text."""
    if not tree:
        return {}
    (flat,) = pd.json_normalize(tree, sep=".").to_dict(orient="records")
    return {
        f"{prefix}{k}": json.dumps(v, sort_keys=True) if isinstance(v, list | tuple | dict) else v
        for k, v in flat.items()
    }

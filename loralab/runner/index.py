"""What the store says about a study's runs: one `RunRow` per run, and `index.parquet` rebuilt from them.

The run directories are the truth; the index is a cache for analysis that anyone may rebuild at any
time (written to a temp file and renamed, so concurrent rebuilds never leave a torn file).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from loralab.config import RunConfig
from loralab.runner.claims import DEFAULT_TIMEOUT, read_claim, stale_reason
from loralab.store import RunDir, Store, atomic_write_parquet

INDEX_FILE = "index.parquet"


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
    live: bool
    owner: str

    @property
    def display_state(self) -> str:
        """`interrupted` for a run marked running that nobody is working on."""
        return "interrupted" if self.state == "running" and not self.live else self.state


def run_row(rd: RunDir, cfg: RunConfig | None = None, claim_timeout: float = DEFAULT_TIMEOUT) -> RunRow:
    """Read one run directory (which may not exist yet, if `cfg` is given)."""
    if cfg is None:
        cfg = _spec_config(rd)
    status = rd.read_status() if rd.path.exists() else {"state": "pending"}
    last = last_metrics(rd)
    evaluation = _read_json(rd.eval) or {}
    claim = read_claim(rd.path)
    live = claim is not None and stale_reason(claim, claim_timeout) is None
    state = str(status.get("state", "pending"))
    max_steps = _first(last, evaluation, key="max_steps") or (cfg.train.max_steps if cfg else None)
    steps = int(_first(last, status, evaluation, key="step") or status.get("steps") or 0)
    if state == "done" and max_steps and not steps:
        steps = int(max_steps)
    wall = _first(evaluation, key="total_wall_s")  # compute time summed over resumes
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
        eval_loss=_eval_loss(evaluation),
        loss=float(last["loss"]) if last.get("type") == "train" and last.get("loss") is not None else None,
        wall_time=float(wall) if wall is not None else None,
        attempts=int(status.get("attempts", 0)),
        error=str(status.get("error", "") or ""),
        live=live,
        owner=claim.owner if claim and live else "",
    )


def last_metrics(rd: RunDir) -> dict[str, Any]:
    """The last complete line of metrics.jsonl (reading only the file's tail), or {}."""
    try:
        with open(rd.metrics, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 16384))
            tail = f.read().decode(errors="replace")
    except FileNotFoundError:
        return {}
    for line in reversed(tail.splitlines()):
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue  # a torn last line, or the cut at the start of the tail
        if isinstance(row, dict):
            return row
    return {}


def study_rows(store: Store, study: str, claim_timeout: float = DEFAULT_TIMEOUT) -> list[RunRow]:
    """Rows of every run directory of `study` in the store."""
    return [run_row(rd, claim_timeout=claim_timeout) for rd in store.runs(study)]


def rebuild_index(store: Store, study: str) -> Path:
    """Rebuild `<root>/<study>/index.parquet` from the run directories; returns its path."""
    import pandas as pd

    records = []
    for rd in store.runs(study):
        row = run_row(rd)
        record = {k: v for k, v in asdict(row).items() if k not in ("live", "owner")}
        record["state"] = row.display_state
        cfg = _spec_config(rd)
        if cfg is not None:
            record.update(_flatten(cfg.model_dump(mode="json", exclude={"output", "tracking"})))
        final = _read_json(rd.eval) or {}  # every scalar final metric, as `eval.<name>`
        record.update({f"eval.{k}": v for k, v in final.items() if isinstance(v, int | float | str)})
        records.append(record)
    df = pd.DataFrame.from_records(records)
    for col in df.columns:  # parquet wants one type per column; mixed ones become text
        kinds = {type(v) for v in df[col] if v is not None and v == v}
        if len(kinds) > 1 and not kinds <= {int, float}:
            df[col] = df[col].map(lambda v: None if v is None else str(v))
    path = store.root / study / INDEX_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_parquet(path, df)
    return path


def _spec_config(rd: RunDir) -> RunConfig | None:
    try:
        spec = rd.read_spec()
    except (OSError, ValueError):
        return None
    tree = spec.get("config", spec) if isinstance(spec, dict) else None
    try:
        return RunConfig.model_validate(tree)
    except ValueError:
        return None


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(_flatten(value, f"{name}."))
        elif isinstance(value, list | tuple | dict):
            out[name] = json.dumps(value, sort_keys=True)
        else:
            out[name] = value
    return out


def _first(*records: dict[str, Any], key: str) -> Any:
    for rec in records:
        if isinstance(rec, dict) and rec.get(key) is not None:
            return rec[key]
    return None


def _eval_loss(evaluation: dict[str, Any]) -> float | None:
    for key in ("eval_loss", "loss"):
        value = evaluation.get(key)
        if isinstance(value, int | float):
            return float(value)
    final = evaluation.get("final")
    return _eval_loss(final) if isinstance(final, dict) else None


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None

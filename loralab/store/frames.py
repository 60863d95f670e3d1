"""The one reader of a study's run directories: each run read once, flattened once, typed once.

`index.parquet` (`loralab.store.index`) and the analysis' runs frame (`loralab.analysis.load`, written
as `runs.parquet`) are both made from what `read_run` returns: a run's status, the config of its spec
and its final record (`RunRecord`), flattened into columns by `config_columns` and `record_columns`,
and made parquet-safe by `normalise_dtypes`. The two frames choose and name columns differently (the
index keeps every field under its dotted name, the analysis keeps the varied ones under short names);
what a run's config or record *says* is decided here only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pandas as pd

from loralab.config import RunConfig
from loralab.errors import StoreError
from loralab.record import RunRecord
from loralab.store.rundir import RunDir

# Config sections that say where a run's results go and how it is tracked, not what it ran.
NOT_RUN_CONFIG = ("output", "tracking")


@dataclass(frozen=True)
class RunFiles:
    """One run directory read once: its status, its spec's config (as written and typed), its record."""

    rd: RunDir
    status: dict[str, Any]
    config: dict[str, Any]  # the spec's config as written (fields added since at their legacy value)
    typed: RunConfig | None  # the same config validated; None where missing, damaged or incompatible
    record: RunRecord | None  # eval.json; None where missing or damaged
    problem: str = ""  # why `record` is None

    @property
    def state(self) -> str:
        """pending | running | done | failed, as status.json says (pending without one)."""
        return str(self.status.get("state", "pending"))

    @property
    def error(self) -> str:
        return str(self.status.get("error", "") or "")


def read_run(rd: RunDir, cfg: RunConfig | None = None) -> RunFiles:
    """Read a run directory's status, spec and record (it may not exist yet); with `cfg`, the run's
    config is known and spec.yaml is not read (a live view of planned runs)."""
    if cfg is not None:
        config, typed = cfg.model_dump(mode="json"), cfg
    else:
        config, typed = _read_spec(rd)
    try:
        record, problem = rd.read_record(), ""
    except StoreError as e:
        record, problem = None, str(e)
    return RunFiles(
        rd=rd, status=rd.read_status(), config=config, typed=typed, record=record, problem=problem
    )


def _read_spec(rd: RunDir) -> tuple[dict[str, Any], RunConfig | None]:
    """(the spec's config as written, the same validated); ({}, None) for a missing or damaged spec."""
    try:
        spec = rd.read_spec()
    except (OSError, ValueError, StoreError):  # a damaged spec: the run still shows, with its state
        return {}, None
    config = spec.get("config", spec)
    try:
        typed = rd.config_of(spec)
    except StoreError:  # an incompatible schema: the run shows its config as written
        typed = None
    return (config if isinstance(config, dict) else {}), typed


def config_columns(run: RunFiles) -> dict[str, Any]:
    """The run's config as dotted columns (`lora.strategy`, `train.seed`, ...), without `output` and
    `tracking`: the validated config where the spec validates, else the spec as written."""
    tree = run.typed.model_dump(mode="json") if run.typed is not None else run.config
    return flatten({k: v for k, v in tree.items() if k not in NOT_RUN_CONFIG})


def record_columns(run: RunFiles) -> dict[str, Any]:
    """Every scalar field of the run's record as `eval.<name>` (`eval.data.<name>`); none without one."""
    return flatten(run.record.to_json(), "eval.") if run.record is not None else {}


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts to dotted columns (`pandas.json_normalize`: the top level's own values first, then
    the nested fields in order; empty dicts dropped); lists and tuples become JSON text."""
    if not tree:
        return {}
    (flat,) = pd.json_normalize(tree, sep=".").to_dict(orient="records")
    return {
        f"{prefix}{k}": json.dumps(v, sort_keys=True) if isinstance(v, list | tuple | dict) else v
        for k, v in flat.items()
    }


def normalise_dtypes(frame: pd.DataFrame) -> pd.DataFrame:
    """One type per column, as parquet wants: a column mixing types (other than int and float) becomes
    text, None kept."""
    frame = frame.copy()
    for col in frame.columns:
        kinds = {type(v) for v in frame[col] if v is not None and v == v}
        if len(kinds) > 1 and not kinds <= {int, float}:
            frame[col] = frame[col].map(lambda v: None if v is None else str(v))
    return frame

"""Adaptive studies: a pilot of seeds, then more seeds only where a comparison is still unresolved.

A study file with an `adaptive:` section (`looks: [3, 6, 10]`, optional `max_runs`) is run in looks.
At look k every strategy still in play has the first `looks[k]` seeds; the study is analysed with
the verdict policy of `analysis/compare.py` at 1 − alpha/(m·K) per interval (Bonferroni over the m
comparisons and the K looks, so the family-wise error of every verdict at every look stays at
alpha); strategies whose comparisons are all resolved (better, worse, equivalent) get no more seeds.
It stops when nothing is unresolved, at the last look, or when the next look would exceed
`max_runs`. Each look is appended to `<root>/<study>/looks.jsonl` (what was run, the verdicts, what
is added and why), so a killed study resumes at the look it was in: finished looks are read back,
not re-decided, and the runner's claims run every run exactly once.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from rich.console import Console

from loralab.analysis import stats as S
from loralab.analysis.load import load_study_dir
from loralab.analysis.schema import Settings
from loralab.analysis.study_stats import study_stats
from loralab.atomic import append_jsonl, read_jsonl
from loralab.config import RunConfig
from loralab.runner.claims import DEFAULT_TIMEOUT
from loralab.runner.executors.base import Executor
from loralab.runner.scheduler import plan_runs, run_study
from loralab.runner.study import StudyConfig
from loralab.runner.study_record import save_study_record
from loralab.store import Store

LOOKS_FILE = "looks.jsonl"


class Look(BaseModel):
    """One look of an adaptive study: what ran, what was seen, what comes next and why."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    look: int = Field(description="0-based index of the look.")
    of: int = Field(description="Looks the design allows (K).")
    seeds: int = Field(description="Seeds per strategy in play at this look.")
    strategies: list[str] = Field(
        description="Strategies run up to these seeds at this look (baseline included)."
    )
    runs: int = Field(description="Runs the study holds after this look.")
    interval_confidence: float = Field(description="Confidence of each comparison's interval: 1 − α/(m·K).")
    verdicts: dict[str, str] = Field(description="Comparison id -> verdict at this look.")
    next: list[str] = Field(description="Strategies that get more seeds at the next look (empty: stop).")
    reason: str = Field(description="Why the study goes on or stops, in words.")
    finished_at: float = Field(description="Unix time the look was recorded.")


def read_looks(directory: Path) -> list[Look]:
    """The recorded looks of a study directory, in order."""
    return [Look.model_validate(row) for row in read_jsonl(directory / LOOKS_FILE)]


def _sub_study(study: StudyConfig, strategies: list[str], n_seeds: int) -> StudyConfig:
    grid = study.grid.model_copy(
        update={"strategies": tuple(strategies), "seeds": study.adaptive_seeds()[:n_seeds]}
    )
    options = {k: v for k, v in study.strategy_options.items() if k in strategies}
    return study.model_copy(update={"grid": grid, "strategy_options": options})


def _union(runs: dict[str, RunConfig], new: list[RunConfig]) -> dict[str, RunConfig]:
    return {**runs, **{cfg.run_id(): cfg for cfg in new}}


def run_adaptive(
    study: StudyConfig,
    executor: Executor,
    *,
    retry_failed: bool = False,
    claim_timeout: float = DEFAULT_TIMEOUT,
    strategy_files: tuple[str, ...] = (),
    run_fn: Any = None,
    console: Console | None = None,
    settings: Settings | None = None,
) -> int:
    """Run `study` look by look; returns 0 when it stopped by design, 1 when a run failed, 130 on Ctrl-C."""
    design = study.adaptive
    assert design is not None, "run_adaptive needs a study with an adaptive section"
    console = console or Console(stderr=True)
    K = len(design.looks)
    settings = (settings or Settings()).model_copy(update={"looks": K})
    directory = Path(study.base.output.root) / study.name
    store = Store(study.base.output.root)
    recorded = read_looks(directory) if directory.is_dir() else []
    active = sorted(set(study.strategies) | {study.baseline})
    planned: dict[str, RunConfig] = {}
    for k, n_seeds in enumerate(design.looks):
        sub = _sub_study(study, active, n_seeds)
        if k < len(recorded):  # decided before an interruption: replay it, do not decide again
            look = recorded[k]
            planned = _union(planned, plan_runs(_sub_study(study, look.strategies, look.seeds)))
            console.print(f"look {k + 1}/{K} (recorded): {look.reason}", highlight=False)
            if not look.next:
                save_study_record(study, list(planned.values()), store)
                return 0
            active = look.next
            continue
        new = _union(planned, plan_runs(sub))
        if design.max_runs is not None and len(new) > design.max_runs:
            console.print(
                f"look {k + 1}/{K}: stopped before it: {len(new)} runs would exceed max_runs ="
                f" {design.max_runs}",
                highlight=False,
            )
            return 0
        try:
            report = run_study(
                sub,
                executor,
                retry_failed=retry_failed,
                claim_timeout=claim_timeout,
                run_fn=run_fn,
                strategy_files=strategy_files,
                console=console,
            )
        except KeyboardInterrupt:
            console.print("interrupted: the same command resumes the study at this look", highlight=False)
            return 130
        planned = new
        save_study_record(study, list(planned.values()), store)  # the whole design, for analyze
        if report.failed:
            console.print(
                f"look {k + 1}/{K}: {len(report.failed)} run(s) failed; fix them and run the study again"
                " (--retry-failed): the look is decided only on complete data",
                highlight=False,
            )
            return 1
        look = _decide(study, directory, settings, k, K, n_seeds, active, len(planned))
        append_jsonl(directory / LOOKS_FILE, look.model_dump(mode="json"), sync=True)
        console.print(f"look {k + 1}/{K}: {look.reason}", highlight=False)
        if not look.next:
            return 0
        active = look.next
    return 0


def _decide(
    study: StudyConfig,
    directory: Path,
    settings: Settings,
    k: int,
    K: int,
    n_seeds: int,
    active: list[str],
    runs: int,
) -> Look:
    """Analyse the study as it stands and decide which strategies get more seeds."""
    stats = study_stats(load_study_dir(directory), settings)
    family = [c for c in stats.comparisons if c.kind == "vs_baseline"]
    unresolved = sorted({c.a for c in family if c.verdict == "unresolved"})
    if not unresolved:
        reason, nxt = f"every comparison is resolved with {n_seeds} seeds; stop", []
    elif k == K - 1:
        reason, nxt = f"{', '.join(unresolved)} still unresolved at the cap of {n_seeds} seeds; stop", []
    else:
        reason = (
            f"{', '.join(unresolved)} unresolved with {n_seeds} seeds; add seeds to them and the baseline"
        )
        nxt = sorted({*unresolved, study.baseline})
    return Look(
        look=k,
        of=K,
        seeds=n_seeds,
        strategies=active,
        runs=runs,
        interval_confidence=S.interval_confidence(settings.alpha, stats.family_size, K),
        verdicts={c.id: c.verdict for c in family},
        next=nxt,
        reason=reason,
        finished_at=time.time(),
    )

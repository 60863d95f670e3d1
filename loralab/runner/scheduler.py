"""Running a study: what is missing runs, what is done is skipped, interrupted runs resume.

`run_study` expands the study, checks it before anything runs (a user error raises before any
worker starts), submits every run that is not done to an executor and waits. Runs held by another
live process (a second `loralab study` on the same store) are waited for and resubmitted once their
claim is released or goes stale, so the call returns only when every run has an outcome.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.live import Live

from loralab.config import OutputConfig, RunConfig
from loralab.preflight import check_inputs
from loralab.run.result import is_done
from loralab.runner.claims import DEFAULT_TIMEOUT, live_owner, read_claim, stale_reason
from loralab.runner.executors import Executor
from loralab.runner.progress import ProgressLines, StudyView, format_seconds
from loralab.runner.study import StudyConfig, expand
from loralab.runner.study_record import save_study_record
from loralab.runner.worker import Outcome, RunFn, RunJob, Task
from loralab.store import Store
from loralab.store.index import RunRow, rebuild_index, run_row


@dataclass
class StudyReport:
    """What one `run_study` call did: an outcome for each run it submitted, counts for the rest."""

    study: str
    total: int
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    already_done: int = 0
    kept_failed: list[str] = field(default_factory=list)  # failed earlier and not retried
    wall_time: float = 0.0
    index: Path | None = None

    @property
    def failed(self) -> list[str]:
        """Run ids that are failed after this call (this call's failures and kept ones)."""
        return [r for r, o in self.outcomes.items() if o.state == "failed"] + self.kept_failed

    @property
    def executed(self) -> list[str]:
        """Run ids this call ran to the end."""
        return [r for r, o in self.outcomes.items() if o.state == "done"]

    @property
    def exit_code(self) -> int:
        """0 when every run is done, 1 when some failed."""
        return 1 if self.failed else 0

    def summary(self) -> str:
        """One line, e.g. `study s: 8 runs: 5 ran, 3 already done, 0 failed in 1m02s`."""
        counts = Counter(o.state for o in self.outcomes.values())
        done_before = self.already_done + counts["skipped"]
        text = (
            f"study {self.study}: {self.total} runs: {counts['done']} ran, {done_before} already done,"
            f" {len(self.failed)} failed in {format_seconds(self.wall_time)}"
        )
        if self.kept_failed:
            text += f" ({len(self.kept_failed)} failed earlier; --retry-failed reruns them)"
        return text


def plan_runs(study: StudyConfig) -> list[RunConfig]:
    """The study's run configs with the store root made absolute (workers may run elsewhere)."""
    root = str(Path(study.base.output.root).expanduser().resolve())
    return [
        cfg.model_copy(update={"output": OutputConfig(root=root, study=study.name)}) for cfg in expand(study)
    ]


def check_strategies(
    study: StudyConfig, strategy_files: tuple[str, ...] = (), *, options: bool = True
) -> None:
    """Raise StrategyError for an unknown strategy (or, with `options`, invalid options) in any run."""
    from loralab.allocation import check_strategy
    from loralab.strategies import get_strategy, load_strategy_file

    for path in strategy_files:
        load_strategy_file(path)
    for cfg in plan_runs(study):
        if options:
            check_strategy(cfg)
        else:
            get_strategy(cfg.lora.strategy)


def run_study(
    study: StudyConfig,
    executor: Executor,
    *,
    retry_failed: bool = False,
    claim_timeout: float = DEFAULT_TIMEOUT,
    run_fn: RunFn | None = None,
    strategy_files: tuple[str, ...] = (),
    console: Console | None = None,
    live: bool | None = None,
    wait_poll: float = 2.0,
    progress_every: float = 30.0,
) -> StudyReport:
    """Run every run of `study` that is not done; returns when each has an outcome."""
    t0 = time.monotonic()
    runs = plan_runs(study)  # ConfigError here, before anything runs
    # names always; options only for the real pipeline (a custom run_fn may read options of its own)
    check_strategies(study, tuple(str(Path(p).resolve()) for p in strategy_files), options=run_fn is None)
    if run_fn is None:  # every distinct data file and model, once, before anything is written
        for cfg in {(c.data.source, c.model.name): c for c in runs}.values():
            check_inputs(cfg)
    store = Store(runs[0].output.root)
    save_study_record(study, runs, store)  # the expected grid, for `loralab analyze DIR`
    console = console or Console(stderr=True)
    report = StudyReport(study.name, len(runs))
    by_id = {cfg.run_id(): cfg for cfg in runs}
    todo: list[str] = []
    for rid in by_id:
        rd = store.run_dir(study.name, rid)
        state = rd.state
        if is_done(rd):
            report.already_done += 1
        elif state == "failed" and not retry_failed:
            report.kept_failed.append(rid)
        else:
            todo.append(rid)
    job = RunJob(
        run_fn=run_fn,
        retry_failed=retry_failed,
        claim_timeout=claim_timeout,
        strategy_files=tuple(str(Path(p).resolve()) for p in strategy_files),
    )
    console.print(
        f"study {study.name}: {len(runs)} runs, {report.already_done} done, {len(todo)} to run"
        f" ({executor.describe()}); store {store.root / study.name}",
        soft_wrap=True,
        highlight=False,
    )
    n_todo = len(todo)
    view = StudyView(store, study.name, runs, executor.slots, executor.describe(), claim_timeout)
    use_live = console.is_terminal if live is None else live
    waiting: list[str] = []  # held by another live process
    if use_live and todo:
        shown: AbstractContextManager = Live(view, console=console, refresh_per_second=2)
    elif todo and progress_every > 0:  # piped or logged: a plain line now and then, not a terminal bar
        shown = ProgressLines(view, console, progress_every)
    else:
        shown = nullcontext()
    with shown:
        while todo or waiting:
            tasks = [Task(by_id[rid].model_dump(mode="json"), rid, uuid.uuid4().hex[:12]) for rid in todo]
            for outcome in executor.run(job, tasks):
                view.slots = executor.slots  # a Ray executor knows its cluster's size once started
                if outcome.state == "busy":
                    waiting.append(outcome.run_id)
                    continue
                report.outcomes[outcome.run_id] = outcome
                if not use_live:
                    row = run_row(
                        store.run_dir(study.name, outcome.run_id),
                        by_id[outcome.run_id],
                        live_owner(claim_timeout),
                    )
                    line = _outcome_line(outcome, row, len(report.outcomes), n_todo)
                    console.print(line, soft_wrap=True, highlight=False)
            todo, waiting = _wait_for_claims(store, study.name, waiting, claim_timeout, wait_poll)
    report.index = rebuild_index(store, study.name, live_owner(claim_timeout))
    report.wall_time = time.monotonic() - t0
    return report


def _wait_for_claims(
    store: Store, study: str, run_ids: list[str], timeout: float, poll: float
) -> tuple[list[str], list[str]]:
    """Block until some of the busy runs are free (claim released or stale): (free, still busy)."""
    while run_ids:
        free = []
        for rid in run_ids:
            claim = read_claim(store.run_dir(study, rid).path)
            if claim is None or stale_reason(claim, timeout) is not None:
                free.append(rid)
        if free:
            return free, [r for r in run_ids if r not in free]
        time.sleep(poll)
    return [], []


def _outcome_line(o: Outcome, row: RunRow, n: int, total: int) -> str:
    what = f"{o.run_id} {row.strategy} {row.budget} seed={row.seed}"
    if o.state == "done":
        loss = f" eval loss {row.eval_loss:.4f}" if row.eval_loss is not None else ""
        return f"[{n}/{total}] done {what}{loss} ({format_seconds(o.wall_time)})"
    return f"[{n}/{total}] {o.state} {what} ({format_seconds(o.wall_time)}): {o.detail}"

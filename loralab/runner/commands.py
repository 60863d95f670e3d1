"""The `loralab study`, `status` and `run` commands, as functions `cli.py` calls with parsed options."""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from loralab.config import RunConfig
from loralab.errors import ConfigError, LoralabError, StoreError
from loralab.fingerprint import check_spec
from loralab.preflight import check_inputs
from loralab.run.result import is_done
from loralab.runner.claims import DEFAULT_TIMEOUT, Claim, live_owner
from loralab.runner.executors import Executor, LocalExecutor, RayExecutor
from loralab.runner.progress import STATE_STYLE, format_seconds
from loralab.runner.scheduler import plan_runs, run_study
from loralab.runner.study import SAVED_STUDY, load_study
from loralab.runner.worker import run_claimed
from loralab.store import Store
from loralab.store.index import RunRow, rebuild_index, run_row, study_rows


def make_executor(
    kind: str,
    *,
    workers: int = 1,
    address: str | None = None,
    cpus_per_run: float = 1.0,
    gpus_per_run: float = 0.0,
    max_retries: int = 3,
) -> Executor:
    """The executor named `kind` ('local' or 'ray') with its options; errors name the CLI's flags."""
    if workers < 1:
        raise LoralabError(f"--workers must be at least 1 (got {workers})")
    if cpus_per_run <= 0 or gpus_per_run < 0:
        raise LoralabError("--cpus-per-run must be > 0 and --gpus-per-run >= 0")
    if kind == "local":
        if address:
            raise LoralabError("--address needs --executor ray")
        return LocalExecutor(workers)
    if kind == "ray":
        if importlib.util.find_spec("ray") is None:
            raise LoralabError(
                "--executor ray needs Ray: pip install 'loralab[ray]' (or use --executor local)"
            )
        # Without an address Ray starts in this process; --workers then sizes it.
        num_cpus = None if address else max(1, round(workers * cpus_per_run))
        return RayExecutor(
            address,
            cpus_per_run=cpus_per_run,
            gpus_per_run=gpus_per_run,
            max_retries=max_retries,
            num_cpus=num_cpus,
        )
    raise LoralabError(f"--executor {kind!r} is not known; use 'local' or 'ray'")


def study_command(
    study_file: Path,
    overrides: list[str],
    executor: Executor,
    *,
    retry_failed: bool = False,
    claim_timeout: float = DEFAULT_TIMEOUT,
    strategy_files: tuple[str, ...] = (),
    console: Console | None = None,
) -> int:
    """Run a study file's missing runs and print the summary; returns the exit code (0, or 1 on failures)."""
    study = load_study(study_file, overrides)
    console = console or Console(stderr=True)
    try:
        report = run_study(
            study,
            executor,
            retry_failed=retry_failed,
            claim_timeout=claim_timeout,
            strategy_files=strategy_files,
            console=console,
        )
    except KeyboardInterrupt:  # the executor has stopped its workers on the way out
        console.print("interrupted: the same command resumes the study where it stopped", highlight=False)
        return 130
    for rid in report.failed:
        outcome = report.outcomes.get(rid)
        reason = outcome.detail if outcome else "failed earlier"
        console.print(f"[red]failed[/red] {rid}: {reason}", highlight=False)
    console.print(report.summary(), highlight=False)
    if report.index:
        console.print(f"index: {report.index}", highlight=False)
    return report.exit_code


def status_command(
    target: str, root: Path | None = None, console: Console | None = None, overrides: list[str] | None = None
) -> int:
    """Print the table of a study's runs (from a study file or a study name in the store)."""
    console = console or Console()
    if not console.is_terminal:  # piped or captured: do not squeeze the table into 80 columns
        console.width = max(console.width, 160)
    rows, study, store = _status_rows(target, root, overrides or [])
    table = Table(title=f"study {study} ({store.root / study})", header_style="bold")
    for col in ("run", "strategy", "budget", "seed", "state", "steps", "eval loss", "wall"):
        table.add_column(col, justify="right" if col in ("seed", "steps", "eval loss", "wall") else "left")
    for r in rows:
        table.add_row(
            r.run_id,
            r.strategy,
            r.budget,
            "" if r.seed is None else str(r.seed),
            Text(r.display_state, style=STATE_STYLE.get(r.display_state, "")),
            f"{r.steps}/{r.max_steps}" if r.max_steps else str(r.steps),
            "" if r.eval_loss is None else f"{r.eval_loss:.4f}",
            format_seconds(r.wall_time) if r.wall_time is not None else "",
        )
    console.print(table)
    counts = Counter(r.display_state for r in rows)
    console.print(", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "no runs", highlight=False)
    if (store.root / study).is_dir():
        console.print(f"index: {rebuild_index(store, study, live_owner())}", highlight=False)
    return 0


def _status_rows(target: str, root: Path | None, overrides: list[str]) -> tuple[list[RunRow], str, Store]:
    path = Path(target)
    if path.suffix in (".yaml", ".yml") or path.is_file() or (path / SAVED_STUDY).is_file():
        study = load_study(path, overrides)
        runs = plan_runs(study)
        store = Store(runs[0].output.root)
        rows = [run_row(store.run_dir(study.name, c.run_id()), c, live_owner()) for c in runs]
        planned = {r.run_id for r in rows}
        # Runs of earlier versions of the grid stay in the store; show them after the planned ones.
        rows += [r for r in study_rows(store, study.name, live_owner()) if r.run_id not in planned]
        return rows, study.name, store
    store = Store(root or "runs")
    if target not in store.studies():
        known = ", ".join(store.studies()) or "none"
        raise ConfigError(f"no study {target!r} in store {store.root} (studies there: {known})")
    return study_rows(store, target, live_owner()), target, store


def run_command(cfg: RunConfig, claim_timeout: float = DEFAULT_TIMEOUT) -> Any:
    """`loralab run`: one run under the same per-run claim a study takes (`worker.run_claimed`), so that
    a run a study (or another `loralab run`) is executing is never executed twice at the same time.

    Unlike a study worker it reruns a failed run, leaves the output on the terminal and raises the
    run's error (a busy run is a StoreError)."""
    from loralab.allocation import check_strategy
    from loralab.experiment import execute_run

    strategy = check_strategy(cfg)  # before the claim creates the run directory; once per run
    rd = Store(cfg.output.root).run_dir(cfg.output.study, cfg.run_id())
    if is_done(rd):
        return execute_run(cfg)  # reports "already done" and touches nothing
    check_inputs(cfg)
    if rd.spec.exists():  # a damaged or foreign run directory: refused before the claim writes in it
        check_spec(rd.read_spec(), rd.run_id, cfg.input_fingerprints(), str(rd.path))
    created = [p for p in (rd.path, rd.path.parent, rd.path.parent.parent) if not p.exists()]
    run_fn = functools.partial(execute_run, strategy=strategy)
    try:
        attempt = run_claimed(
            cfg, rd, Claim(rd.path, timeout=claim_timeout), run_fn, retry_failed=True, output=None
        )
    except BaseException:
        _remove_unstarted(rd, created)
        raise
    if attempt.error is not None:
        _remove_unstarted(rd, created)
    if attempt.state == "busy":
        raise StoreError(
            f"run {rd.path} is being executed by {attempt.detail}; wait for it (`loralab show {rd.path}`)"
            f" or, if that process is gone, retry after its claim goes stale ({claim_timeout:.0f}s)"
        )
    if attempt.error is not None:
        raise attempt.error
    return attempt.result


def dry_run_command(cfg: RunConfig) -> str:
    """`loralab run --dry-run`: the checks `run_command` makes before its claim (strategy and options,
    data records, model file headers, hub reachability, an existing run directory's spec), writing
    nothing; returns the run id and a one-line summary."""
    from loralab.allocation import check_strategy

    check_strategy(cfg)
    rd = Store(cfg.output.root).run_dir(cfg.output.study, cfg.run_id())
    done = is_done(rd)
    if not done:
        check_inputs(cfg)
        if rd.spec.exists():
            check_spec(rd.read_spec(), rd.run_id, cfg.input_fingerprints(), str(rd.path))
    state = "already done" if done else "would run"
    return (
        f"run id {cfg.run_id()} ({state}): model {cfg.model.name}, data {cfg.data.source},"
        f" strategy {cfg.lora.strategy}, budget {cfg.lora.budget} -> {rd.path}"
    )


def _remove_unstarted(rd: Any, created: list[Path]) -> None:
    """Remove what this `loralab run` created for a run that failed before its spec was written (only
    its own attempt log is there): a bad input leaves the store as it was."""
    if rd.path in created and not rd.spec.exists() and not rd.claim.exists():
        shutil.rmtree(rd.path, ignore_errors=True)
    for p in created[1:]:
        with contextlib.suppress(OSError):
            if {c.name for c in p.iterdir()} <= {".cache"}:  # a study dir made now: only its cache
                shutil.rmtree(p / ".cache", ignore_errors=True)
            p.rmdir()  # only if empty

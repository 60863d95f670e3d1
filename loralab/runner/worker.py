"""What a worker does with one run: claim it, skip or run it, record the attempt, release the claim.

This is the function every executor ships to its workers (a process of the local pool or a Ray
task), so it takes and returns plain picklable data. Importing this module does not import torch.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from loralab.config import RunConfig
from loralab.runner.claims import DEFAULT_TIMEOUT, HOST, Claim, ClaimLost
from loralab.store import RunDir, Store

OutcomeState = Literal["done", "skipped", "failed", "busy"]


class RunResultLike(Protocol):
    skipped: bool

    def summary(self) -> str: ...


RunFn = Callable[..., RunResultLike]  # run_fn(config, *, heartbeat) -> RunResult


@dataclass(frozen=True)
class Task:
    """One run to execute: its resolved config as JSON data, and the token of this submission."""

    spec: dict[str, Any]
    run_id: str
    token: str


@dataclass(frozen=True)
class Outcome:
    """How a task ended: done (ran to the end), skipped (already done), failed, or busy (held)."""

    run_id: str
    state: OutcomeState
    detail: str = ""  # the error, the holder of a busy claim, or the run's one-line summary
    wall_time: float = 0.0  # seconds this attempt took
    host: str = ""
    pid: int = 0


@dataclass(frozen=True)
class RunJob:
    """The picklable job an executor runs for each task (a partial of `run_task` with settings)."""

    run_fn: RunFn | None = None  # None: loralab.experiment.execute_run, imported in the worker
    retry_failed: bool = False
    claim_timeout: float = DEFAULT_TIMEOUT
    strategy_files: tuple[str, ...] = ()
    default_threads: int | None = None  # torch threads when the run's train.threads is unset

    def __call__(self, task: Task) -> Outcome:
        return run_task(task, self)


def run_task(task: Task, job: RunJob) -> Outcome:
    """Execute one run exactly once across all workers sharing the store; never raises for run errors."""
    t0 = time.monotonic()
    cfg = RunConfig.model_validate(task.spec)
    if cfg.run_id() != task.run_id:  # an input file was rewritten after planning: never mix contents
        return _outcome(
            task, "failed", "its input files changed since the study was planned; run it again", t0
        )
    rd = Store(cfg.output.root).run_dir(cfg.output.study, task.run_id)
    claim = Claim(rd.path, timeout=job.claim_timeout, token=task.token)
    if not claim.try_acquire():
        holder = claim.holder.owner if claim.holder else "another process"
        return _outcome(task, "busy", f"held by {holder}", t0)
    try:
        state = rd.state
        if state == "done":
            return _outcome(task, "skipped", "already done", t0)
        if state == "failed" and not job.retry_failed:
            error = rd.read_status().get("error", "")
            return _outcome(task, "failed", f"failed earlier (kept; --retry-failed reruns it): {error}", t0)
        pin_threads(cfg.train.threads or job.default_threads)
        for path in job.strategy_files:
            from loralab.strategies import load_strategy_file

            load_strategy_file(path)
        run_fn = job.run_fn or _default_run_fn()
        _log(rd, "start", claim, state_before=state, takeover=claim.takeover)
        try:
            with _output_to(rd.log, f"attempt by {claim.owner} ({state})"):
                result = run_fn(cfg, heartbeat=claim.check)
        except ClaimLost as e:
            _log(rd, "lost", claim)
            return _outcome(task, "failed", str(e), t0)
        except Exception as e:
            _log(rd, "failed", claim, error=_one_line(e))
            if not rd.status_file.exists():  # failed before its run directory was set up (a budget the
                rd.set_status("failed", error=_one_line(e))  # model cannot hold): the grid point keeps why
            return _outcome(task, "failed", _one_line(e), t0)
        _log(rd, "finish", claim, skipped=bool(result.skipped))
        return _outcome(task, "skipped" if result.skipped else "done", result.summary(), t0)
    finally:
        claim.release()


def pin_threads(threads: int | None) -> None:
    """Set torch's CPU thread count (and OpenMP's, for libraries initialised later)."""
    if not threads:
        return
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)
    import torch

    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


@contextmanager
def _output_to(path: Path, header: str) -> Iterator[None]:
    """Send this process's stdout and stderr (file descriptors, so C output too) to `path`.

    Keeps a worker's warnings and progress bars out of the study's live view, and next to the run.
    """
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    saved = [os.dup(1), os.dup(2)]
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} {header}\n".encode())
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        yield
    finally:
        for stream in (sys.stdout, sys.stderr):
            with suppress(Exception):
                stream.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for f in (*saved, fd):
            os.close(f)


def _default_run_fn() -> RunFn:
    from loralab.experiment import execute_run

    return execute_run


def _log(rd: RunDir, event: str, claim: Claim, **fields: Any) -> None:
    rd.append_execution(
        {"event": event, "time": time.time(), "owner": claim.owner, "token": claim.token, **fields}
    )


def _outcome(task: Task, state: OutcomeState, detail: str, t0: float) -> Outcome:
    return Outcome(task.run_id, state, detail, time.monotonic() - t0, HOST, os.getpid())


def _one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0]}" if text else type(e).__name__

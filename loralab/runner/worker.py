"""What a worker does with one run: claim it, skip or run it, record the attempt, release the claim.

This is the function every executor ships to its workers (a process of the local pool or a Ray
task), so it takes and returns plain picklable data. Importing this module does not import torch.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from loralab.config import RunConfig
from loralab.errors import StoreError
from loralab.run.result import is_done
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
        detail = "its input files changed since the study was planned; run it again"
        return Outcome(task.run_id, "failed", detail, time.monotonic() - t0, HOST, os.getpid())
    rd = Store(cfg.output.root).run_dir(cfg.output.study, task.run_id)
    pin_threads(cfg.train.threads or job.default_threads)
    for path in job.strategy_files:
        from loralab.strategies import load_strategy_file

        load_strategy_file(path)
    attempt = run_claimed(
        cfg,
        rd,
        Claim(rd.path, timeout=job.claim_timeout, token=task.token),
        job.run_fn or _default_run_fn(),
        retry_failed=job.retry_failed,
        output=rd.log,
    )
    if attempt.error is not None and not rd.status_file.exists():
        # failed before its run directory was set up (a budget the model cannot hold): the grid point
        # keeps its reason, and is not retried without --retry-failed
        rd.set_status("failed", error=attempt.detail)
    return Outcome(task.run_id, attempt.state, attempt.detail, time.monotonic() - t0, HOST, os.getpid())


@dataclass(frozen=True)
class Attempt:
    """What `run_claimed` did: the state, a one-line detail, the run's result or the error it raised."""

    state: OutcomeState
    detail: str = ""
    result: RunResultLike | None = None
    error: Exception | None = None


def run_claimed(
    cfg: RunConfig, rd: RunDir, claim: Claim, run_fn: RunFn, *, retry_failed: bool, output: Path | None
) -> Attempt:
    """Run `cfg` (in `rd`) under `claim`, the one path of `loralab run` and of every study worker.

    Acquires the claim (busy: another process holds it), skips a done run, keeps a failed one unless
    `retry_failed`, else runs `run_fn(cfg, heartbeat=claim.check)` with its output appended to
    `output` (None: left where it goes), logs the attempt in executions.jsonl and releases the
    claim. A run's error comes back in `Attempt.error`, not raised; an interrupt is raised.
    """
    try:
        acquired = claim.try_acquire()
    except OSError as e:
        raise StoreError(f"cannot create run directory {rd.path}: {e.strerror}; check output.root") from None
    if not acquired:
        return Attempt("busy", claim.holder.owner if claim.holder else "another process")
    try:
        if is_done(rd):
            return Attempt("skipped", "already done")
        state = rd.state
        if state == "failed" and not retry_failed:
            error = rd.read_status().get("error", "")
            return Attempt("failed", f"failed earlier (kept; --retry-failed reruns it): {error}")
        _log(rd, "start", claim, state_before=state, takeover=claim.takeover)
        header = f"attempt by {claim.owner} ({state})"
        try:
            with _output_to(output, header) if output is not None else nullcontext():
                result = run_fn(cfg, heartbeat=claim.check)
        except ClaimLost as e:
            _log(rd, "lost", claim)
            return Attempt("failed", str(e), error=e)
        except Exception as e:
            _log(rd, "failed", claim, error=_one_line(e))
            return Attempt("failed", _one_line(e), error=e)
        _log(rd, "finish", claim, skipped=bool(result.skipped))
        return Attempt("skipped" if result.skipped else "done", result.summary(), result=result)
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


def _one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0]}" if text else type(e).__name__

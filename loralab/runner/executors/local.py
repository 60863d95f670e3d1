"""The local executor: a pool of spawned worker processes on this machine.

Each worker is pinned to its share of the CPU threads, or to one GPU (CUDA_VISIBLE_DEVICES) when GPUs
are visible, and dies with the study process (PR_SET_PDEATHSIG plus a parent watchdog), so a killed
study leaves no orphans. Parent and workers talk through two queues with a small typed protocol:

    parent -> worker   Assign(index, task) ... then one Stop() per worker
    worker -> parent   Started(slot, index), then Finished(slot, index, outcome)

A worker that dies between Started and Finished is reported as a failed outcome and replaced.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing as mp
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from loralab.errors import LoralabError
from loralab.runner.executors.base import Executor, available_cpus, visible_gpus
from loralab.runner.worker import HOST, Outcome, RunJob, Task


@dataclass(frozen=True)
class Assign:
    """Parent to worker: execute `task`, the `index`-th of this batch."""

    index: int
    task: Task


@dataclass(frozen=True)
class Stop:
    """Parent to worker: no more tasks; exit."""


@dataclass(frozen=True)
class Started:
    """Worker to parent: the worker in `slot` began task `index`."""

    slot: int
    index: int


@dataclass(frozen=True)
class Finished:
    """Worker to parent: task `index` ended with `outcome`."""

    slot: int
    index: int
    outcome: Outcome


class LocalExecutor(Executor):
    """`workers` processes on this machine; each gets cores // workers threads or one GPU."""

    name = "local"

    def __init__(
        self,
        workers: int = 1,
        *,
        gpus: Sequence[str] | None = None,
        poll: float = 0.2,
        exit_wait: float = 10.0,
    ):
        if workers < 1:
            raise LoralabError(f"a local executor needs at least 1 worker (got {workers})")
        self.workers = workers
        self.slots = workers
        self.gpus = list(visible_gpus() if gpus is None else gpus)
        self.threads = max(1, available_cpus() // workers)
        self.poll = poll
        self.exit_wait = exit_wait  # s a worker may take to exit by itself after the last task

    def describe(self) -> str:
        where = f"GPUs {','.join(self.gpus)}" if self.gpus else f"{self.threads} CPU thread(s) each"
        return f"local: {self.workers} worker process(es), {where}"

    def _env(self, slot: int) -> dict[str, str]:
        env = {"OMP_NUM_THREADS": str(self.threads), "MKL_NUM_THREADS": str(self.threads)}
        if self.gpus:  # one GPU per worker, round robin when there are more workers than GPUs
            env["CUDA_VISIBLE_DEVICES"] = self.gpus[slot % len(self.gpus)]
        return env

    def run(self, job: RunJob, tasks: Sequence[Task]) -> Iterator[Outcome]:
        if not tasks:
            return
        job = replace(job, default_threads=job.default_threads or self.threads)
        ctx = mp.get_context("spawn")  # fork would copy the parent's threads and torch state
        task_q: Any = ctx.Queue()
        result_q: Any = ctx.Queue()
        for i, task in enumerate(tasks):
            task_q.put(Assign(i, task))
        n = min(self.workers, len(tasks))
        for _ in range(n):
            task_q.put(Stop())

        def start(slot: int) -> Any:
            p = ctx.Process(
                target=_worker_main,
                args=(slot, job, task_q, result_q, self._env(slot), os.getpid()),
                name=f"loralab-worker-{slot}",
                daemon=False,  # a run may start its own processes (data loaders); we stop workers
            )
            p.start()
            return p

        procs = {slot: start(slot) for slot in range(n)}
        busy: dict[int, int] = {}  # slot -> index of the task it works on
        remaining = set(range(len(tasks)))
        finished = False
        try:
            while remaining:
                try:
                    msg = result_q.get(timeout=self.poll)
                except queue.Empty:
                    msg = None
                if msg is not None:
                    out = _handle(msg, busy, remaining)
                    if out is not None:
                        yield out
                    continue
                for slot, p in list(procs.items()):
                    if p.is_alive() or slot not in busy:
                        continue
                    # Its last messages may still be in the pipe: read them before judging.
                    yield from _drained(result_q, busy, remaining)
                    if slot in busy:
                        i = busy.pop(slot)
                        remaining.discard(i)
                        yield Outcome(
                            tasks[i].run_id,
                            "failed",
                            f"worker process died (exit code {p.exitcode}); the run resumes from its"
                            " checkpoint on the next `loralab study`",
                            host=HOST,
                            pid=p.pid or 0,
                        )
                        if remaining:  # the dead worker never took its stop sentinel: replace it
                            procs[slot] = start(slot)
                if remaining and not busy and not any(p.is_alive() for p in procs.values()):
                    # Every worker died before reporting a task (e.g. it could not unpickle its job):
                    # no one will take the rest, so fail them rather than wait forever.
                    yield from _drained(result_q, busy, remaining)
                    codes = ", ".join(str(p.exitcode) for p in procs.values())
                    for i in sorted(remaining - set(busy.values())):
                        remaining.discard(i)
                        yield Outcome(
                            tasks[i].run_id,
                            "failed",
                            f"every worker process exited (exit codes {codes}) before starting it",
                            host=HOST,
                        )
            finished = True
        finally:
            # Done: each worker takes its Stop and exits by itself. Interrupted: stop them now.
            _stop_processes(list(procs.values()), exit_wait=self.exit_wait if finished else 0.0)
            for q in (task_q, result_q):
                q.cancel_join_thread()
                q.close()


def _drained(result_q: Any, busy: dict[int, int], remaining: set[int]) -> Iterator[Outcome]:
    """The outcomes of the messages still in the result queue (handled as they would have been)."""
    for msg in _drain(result_q):
        out = _handle(msg, busy, remaining)
        if out is not None:
            yield out


def _handle(msg: Started | Finished, busy: dict[int, int], remaining: set[int]) -> Outcome | None:
    if isinstance(msg, Started):
        busy[msg.slot] = msg.index
        return None
    busy.pop(msg.slot, None)
    remaining.discard(msg.index)
    return msg.outcome


def _drain(q: Any) -> Iterator[Any]:
    while True:
        try:
            yield q.get(timeout=0.05)
        except queue.Empty:
            return


def _stop_processes(procs: list[Any], exit_wait: float = 0.0, grace: float = 5.0) -> None:
    """Let workers exit by themselves for `exit_wait` s, then SIGTERM, then SIGKILL after `grace` s.

    A worker that exits by itself runs its finalizers: semaphores it made (tqdm's lock, a run's data
    loaders) are unregistered from the resource tracker, which otherwise warns at the study's end
    that it had to clean up "leaked semaphore objects" of the terminated workers.
    """
    deadline = time.monotonic() + exit_wait
    for p in procs:
        p.join(max(0.0, deadline - time.monotonic()))
    for p in procs:
        if p.is_alive():
            p.terminate()
    deadline = time.monotonic() + grace
    for p in procs:
        p.join(max(0.0, deadline - time.monotonic()))
        if p.is_alive():
            p.kill()
            p.join()


def _worker_main(
    slot: int, job: RunJob, task_q: Any, result_q: Any, env: dict[str, str], parent: int
) -> None:
    os.environ.update(env)  # before anything in this process initialises OpenMP or CUDA
    _die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the study, which stops us
    while True:
        item: Assign | Stop = task_q.get()
        if isinstance(item, Stop):
            return
        result_q.put(Started(slot, item.index))
        try:
            outcome = job(item.task)
        except BaseException as e:  # a bug in the job itself: report it rather than hang the study
            outcome = Outcome(
                item.task.run_id, "failed", f"{type(e).__name__}: {e}", host=HOST, pid=os.getpid()
            )
        result_q.put(Finished(slot, item.index, outcome))


def _die_with_parent(parent: int) -> None:
    """End this worker when the study process dies, however it dies."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watchdog", daemon=True).start()

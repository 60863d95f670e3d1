"""The local executor: a pool of spawned worker processes on this machine.

Each worker is pinned to its share of the CPU threads, or to one GPU (CUDA_VISIBLE_DEVICES) when GPUs
are visible, and dies with the study process (PR_SET_PDEATHSIG plus a parent watchdog), so a killed
study leaves no orphans. The parent holds one duplex pipe per worker and hands out tasks on demand,
with a small typed protocol:

    parent -> worker   Assign(index, task) when the worker is idle; Stop() when no task is left
    worker -> parent   Started(index), then Finished(index, outcome)

The parent waits on the pipes and on the processes' sentinels together
(`multiprocessing.connection.wait`), so a dead worker is seen at once, not by polling. A worker that
dies between Started and Finished is reported as a failed outcome and replaced; a task handed to a
worker that died before starting it goes to the next worker. Pipes need no semaphores and no feeder
threads, so the parent has nothing for the resource tracker to clean up after it.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection, wait
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
    """Worker to parent: the worker began task `index`."""

    index: int


@dataclass(frozen=True)
class Finished:
    """Worker to parent: task `index` ended with `outcome`."""

    index: int
    outcome: Outcome


@dataclass
class _Worker:
    """The parent's view of one worker process: its pipe and the task it was handed."""

    process: Any
    conn: Connection
    index: int | None = None  # the task sent to it and not yet finished
    started: bool = False  # it reported Started for `index`
    alive: bool = True


class LocalExecutor(Executor):
    """`workers` processes on this machine; each gets cores // workers threads or one GPU."""

    name = "local"

    def __init__(
        self,
        workers: int = 1,
        *,
        gpus: Sequence[str] | None = None,
        exit_wait: float = 10.0,
    ):
        if workers < 1:
            raise LoralabError(f"a local executor needs at least 1 worker (got {workers})")
        self.workers = workers
        self.slots = workers
        self.gpus = list(visible_gpus() if gpus is None else gpus)
        self.threads = max(1, available_cpus() // workers)
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
        pending = deque(range(len(tasks)))  # not yet handed to a worker, in order
        remaining = set(range(len(tasks)))  # without an outcome

        def start(slot: int) -> _Worker:
            conn, child = ctx.Pipe()
            p = ctx.Process(
                target=_worker_main,
                args=(job, child, self._env(slot), os.getpid()),
                name=f"loralab-worker-{slot}",
                daemon=False,  # a run may start its own processes (data loaders); we stop workers
            )
            p.start()
            child.close()  # the worker holds the only other end: its death reads as EOF here
            w = _Worker(p, conn)
            _hand_out(w, tasks, pending)
            return w

        slots = [start(slot) for slot in range(min(self.workers, len(tasks)))]
        everyone = [w.process for w in slots]
        finished = False
        try:
            while remaining:
                live = [w for w in slots if w.alive]
                if not live:  # every worker died before starting these: no one will take them
                    codes = ", ".join(str(w.process.exitcode) for w in slots)
                    for i in sorted(remaining):
                        remaining.discard(i)
                        yield Outcome(
                            tasks[i].run_id,
                            "failed",
                            f"every worker process exited (exit codes {codes}) before starting it",
                            host=HOST,
                        )
                    break
                ready = wait([w.conn for w in live] + [w.process.sentinel for w in live])
                for slot, w in enumerate(slots):
                    if not w.alive or (w.conn not in ready and w.process.sentinel not in ready):
                        continue
                    yield from _served(w, tasks, pending, remaining)
                    if w.process.sentinel in ready:
                        w.process.join()
                        yield from _buried(w, tasks, pending, remaining)
                        if w.started and pending:  # it died running a task: replace it
                            slots[slot] = start(slot)
                            everyone.append(slots[slot].process)
            finished = True
        finally:
            # Done: each worker takes its Stop and exits by itself. Interrupted: stop them now.
            _stop_processes(everyone, exit_wait=self.exit_wait if finished else 0.0)
            for w in slots:
                w.conn.close()


def _hand_out(w: _Worker, tasks: Sequence[Task], pending: deque[int]) -> None:
    """Send idle worker `w` the next pending task, or Stop when none is left."""
    i = pending.popleft() if pending else None
    try:
        w.conn.send(Stop() if i is None else Assign(i, tasks[i]))
    except OSError:  # it is dead already; its sentinel says so next
        if i is not None:
            pending.appendleft(i)
        i = None
    w.index, w.started = i, False


def _served(w: _Worker, tasks: Sequence[Task], pending: deque[int], remaining: set[int]) -> Iterator[Outcome]:
    """Handle every message waiting in `w`'s pipe; a Finished hands it its next task."""
    while True:
        try:
            if not w.conn.poll():
                return
            msg: Started | Finished = w.conn.recv()
        except (EOFError, OSError):  # the worker is gone; its sentinel is ready too
            return
        if isinstance(msg, Started):
            w.started = True
            continue
        remaining.discard(msg.index)
        _hand_out(w, tasks, pending)
        yield msg.outcome


def _buried(w: _Worker, tasks: Sequence[Task], pending: deque[int], remaining: set[int]) -> Iterator[Outcome]:
    """`w` has exited: fail the task it was running, or give back one it never started."""
    w.alive = False
    w.conn.close()
    if w.index is None:
        return
    if not w.started:
        pending.appendleft(w.index)
        return
    remaining.discard(w.index)
    yield Outcome(
        tasks[w.index].run_id,
        "failed",
        f"worker process died (exit code {w.process.exitcode}); the run resumes from its"
        " checkpoint on the next `loralab study`",
        host=HOST,
        pid=w.process.pid or 0,
    )


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


def _worker_main(job: RunJob, conn: Connection, env: dict[str, str], parent: int) -> None:
    os.environ.update(env)  # before anything in this process initialises OpenMP or CUDA
    _die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the study, which stops us
    while True:
        try:
            item: Assign | Stop = conn.recv()
        except EOFError:  # the study closed our pipe
            return
        if isinstance(item, Stop):
            return
        conn.send(Started(item.index))
        try:
            outcome = job(item.task)
        except BaseException as e:  # a bug in the job itself: report it rather than hang the study
            outcome = Outcome(
                item.task.run_id, "failed", f"{type(e).__name__}: {e}", host=HOST, pid=os.getpid()
            )
        conn.send(Finished(item.index, outcome))


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

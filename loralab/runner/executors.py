"""Executors: where the runs of a study execute. One small interface, two implementations.

- `LocalExecutor(workers)`: N spawned worker processes on this machine, each pinned to its share of
  the CPU threads, or to one GPU each (CUDA_VISIBLE_DEVICES) when GPUs are visible. Workers die with
  the study process (PR_SET_PDEATHSIG plus a parent watchdog), so a killed study leaves no orphans.
- `RayExecutor(address)`: one Ray task per run with resource requests (CPUs, fractional GPUs);
  `max_retries` makes Ray rerun a task lost with its worker or node, and the rerun resumes from the
  run's checkpoint (the claim carries the task's token, so the retry takes its own claim over).

Both ship a picklable job (`RunJob`) to their workers and yield `Outcome`s as runs finish.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing as mp
import os
import queue
import shutil
import signal
import socket
import sys
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from typing import Any

from loralab.errors import LoralabError
from loralab.runner.worker import HOST, Outcome, RunJob, Task

Job = Callable[[Task], Outcome]


class Executor(ABC):
    """Runs a job over tasks somewhere and yields each task's outcome as it finishes."""

    name: str = "executor"
    slots: int = 1  # runs that execute at once (for the ETA)

    @abstractmethod
    def run(self, job: RunJob, tasks: Sequence[Task]) -> Iterator[Outcome]:
        """Yield one Outcome per task, in completion order; closing the iterator stops the workers."""

    def describe(self) -> str:
        """One line saying where runs execute."""
        return self.name


def available_cpus() -> int:
    """CPU cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def visible_gpus() -> list[str]:
    """GPU ids this process may use (CUDA_VISIBLE_DEVICES, else all that torch sees); [] on CPU."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return [g.strip() for g in env.split(",") if g.strip() and g.strip() != "-1"]
    if not (shutil.which("nvidia-smi") or os.path.exists("/dev/nvidia0")):
        return []  # skip importing torch on machines without an NVIDIA driver
    import torch

    return [str(i) for i in range(torch.cuda.device_count())]


class LocalExecutor(Executor):
    """`workers` processes on this machine; each gets cores // workers threads or one GPU."""

    name = "local"

    def __init__(self, workers: int = 1, *, gpus: Sequence[str] | None = None, poll: float = 0.2):
        if workers < 1:
            raise LoralabError(f"--workers must be at least 1 (got {workers})")
        self.workers = workers
        self.slots = workers
        self.gpus = list(visible_gpus() if gpus is None else gpus)
        self.threads = max(1, available_cpus() // workers)
        self.poll = poll

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
            task_q.put((i, task))
        n = min(self.workers, len(tasks))
        for _ in range(n):
            task_q.put(None)

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
                    for msg in _drain(result_q):
                        out = _handle(msg, busy, remaining)
                        if out is not None:
                            yield out
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
        finally:
            _stop_processes(list(procs.values()))
            for q in (task_q, result_q):
                q.cancel_join_thread()
                q.close()


def _handle(msg: tuple[str, int, int, Any], busy: dict[int, int], remaining: set[int]) -> Outcome | None:
    kind, slot, i, payload = msg
    if kind == "start":
        busy[slot] = i
        return None
    busy.pop(slot, None)
    remaining.discard(i)
    return payload


def _drain(q: Any) -> Iterator[Any]:
    while True:
        try:
            yield q.get(timeout=0.05)
        except queue.Empty:
            return


def _stop_processes(procs: list[Any], grace: float = 5.0) -> None:
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
        item = task_q.get()
        if item is None:
            return
        i, task = item
        result_q.put(("start", slot, i, None))
        try:
            outcome = job(task)
        except BaseException as e:  # a bug in the job itself: report it rather than hang the study
            outcome = Outcome(task.run_id, "failed", f"{type(e).__name__}: {e}", host=HOST, pid=os.getpid())
        result_q.put(("done", slot, i, outcome))


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


class RayExecutor(Executor):
    """One Ray task per run. `address`: join that cluster; None: start a local Ray in this process."""

    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        *,
        cpus_per_run: float = 1.0,
        gpus_per_run: float = 0.0,
        max_retries: int = 3,
        num_cpus: int | None = None,
        poll: float = 0.2,
    ):
        try:
            import ray  # noqa: F401
        except ImportError:
            raise LoralabError(
                "the ray executor needs Ray: pip install 'loralab[ray]' (or use --executor local)"
            ) from None
        if cpus_per_run <= 0 or gpus_per_run < 0:
            raise LoralabError("--cpus-per-run must be > 0 and --gpus-per-run >= 0")
        self.address = address
        self.cpus_per_run = cpus_per_run
        self.gpus_per_run = gpus_per_run
        self.max_retries = max_retries
        self.num_cpus = num_cpus
        self.poll = poll

    def describe(self) -> str:
        where = f"cluster at {self.address}" if self.address else "a local Ray started by this process"
        gpus = f", {self.gpus_per_run:g} GPU" if self.gpus_per_run else ""
        return f"ray: {where}, {self.cpus_per_run:g} CPU{gpus} per run, {self.max_retries} retries"

    def run(self, job: RunJob, tasks: Sequence[Task]) -> Iterator[Outcome]:
        import ray
        from ray.exceptions import RayError

        if not tasks:
            return
        started = False
        if not ray.is_initialized():
            _check_reachable(self.address)
            kwargs: dict[str, Any] = {"log_to_driver": False, "include_dashboard": False}
            if self.address is None and self.num_cpus is not None:
                kwargs["num_cpus"] = self.num_cpus
            try:
                # "local" starts a fresh Ray even where `ray start` left a cluster running.
                ray.init(address=self.address or "local", **kwargs)
            except (ConnectionError, ValueError, RuntimeError) as e:
                raise LoralabError(f"cannot reach a Ray cluster at {self.address}: {e}") from None
            started = True
        total = ray.cluster_resources()
        self.slots = max(1, int(total.get("CPU", 1) // self.cpus_per_run))
        if self.gpus_per_run:
            self.slots = min(self.slots, max(1, int(total.get("GPU", 0) // self.gpus_per_run)))
        job = replace(job, default_threads=job.default_threads or max(1, int(self.cpus_per_run)))
        remote = ray.remote(_ray_task).options(
            num_cpus=self.cpus_per_run,
            num_gpus=self.gpus_per_run,
            max_retries=self.max_retries,
            retry_exceptions=False,  # a run's own errors are outcomes; only lost workers are retried
        )
        refs = {remote.remote(job, task): task for task in tasks}
        try:
            while refs:
                ready, _ = ray.wait(list(refs), num_returns=1, timeout=self.poll)
                for ref in ready:
                    task = refs.pop(ref)
                    try:
                        yield ray.get(ref)
                    except RayError as e:
                        line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                        yield Outcome(task.run_id, "failed", f"ray task lost after retries: {line}")
        finally:
            for ref in refs:
                with contextlib.suppress(Exception):
                    ray.cancel(ref, force=True)
            if started:
                ray.shutdown()


def _check_reachable(address: str | None, timeout: float = 10.0) -> None:
    """Fail fast on a HOST:PORT nobody listens on (ray.init would retry for minutes)."""
    if not address or "://" in address or address in ("auto", "local") or ":" not in address:
        return
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            pass
    except (OSError, ValueError) as e:
        raise LoralabError(
            f"cannot reach a Ray cluster at {address} ({e});"
            " start one with `ray start --head` or fix --address"
        ) from None


def _ray_task(job: RunJob, task: Task) -> Outcome:
    return job(task)

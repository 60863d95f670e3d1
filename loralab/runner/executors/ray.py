"""The Ray executor: one Ray task per run with resource requests (CPUs, fractional GPUs).

`max_retries` makes Ray rerun a task lost with its worker or node; the rerun resumes from the run's
checkpoint (the claim carries the task's token, so the retry takes its own claim over).
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any

from loralab.errors import LoralabError
from loralab.runner.executors.base import Executor
from loralab.runner.worker import Outcome, RunJob, Task


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
            raise LoralabError("the Ray executor needs the ray package: pip install 'loralab[ray]'") from None
        if cpus_per_run <= 0 or gpus_per_run < 0:
            raise LoralabError(
                f"a Ray run needs cpus_per_run > 0 and gpus_per_run >= 0 (got {cpus_per_run}, {gpus_per_run})"
            )
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

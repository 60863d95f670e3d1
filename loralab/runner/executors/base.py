"""The executor interface: run a job over tasks somewhere, yield each task's outcome as it finishes;
and what this machine offers (CPU cores, visible GPUs)."""

from __future__ import annotations

import os
import shutil
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence

from loralab.runner.worker import Outcome, RunJob, Task

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

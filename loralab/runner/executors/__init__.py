"""Executors: where the runs of a study execute. One small interface (`base.Executor`), two
implementations: `local.LocalExecutor` (a process pool on this machine) and `ray.RayExecutor`.
Both ship a picklable job (`RunJob`) to their workers and yield `Outcome`s as runs finish.
"""

from loralab.runner.executors.base import Executor, Job, available_cpus, visible_gpus
from loralab.runner.executors.local import LocalExecutor
from loralab.runner.executors.ray import RayExecutor

__all__ = ["Executor", "Job", "LocalExecutor", "RayExecutor", "available_cpus", "visible_gpus"]

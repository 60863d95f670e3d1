"""Studies: expand a grid of runs, execute what is missing exactly once (locally or on Ray), report.

`loralab study STUDY.yaml` and `loralab status STUDY` are thin wrappers over this package.
"""

from loralab.runner.claims import Claim, ClaimInfo, ClaimLost, read_claim
from loralab.runner.executors import Executor, LocalExecutor, RayExecutor
from loralab.runner.progress import StudyView
from loralab.runner.scheduler import StudyReport, plan_runs, run_study
from loralab.runner.study import Grid, StudyConfig, expand, load_study, parse_study
from loralab.runner.worker import Outcome, RunJob, Task

__all__ = [
    "Claim",
    "ClaimInfo",
    "ClaimLost",
    "Executor",
    "Grid",
    "LocalExecutor",
    "Outcome",
    "RayExecutor",
    "RunJob",
    "StudyConfig",
    "StudyReport",
    "StudyView",
    "Task",
    "expand",
    "load_study",
    "parse_study",
    "plan_runs",
    "read_claim",
    "run_study",
]

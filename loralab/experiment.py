"""One run, end to end: `execute_run` and its stages, kept importable here; they live in `loralab/run/`
(one module per stage, `execute.py` for the orchestration)."""

from loralab.run.allocate import Allocated, allocate_ranks
from loralab.run.attach import Attached, attach
from loralab.run.evaluate import DTYPES, BaseEval, Evaluator, Heartbeat, base_evaluation, training_precision
from loralab.run.execute import execute_run, spec_record
from loralab.run.prepare import Prepared, prepare
from loralab.run.record import Session, make_record
from loralab.run.resolved import ResolvedRun, resolve_run
from loralab.run.result import RunResult, done_result, is_done
from loralab.run.train import Trained, save_artefacts, train_adapters

__all__ = [
    "DTYPES",
    "Allocated",
    "Attached",
    "BaseEval",
    "Evaluator",
    "Heartbeat",
    "Prepared",
    "ResolvedRun",
    "RunResult",
    "Session",
    "Trained",
    "allocate_ranks",
    "attach",
    "base_evaluation",
    "done_result",
    "execute_run",
    "is_done",
    "make_record",
    "prepare",
    "resolve_run",
    "save_artefacts",
    "spec_record",
    "train_adapters",
    "training_precision",
]

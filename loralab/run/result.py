"""What a run returns, and the one decision that a done run is skipped (no torch: the runner uses it).

`is_done` is the one test of "done": the scheduler plans with it, `loralab run` and a worker's claim
check it, and `execute_run` returns `done_result` instead of running. The store's refusal to recreate
a done run directory (`Store.create`) is a guard behind it, not another decision.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass

from loralab.record import RunRecord
from loralab.store import RunDir


@dataclass
class RunResult:
    """Where a run lives, whether it was skipped as already done, and its record."""

    run_dir: RunDir
    skipped: bool
    record: RunRecord | None

    def summary(self) -> str:
        """One human line (plus the path)."""
        if self.record is None:
            return f"{self.run_dir.path}: {self.run_dir.state}"
        verb = "already done" if self.skipped else "done"
        return f"{verb}: {self.run_dir.path}\n" + "\n".join(
            f"  {line}" for line in self.record.summary().splitlines()
        )


def is_done(rd: RunDir) -> bool:
    """Whether the run finished: its directory exists and its status says done (done is final)."""
    return rd.path.exists() and rd.state == "done"


def done_result(rd: RunDir) -> RunResult | None:
    """A done run's result, skipped (its stale checkpoint removed); None when the run is not done."""
    if not is_done(rd):
        return None
    if rd.checkpoint.exists():  # killed between `done` and the cleanup: the checkpoint is stale
        shutil.rmtree(rd.checkpoint, ignore_errors=True)
    return RunResult(rd, skipped=True, record=rd.try_record())

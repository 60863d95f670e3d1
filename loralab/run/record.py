"""The record stage: the run record (eval.json) from what each stage produced."""

from __future__ import annotations

from dataclasses import dataclass

from loralab.record import RunRecord, RunSetup
from loralab.run.allocate import Allocated
from loralab.run.attach import Attached
from loralab.run.evaluate import BaseEval
from loralab.run.prepare import Prepared
from loralab.run.resolved import ResolvedRun
from loralab.run.train import Trained


@dataclass(frozen=True)
class Session:
    """This session of the run: its wall time (s) and peak memory (`peak_rss_mb`, `peak_cuda_mb`)."""

    wall_s: float
    memory_mb: dict[str, float]


def make_record(
    run: ResolvedRun,
    prepared: Prepared,
    allocated: Allocated,
    attached: Attached,
    base: BaseEval,
    trained: Trained,
    session: Session,
    setup: RunSetup | None = None,
) -> RunRecord:
    """The run's record (eval.json) from what each stage produced."""
    state, final = trained.state, trained.final_eval
    return RunRecord(
        strategy=run.strategy.name,
        seed=run.seed,
        budget_spec=allocated.allocation.budget.spec,
        budget_params=allocated.allocation.budget.params,
        allocated_params=trained.final_allocation.params,
        budget_status=trained.final_allocation.budget_status,
        trainable_params=trained.trainable_params,
        peak_trainable_params=trained.peak_trainable_params,
        total_params=attached.total_params,
        base_eval_loss=base.eval_loss,
        base_eval_ppl=base.eval_ppl,
        eval_loss=final.loss,
        eval_ppl=final.perplexity,
        eval_tokens=final.tokens,
        eval_examples=final.examples,
        eval_seconds=final.seconds,
        eval_tokens_per_s=final.tokens_per_second,
        train_steps=state.step,
        train_supervised_tokens=state.tokens_seen,
        train_examples=state.examples_seen,
        train_wall_s=state.wall_time,
        train_supervised_tokens_per_s=state.tokens_seen / state.wall_time if state.wall_time else None,
        final_train_loss=state.logs.get("loss"),
        signals_wall_s=allocated.signals_wall_s,
        # compute time of the run's work, summed over resumes (work lost to a kill is not counted)
        total_wall_s=allocated.signals_wall_s + base.eval_seconds + state.wall_time + final.seconds,
        precision=run.precision,
        eval_precision=run.eval_precision,
        device=str(prepared.device),
        session_wall_s=session.wall_s,
        data=prepared.data.stats,
        setup=setup,
        **session.memory_mb,
    )

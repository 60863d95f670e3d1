"""The train stage: the training loop with the run's callbacks and the strategy's hooks, then the
artefacts (per-example losses, the adapter).
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from loralab.adapters import save_adapter
from loralab.callbacks import Callback, TrainState
from loralab.evaluate import EvalResult
from loralab.results.allocation import AllocationRecord, read_allocation
from loralab.run.attach import Attached
from loralab.run.evaluate import Evaluator, Heartbeat
from loralab.run.prepare import Prepared
from loralab.run.resolved import ResolvedRun
from loralab.store import RunDir, atomic_write_parquet, replace_dir
from loralab.strategies import RankAllocation
from loralab.train import MetricsLogger, ProgressBar, WandbLogger, train


@dataclass
class Trained:
    """What training produced: the loop state, the final eval and the final allocation."""

    state: TrainState
    final_eval: EvalResult
    final_allocation: RankAllocation
    peak_trainable_params: int
    trainable_params: int


def train_adapters(
    run: ResolvedRun,
    rd: RunDir,
    prepared: Prepared,
    attached: Attached,
    allocation: RankAllocation,
    evaluator: Evaluator,
    heartbeat: Heartbeat | None,
) -> Trained:
    """Train the adapters (evaluating when due and after the last step) with the strategy's callback
    and loss term, if it has them; a dynamic run's final ranks are written to allocation.json with its
    record (trajectory, peak)."""
    strategy, tracking = run.strategy, run.tracking
    callbacks: list[Callback] = [
        MetricsLogger(rd, run.train.log_every),
        ProgressBar(run.label, tracking.progress),
    ]
    if heartbeat is not None:
        callbacks.append(_Heartbeat(heartbeat))
    dynamic = strategy.training_callback(allocation, attached.max_steps)
    if dynamic is not None:
        callbacks.append(dynamic)
    if tracking.wandb:
        wandb = WandbLogger(
            project=tracking.project,
            group=tracking.group,
            name=rd.run_id,
            run_id=f"{rd.study}-{rd.run_id}",
            directory=rd.path,
            config=run.config,
        )
        callbacks.append(wandb)
    state = train(
        attached.model,
        prepared.data.train,
        run.train,
        pad_id=prepared.pad_id,
        device=prepared.device,
        precision=run.precision,
        checkpoint_dir=rd.checkpoint,
        callbacks=callbacks,
        evaluate=evaluator,  # called when due and after the last step
        group_by_length=run.data.group_by_length,
        extra_loss=strategy.extra_loss,
    )
    assert evaluator.latest is not None  # `train` evaluates after its last step
    if dynamic is None:
        trainable = attached.trainable_params
        return Trained(state, evaluator.latest, allocation, trainable, trainable)
    # the budget holds on the final (pruned) ranks; record the trajectory too
    final = dynamic.final_rank_allocation()
    allocated = read_allocation(rd.allocation)  # what the allocate stage wrote: signals' time, strategy
    # the callback's record (initial, final, peak, its own keys) in the one shape of allocation.json
    saved = {"final": final.to_dict(), "peak_params": dynamic.peak_params, **dynamic.record()}
    kept = {"signals_wall_s": allocated.signals_wall_s, "strategy": allocated.strategy}
    record = AllocationRecord.model_validate({**saved, **kept})
    rd.write_json(rd.allocation, record.to_json())
    return Trained(state, evaluator.latest, final, dynamic.peak_params, final.params)


def save_artefacts(rd: RunDir, attached: Attached, trained: Trained) -> None:
    """Per-example eval losses (for paired tests) and the adapter in PEFT format."""
    atomic_write_parquet(rd.eval_examples, trained.final_eval.per_example)
    adapter_tmp = Path(tempfile.mkdtemp(prefix=".adapter.", dir=rd.path))
    try:
        save_adapter(attached.model, adapter_tmp)
    except BaseException:  # a full disk: no half-written adapter copy is left behind
        shutil.rmtree(adapter_tmp, ignore_errors=True)
        raise
    replace_dir(adapter_tmp, rd.adapter)


class _Heartbeat(Callback):
    """Calls the executor's heartbeat after every step so that a lost claim stops the run promptly."""

    def __init__(self, beat: Heartbeat):
        self.beat = beat

    def on_step_end(self, state: TrainState) -> None:
        self.beat()

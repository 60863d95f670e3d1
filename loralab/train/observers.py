"""Standard callbacks: JSONL metrics, a progress bar with rate and ETA, optional Weights & Biases."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Protocol

from loralab.callbacks import Callback, TrainState
from loralab.results.metrics_row import MetricsRow


class MetricsSink(Protocol):
    """Where logged rows go (a run directory's metrics.jsonl, in a run)."""

    def append_metrics(self, row: MetricsRow) -> None: ...

    def truncate_metrics(self, max_step: int) -> None: ...


class MetricsLogger(Callback):
    """Sends one row per logged step (and per evaluation) to a metrics sink."""

    def __init__(self, sink: MetricsSink, every: int = 1):
        self.sink = sink
        self.every = every

    def on_train_begin(self, state: TrainState) -> None:
        if state.step:  # resumed: rows logged after the checkpoint will be logged again
            self.sink.truncate_metrics(state.step)

    def on_step_end(self, state: TrainState) -> None:
        if state.step % self.every == 0 or state.step == state.max_steps:
            self.sink.append_metrics(MetricsRow.train(state.logs, max_steps=state.max_steps))

    def on_evaluate(self, state: TrainState, metrics: dict[str, Any]) -> None:
        self.sink.append_metrics(MetricsRow.eval(state.step, metrics))


class ProgressBar(Callback):
    """A rich progress bar (steps, loss, tokens/s, ETA) on a terminal; silent otherwise."""

    def __init__(self, description: str, enabled: bool = True):
        self.description = description
        self.enabled = enabled and sys.stderr.isatty()
        self._progress: Any = None
        self._task: Any = None

    def on_train_begin(self, state: TrainState) -> None:
        if not self.enabled:
            return
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}  {task.fields[rate]} tok/s"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
        )
        self._progress.start()
        self._task = self._progress.add_task(
            self.description, total=state.max_steps, completed=state.step, loss="-", rate="-"
        )

    def on_step_end(self, state: TrainState) -> None:
        if self._progress is not None:
            self._progress.update(
                self._task,
                completed=state.step,
                loss=f"{state.logs.get('loss', float('nan')):.4f}",
                rate=f"{state.logs.get('tokens_per_s', 0):.0f}",
            )

    def on_train_end(self, state: TrainState) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


class WandbLogger(Callback):
    """Logs steps and evaluations to W&B; `WANDB_MODE=offline` works without a network."""

    def __init__(
        self,
        *,
        project: str,
        group: str | None,
        name: str,
        run_id: str,
        directory: Path,
        config: dict[str, Any],
    ):
        import wandb  # an optional extra: imported only when tracking is on

        self._run = wandb.init(
            project=project,
            group=group,
            name=name,
            id=run_id,
            resume="allow",
            dir=str(directory),
            config=config,
            reinit="finish_previous",
        )

    def on_step_end(self, state: TrainState) -> None:
        self._run.log({f"train/{k}": v for k, v in state.logs.items() if k != "step"}, step=state.step)

    def on_evaluate(self, state: TrainState, metrics: dict[str, Any]) -> None:
        self._run.log({f"eval/{k}": v for k, v in metrics.items()}, step=state.step)

    def on_train_end(self, state: TrainState) -> None:
        self._run.finish()

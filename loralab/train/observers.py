"""Standard callbacks: JSONL metrics, a progress bar with rate and ETA, optional Weights & Biases."""

from __future__ import annotations

import sys
from typing import Any

from loralab.store import RunDir
from loralab.train.callbacks import Callback, TrainState


class MetricsLogger(Callback):
    """Appends one JSON line per logged step (and per evaluation) to the run's metrics.jsonl."""

    def __init__(self, run_dir: RunDir, every: int = 1):
        self.run_dir = run_dir
        self.every = every

    def on_step_end(self, state: TrainState) -> None:
        if state.step % self.every == 0 or state.step == state.max_steps:
            self.run_dir.append_metrics({"type": "train", **state.logs})

    def on_evaluate(self, state: TrainState, metrics: dict[str, Any]) -> None:
        self.run_dir.append_metrics({"type": "eval", "step": state.step, **metrics})


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

    def __init__(self, run_dir: RunDir, project: str, group: str | None, config: dict[str, Any]):
        import wandb

        self._run = wandb.init(
            project=project,
            group=group,
            name=run_dir.run_id,
            id=f"{run_dir.study}-{run_dir.run_id}",
            resume="allow",
            dir=str(run_dir.path),
            config=config,
            reinit="finish_previous",
        )

    def on_step_end(self, state: TrainState) -> None:
        self._run.log({f"train/{k}": v for k, v in state.logs.items() if k != "step"}, step=state.step)

    def on_evaluate(self, state: TrainState, metrics: dict[str, Any]) -> None:
        self._run.log({f"eval/{k}": v for k, v in metrics.items()}, step=state.step)

    def on_train_end(self, state: TrainState) -> None:
        self._run.finish()

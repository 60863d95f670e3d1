"""The training procedure (one loop for every strategy), its callbacks, checkpoints and determinism."""

from loralab.callbacks import Callback, TrainState
from loralab.train.loop import total_steps, train
from loralab.train.observers import MetricsLogger, ProgressBar, WandbLogger

__all__ = ["Callback", "MetricsLogger", "ProgressBar", "TrainState", "WandbLogger", "total_steps", "train"]

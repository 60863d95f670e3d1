"""Every decision of a run, made once: `ResolvedRun`, which the stages read instead of re-deciding.

The strategy (instance and validated options), the seed, the device, the input fingerprints and the
run id are decided from the config; the budget and the step count from the config and the inputs
(model and data, read before the run directory exists); the training precision by measuring the
adapted model (`auto`), after which the eval precision follows (`train` means the training one).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch

from loralab.allocation import StrategyChoice, run_budget
from loralab.config import RunConfig
from loralab.errors import ConfigError
from loralab.modules import TargetModule
from loralab.strategies import Budget, Strategy, StrategyOptions
from loralab.train import total_steps


@dataclass(frozen=True)
class ResolvedRun:
    """One run's decisions, made once; `precision` and `eval_precision` are None until measured."""

    cfg: RunConfig
    run_id: str
    inputs: dict[str, Any]  # the input files' fingerprints (fingerprint.py), as the run id covers them
    strategy: Strategy
    options: StrategyOptions
    seed: int
    device: torch.device
    budget: Budget  # in parameters, over the target modules
    total_steps: int  # optimizer steps
    precision: str | None = None  # training precision: fp32 | bf16 | fp16
    eval_precision: str | None = None  # precision of every eval pass

    def with_precision(self, precision: str) -> ResolvedRun:
        """This run with its training precision decided, and the eval precision that follows from it."""
        asked = self.cfg.train.eval_precision
        return dataclasses.replace(
            self, precision=precision, eval_precision=precision if asked == "train" else asked
        )


def check_precisions(cfg: RunConfig, device: torch.device) -> None:
    """Refuse, before anything is loaded or written, a training or eval precision the device cannot run."""
    for key, asked in (("precision", cfg.train.precision), ("eval_precision", cfg.train.eval_precision)):
        if asked == "fp16" and device.type != "cuda":
            raise ConfigError(f"train.{key}=fp16 needs a CUDA device; use fp32 or bf16 on a CPU")


def resolve_run(
    cfg: RunConfig,
    choice: StrategyChoice,
    inputs: dict[str, Any],
    device: torch.device,
    model: torch.nn.Module,
    modules: list[TargetModule],
    n_train_examples: int,
) -> ResolvedRun:
    """The run's decisions from its config and its loaded inputs (an impossible budget fails here)."""
    return ResolvedRun(
        cfg=cfg,
        run_id=cfg.run_id(inputs),
        inputs=inputs,
        strategy=choice.strategy,
        options=choice.options,
        seed=cfg.train.seed,
        device=device,
        budget=run_budget(model, cfg, modules),
        total_steps=total_steps(cfg.train, n_train_examples),
    )

"""Every decision of a run, made once: `ResolvedRun`, which the stages read instead of re-deciding.

The strategy (instance and validated options), the seed, the device, the input fingerprints, the run
id and the metrics that scorers compute (each scorer loaded) are decided from the config; the budget
and the step count from the config and the inputs (model and data, read before the run directory
exists); the training
precision by measuring the adapted model (`auto`), after which the eval precision follows (`train`
means the training one). The stages read these decisions and, for what is not a decision (the loop's
settings, the adapters' shape), the one sub-config they need; none of them sees the whole `RunConfig`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch

from loralab.allocation import StrategyChoice, run_budget
from loralab.config import DataConfig, LoraConfig, RunConfig, TrackingConfig, TrainConfig
from loralab.errors import ConfigError
from loralab.results import Metric, get_metric
from loralab.run.prepare import Prepared
from loralab.scoring import load_scorer
from loralab.strategies import Budget, Strategy, StrategyOptions
from loralab.train import total_steps


@dataclass(frozen=True)
class ResolvedRun:
    """One run's decisions, made once, and the sub-configs its stages take; `precision` and
    `eval_precision` are None until measured (`with_precision`)."""

    run_id: str
    inputs: dict[str, Any]  # the input files' fingerprints (fingerprint.py), as the run id covers them
    strategy: Strategy
    options: StrategyOptions
    seed: int
    device: torch.device
    budget: Budget  # in parameters, over the target modules
    total_steps: int  # optimizer steps
    scored: tuple[Metric, ...]  # metrics of train.eval_metrics a scorer computes (not the NLL pass)
    lora: LoraConfig  # the adapters' shape: attach and the setup check read it
    train: TrainConfig  # the training loop's settings (the loop takes them whole)
    data: DataConfig  # length grouping; the eval records that scorers read
    tracking: TrackingConfig  # progress bar and W&B
    config: dict[str, Any]  # the resolved config as spec.yaml saves it (W&B logs it; nothing decides)
    precision: str | None = None  # training precision: fp32 | bf16 | fp16
    eval_precision: str | None = None  # precision of every eval pass

    @classmethod
    def decide(
        cls,
        cfg: RunConfig,
        choice: StrategyChoice,
        inputs: dict[str, Any],
        device: torch.device,
        budget: Budget,
        steps: int,
    ) -> ResolvedRun:
        """The run's decisions from its config, with the budget and step count its inputs gave."""
        return cls(
            run_id=cfg.run_id(inputs),
            inputs=inputs,
            strategy=choice.strategy,
            options=choice.options,
            seed=cfg.train.seed,
            device=device,
            budget=budget,
            total_steps=steps,
            scored=scored_metrics(cfg),
            lora=cfg.lora,
            train=cfg.train,
            data=cfg.data,
            tracking=cfg.tracking,
            config=cfg.model_dump(mode="json"),
        )

    @property
    def label(self) -> str:
        """The run in a few words (progress bar): strategy, budget as declared, seed."""
        return f"{self.strategy.name} {self.lora.budget} s{self.seed}"

    def with_precision(self, precision: str) -> ResolvedRun:
        """This run with its training precision decided, and the eval precision that follows from it."""
        asked = self.train.eval_precision
        return dataclasses.replace(
            self, precision=precision, eval_precision=precision if asked == "train" else asked
        )


def scored_metrics(cfg: RunConfig) -> tuple[Metric, ...]:
    """The chosen metrics a scorer computes, each scorer loaded now: one that cannot be loaded stops
    the run before anything is written."""
    metrics = tuple(m for m in map(get_metric, cfg.train.eval_metrics) if not m.from_nll)
    for metric in metrics:
        load_scorer(metric)
    return metrics


def check_precisions(cfg: RunConfig, device: torch.device) -> None:
    """Refuse, before anything is loaded or written, a training or eval precision the device cannot run."""
    for key, asked in (("precision", cfg.train.precision), ("eval_precision", cfg.train.eval_precision)):
        if asked == "fp16" and device.type != "cuda":
            raise ConfigError(f"train.{key}=fp16 needs a CUDA device; use fp32 or bf16 on a CPU")


def resolve_run(
    cfg: RunConfig, choice: StrategyChoice, inputs: dict[str, Any], prepared: Prepared
) -> ResolvedRun:
    """The run's decisions from its config and its loaded inputs (an impossible budget fails here)."""
    budget = run_budget(prepared.model, cfg, prepared.modules)
    steps = total_steps(cfg.train, len(prepared.data.train))
    return ResolvedRun.decide(cfg, choice, inputs, prepared.device, budget, steps)

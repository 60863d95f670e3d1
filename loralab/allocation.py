"""The allocation stage of a run: measure the signals a strategy needs, resolve the budget, allocate.

Signals are measured once per run on the training data (before any adapter exists) and their cost
counts toward the run's wall time; the allocation and the signals are saved next to each other, and
a resumed run reads the allocation back instead of measuring again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from loralab.config import RunConfig
from loralab.errors import ConfigError
from loralab.models import count_parameters, target_modules
from loralab.modules import TargetModule, select_targets
from loralab.strategies import (
    Budget,
    RankAllocation,
    Signals,
    Strategy,
    get_strategy,
    parse_options,
    resolve_budget,
)


@dataclass
class AllocationOutcome:
    """The allocation, the strategy that made it, its signals and how long measuring them took."""

    allocation: RankAllocation
    strategy: Strategy
    options: Any
    signals: Signals
    signal_seconds: float = 0.0
    record: dict[str, Any] = field(default_factory=dict)


def run_modules(model: nn.Module, cfg: RunConfig) -> list[TargetModule]:
    """The model's adaptable modules restricted to `lora.targets`."""
    modules = select_targets(target_modules(model), cfg.lora.targets)
    if not modules:
        kinds = sorted({m.kind for m in target_modules(model)})
        raise ConfigError(f"lora.targets={list(cfg.lora.targets)} matches no module; kinds here: {kinds}")
    return modules


def run_budget(model: nn.Module, cfg: RunConfig, modules: list[TargetModule]) -> Budget:
    """The run's budget in parameters over its target modules."""
    _, total = count_parameters(model)
    return resolve_budget(cfg.lora.budget, modules, total, cfg.lora.reference_rank)


def measure_signals(
    strategy: Strategy,
    options: Any,
    model: nn.Module,
    modules: list[TargetModule],
    batches: list[dict],
    seed: int,
) -> Signals:
    """Measure what `strategy.needs` (gradient importance, weight spectra) on the base model."""
    importance = spectra = None
    if "importance" in strategy.needs:
        from loralab.signals import measure_gradient_importance

        importance = measure_gradient_importance(model, batches, modules, **strategy.signal_options(options))
    if "spectra" in strategy.needs:
        from loralab.signals import measure_spectra

        spectra = measure_spectra(model, modules)
    return Signals(seed=seed, importance=importance, spectra=spectra)


def allocate(
    cfg: RunConfig, model: nn.Module, modules: list[TargetModule], batches: list[dict] | None = None
) -> AllocationOutcome:
    """Run the configured strategy at the configured budget (batches feed data-driven signals)."""
    strategy = get_strategy(cfg.lora.strategy)
    options = parse_options(strategy, cfg.lora.strategy_options)
    budget = run_budget(model, cfg, modules)
    start = time.perf_counter()
    if strategy.needs and "importance" in strategy.needs and not batches:
        raise ConfigError(f"strategy {strategy.name!r} needs training batches to measure gradients")
    signals = measure_signals(strategy, options, model, modules, batches or [], cfg.train.seed)
    seconds = time.perf_counter() - start
    allocation = strategy.allocate(
        modules, budget, signals, options, min_rank=cfg.lora.min_rank, max_rank=cfg.lora.max_rank
    )
    return AllocationOutcome(allocation, strategy, options, signals, seconds)


def signal_batches(cfg: RunConfig, tokenizer: Any, n_batches: int = 8) -> list[dict]:
    """The first `n_batches` training batches of a run's data, for gradient signals."""
    from loralab.data import collate, prepare_data

    data = prepare_data(cfg.data, tokenizer)
    bs = cfg.train.batch_size
    return [
        collate(data.train[i : i + bs], tokenizer.pad_token_id)
        for i in range(0, min(len(data.train), n_batches * bs), bs)
    ]


def preview(cfg: RunConfig) -> AllocationOutcome:
    """Allocate for `cfg` without training: load the model (and data, if the strategy needs it)."""
    from loralab.models import load_model

    loaded = load_model(cfg.model)
    modules = run_modules(loaded.model, cfg)
    strategy = get_strategy(cfg.lora.strategy)
    batches = signal_batches(cfg, loaded.tokenizer) if "importance" in strategy.needs else None
    return allocate(cfg, loaded.model, modules, batches)

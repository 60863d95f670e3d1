"""The allocation stage of a run: measure the signals a strategy needs, resolve the budget, allocate.

Signals are measured once per run on the training data (before any adapter exists) and their cost
counts toward the run's wall time; the allocation and the signals are saved next to each other, and
a resumed run reads the allocation back instead of measuring again.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from loralab.config import RunConfig
from loralab.errors import ConfigError
from loralab.models import count_parameters, target_modules
from loralab.modules import TargetModule, select_targets
from loralab.signals import measure_signals
from loralab.strategies import (
    Budget,
    RankAllocation,
    Signals,
    Strategy,
    StrategyOptions,
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


@dataclass(frozen=True)
class StrategyChoice:
    """The run's strategy instance and its validated options."""

    strategy: Strategy
    options: StrategyOptions


def check_strategy(cfg: RunConfig) -> StrategyChoice:
    """Fail fast, before any run directory exists, on an unknown strategy or invalid options; return
    the strategy and its options (looked up and validated here, once per run)."""
    strategy = get_strategy(cfg.lora.strategy)
    return StrategyChoice(strategy, parse_options(strategy, cfg.lora.strategy_options))


def run_modules(model: nn.Module, targets: Sequence[str]) -> list[TargetModule]:
    """The model's adaptable modules restricted to `targets` (`lora.targets`)."""
    modules = select_targets(target_modules(model), targets)
    if not modules:
        kinds = sorted({m.kind for m in target_modules(model)})
        raise ConfigError(f"lora.targets={list(targets)} matches no module; kinds here: {kinds}")
    return modules


def run_budget(model: nn.Module, cfg: RunConfig, modules: list[TargetModule]) -> Budget:
    """The run's budget in parameters over its target modules."""
    _, total = count_parameters(model)
    return resolve_budget(cfg.lora.budget_spec, modules, total, cfg.lora.reference_rank)


def first_batches(examples: list[Any], batch_size: int, pad_id: int, n_batches: int) -> list[dict]:
    """The first `n_batches` batches of `examples` in their fixed order (signals are measured on them)."""
    from loralab.data import collate

    stop = min(len(examples), n_batches * batch_size)
    return [collate(examples[i : i + batch_size], pad_id) for i in range(0, stop, batch_size)]


def allocate(
    choice: StrategyChoice,
    budget: Budget,
    model: nn.Module,
    modules: list[TargetModule],
    examples: list[Any] | None = None,
    pad_id: int = 0,
    memo: Callable[[dict[str, Any], Callable[[], Signals]], Signals] | None = None,
    *,
    batch_size: int,
    seed: int,
    min_rank: int = 0,
    max_rank: int | None = None,
) -> AllocationOutcome:
    """Run the chosen strategy at `budget` (training examples, in batches of `batch_size`, feed
    gradient signals; `seed` is the run's, recorded with them); ranks within [min_rank, max_rank].

    `memo(parts, compute)` may return signals measured earlier under the same `parts` (a study cache):
    signals do not depend on the run's seed (eval mode, the first batches in their fixed order)."""
    strategy, options = choice.strategy, choice.options
    start = time.perf_counter()
    batches: list[dict] = []
    if "importance" in strategy.needs:
        if not examples:
            raise ConfigError(f"strategy {strategy.name!r} needs training examples to measure gradients")
        n_batches = int(strategy.signal_options(options).get("n_batches", 8))
        batches = first_batches(examples, batch_size, pad_id, n_batches)

    def measure() -> Signals:
        return measure_signals(
            model,
            modules,
            strategy.needs,
            batches=batches,
            seed=seed,
            importance_options=strategy.signal_options(options),
        )

    if memo is not None and strategy.needs:
        parts = {
            "needs": sorted(strategy.needs),
            "modules": [m.name for m in modules],
            "signal_options": strategy.signal_options(options),
            "batch_size": batch_size,
            "device": str(next(model.parameters()).device),
        }
        signals = dataclasses.replace(memo(parts, measure), seed=seed)
    else:
        signals = measure()
    seconds = time.perf_counter() - start
    allocation = strategy.allocate(modules, budget, signals, options, min_rank=min_rank, max_rank=max_rank)
    return AllocationOutcome(allocation, strategy, options, signals, seconds)


def preview(cfg: RunConfig) -> AllocationOutcome:
    """Allocate for `cfg` without training: load the model (and data, if the strategy needs it)."""
    from loralab.data import prepare_data
    from loralab.models import load_model
    from loralab.preflight import check_inputs, check_model

    # The same checks as `loralab run`, before the (slow) model load: a strategy name or option typo
    # and a damaged model or data file are one line, not a loader's traceback.
    choice = check_strategy(cfg)
    needs_data = "importance" in choice.strategy.needs
    if needs_data:
        check_inputs(cfg)
    else:
        check_model(cfg.model.name)
    loaded = load_model(cfg.model)
    modules = run_modules(loaded.model, cfg.lora.targets)
    examples = None
    if needs_data:
        examples = prepare_data(cfg.data, loaded.tokenizer).train
    return allocate(
        choice,
        run_budget(loaded.model, cfg, modules),
        loaded.model,
        modules,
        examples,
        loaded.tokenizer.pad_token_id,
        batch_size=cfg.train.batch_size,
        seed=cfg.train.seed,
        min_rank=cfg.lora.min_rank,
        max_rank=cfg.lora.max_rank,
    )

"""The allocate stage: the initial rank allocation, saved with its signals (a resume reads it back)."""

from __future__ import annotations

from dataclasses import dataclass

from loralab.allocation import StrategyChoice, allocate
from loralab.results.allocation import AllocationRecord, StrategyRecord, read_allocation
from loralab.run.cache import StudyCache
from loralab.run.prepare import Prepared
from loralab.run.resolved import ResolvedRun
from loralab.store import RunDir
from loralab.strategies import RankAllocation, Strategy


@dataclass(frozen=True)
class Allocated:
    """The initial rank allocation and how long measuring its signals took (s)."""

    allocation: RankAllocation
    signals_wall_s: float


def allocate_ranks(
    run: ResolvedRun, rd: RunDir, prepared: Prepared, resuming: bool, cache: StudyCache | None = None
) -> Allocated:
    """Allocate ranks and save the allocation (and signals); a resumed run reads its allocation back."""
    if resuming:
        saved = read_allocation(rd.allocation)
        # a dynamic run killed after writing its final ranks resumes from its initial allocation
        initial = RankAllocation.from_dict(saved.initial.model_dump())
        return Allocated(initial, saved.signals_wall_s)
    memo = (
        (lambda parts, compute: cache.get("signals", {**prepared.data_key, **parts}, compute))
        if cache
        else None
    )
    outcome = allocate(
        StrategyChoice(run.strategy, run.options),
        run.budget,
        prepared.model,
        prepared.modules,
        prepared.data.train,
        prepared.pad_id,
        memo,
        batch_size=run.train.batch_size,
        seed=run.seed,
        min_rank=run.lora.min_rank,
        max_rank=run.lora.max_rank,
    )
    described = strategy_record(run.strategy)
    record = AllocationRecord.static(outcome.allocation.to_dict(), outcome.signal_seconds, described)
    rd.write_json(rd.allocation, record.to_json())
    if outcome.signals.importance or outcome.signals.spectra:
        signals = {"importance": outcome.signals.importance, "spectra": outcome.signals.spectra}
        rd.write_json(rd.signals, signals)
    return Allocated(outcome.allocation, outcome.signal_seconds)


def strategy_record(strategy: Strategy) -> StrategyRecord:
    """`strategy` as this code describes it, kept in allocation.json for the paper."""
    return StrategyRecord(
        name=strategy.name,
        description=strategy.description,
        kind="dynamic" if strategy.dynamic else "static",
        needs=tuple(sorted(strategy.needs)),
    )

"""Budget accounting: resolving budgets, the tolerance, integer allocation by weights, shared profiles."""

from __future__ import annotations

import random

import pytest
from strategy_fixtures import MODEL_PARAMS, gpt2_modules, llama_modules

from loralab.errors import BudgetError, ConfigError
from loralab.modules import TargetModule
from loralab.strategies import Budget, allocate_by_weights, resolve_budget, tolerance
from loralab.strategies.budget import (
    bump_depth_weights,
    linear_depth_weights,
    rank_caps,
    relative_depth,
    shares_to_rank_weights,
    shortfall_note,
    uniform_cost,
)


def spend(ranks: dict[str, int], modules: list[TargetModule]) -> int:
    return sum(ranks[m.name] * m.cost_per_rank for m in modules)


def test_resolve_budget_forms() -> None:
    mods = gpt2_modules()  # one rank everywhere costs 4 * (256 + 128 + 320 + 320) = 4096
    assert resolve_budget("r8", mods, MODEL_PARAMS) == Budget(params=8 * 4096, spec="r8", reference_rank=8)
    assert resolve_budget("12345", mods, MODEL_PARAMS, reference_rank=4).params == 12345
    assert resolve_budget("1%", mods, MODEL_PARAMS).params == 20000
    with pytest.raises(BudgetError, match="below one rank of the cheapest module"):
        resolve_budget("100", mods, MODEL_PARAMS)
    with pytest.raises(ConfigError):
        resolve_budget("eight", mods, MODEL_PARAMS)


def test_tolerance_is_one_percent_or_one_cheapest_rank() -> None:
    mods = gpt2_modules()
    assert tolerance(Budget(32768, "r8", 8), mods) == 328  # 1% (rounded up) beats 128
    assert tolerance(Budget(5000, "5000", 8), mods) == 128  # one rank of attn c_proj beats 50
    assert tolerance(Budget(5000, "5000", 8), mods, extra_per_rank=1) == 129


def test_uniform_weights_at_rank_budget_give_exactly_that_rank() -> None:
    for mods in (gpt2_modules(), llama_modules()):
        for r in (1, 4, 8, 16):
            ranks = allocate_by_weights(mods, {m.name: 1.0 for m in mods}, resolve_budget(f"r{r}", mods, 1))
            assert set(ranks.values()) == {r}


@pytest.mark.parametrize("seed", range(40))
def test_random_weights_and_budgets_stay_within_tolerance(seed: int) -> None:
    rng = random.Random(seed)
    mods = rng.choice([gpt2_modules, llama_modules])()
    weights = {m.name: rng.choice([0.0, rng.random(), rng.random() * 100]) for m in mods}
    max_rank = rng.choice([None, 3, 16, 64])
    min_rank = rng.choice([0, 0, 1, 2])
    ceiling = sum(c * m.cost_per_rank for m, c in zip(mods, rank_caps(mods, max_rank).values(), strict=True))
    budget = Budget(rng.randint(uniform_cost(mods, max(min_rank, 1)), ceiling), "b", 8)
    ranks = allocate_by_weights(mods, weights, budget, min_rank=min_rank, max_rank=max_rank)
    caps = rank_caps(mods, max_rank)
    assert all(min(min_rank, caps[m.name]) <= ranks[m.name] <= caps[m.name] for m in mods)
    assert budget.params - tolerance(budget, mods) <= spend(ranks, mods) <= budget.params
    assert shortfall_note(mods, ranks, budget, max_rank=max_rank) is None


def test_swaps_close_a_gap_that_greedy_filling_leaves() -> None:
    # max_rank 1 everywhere and a budget one below the total: the greedy fill skips the last dear
    # module; swapping a cheap rank for it lands within one cheap rank of the budget.
    mods = gpt2_modules()
    total = uniform_cost(mods, 1)
    budget = Budget(total - 1, "b", 8)
    ranks = allocate_by_weights(mods, {m.name: 1.0 for m in mods}, budget, max_rank=1)
    assert budget.params - tolerance(budget, mods) <= spend(ranks, mods) <= budget.params


def test_weights_set_proportions_before_rounding() -> None:
    mods = [TargetModule(f"m{i}", i, "mlp_in", 100, 100) for i in range(4)]
    weights = {"m0": 1.0, "m1": 2.0, "m2": 3.0, "m3": 4.0}
    ranks = allocate_by_weights(mods, weights, Budget(200 * 20, "b", 8))
    assert ranks == {"m0": 2, "m1": 4, "m2": 6, "m3": 8}
    assert allocate_by_weights(mods, weights, Budget(200 * 20, "b", 8)) == ranks  # deterministic


def test_zero_weights_still_spend_the_budget_when_others_are_capped() -> None:
    mods = [TargetModule(f"m{i}", i, "mlp_in", 8, 8) for i in range(3)]
    ranks = allocate_by_weights(mods, {"m0": 1.0}, Budget(16 * 20, "b", 8))
    assert ranks["m0"] == 8 and spend(ranks, mods) == 320


def test_min_rank_above_budget_is_a_user_error() -> None:
    mods = gpt2_modules()
    with pytest.raises(BudgetError, match="min_rank=9"):
        allocate_by_weights(mods, {}, resolve_budget("r8", mods, 1), min_rank=9)
    with pytest.raises(BudgetError, match="non-finite"):
        allocate_by_weights(mods, {mods[0].name: float("nan")}, resolve_budget("r8", mods, 1))


def test_depth_profiles() -> None:
    mods = gpt2_modules()
    depth = relative_depth(mods)
    assert depth["transformer.h.0.mlp.c_fc"] == 0 and depth["transformer.h.3.mlp.c_fc"] == 1
    lin = linear_depth_weights(mods, first=3.0, last=1.0)
    assert lin["transformer.h.0.attn.c_attn"] == 3.0 and lin["transformer.h.3.attn.c_attn"] == 1.0
    bump = bump_depth_weights(mods, ratio=3.0, center=0.5, width=0.25, shape="triangular")
    assert bump["transformer.h.0.attn.c_attn"] == 1.0
    assert bump["transformer.h.1.attn.c_attn"] == pytest.approx(1 + 2 * (1 - (1 / 6) / 0.25))
    one_layer = [TargetModule("a", 5, "attn_q", 4, 4)]
    assert relative_depth(one_layer) == {"a": 0.5}
    shares = shares_to_rank_weights({m.name: 1.0 for m in mods}, mods)
    assert shares["transformer.h.0.attn.c_proj"] == 1 / 128

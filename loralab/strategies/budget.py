"""Budget accounting, shared by every strategy: resolve a budget to a parameter count and turn
real-valued rank weights into integer ranks that never exceed it.

The tolerance every strategy must meet: `budget - max(1% of budget, cost of one rank of the cheapest
module) <= achieved <= budget`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from loralab.config import BudgetSpec, parse_budget
from loralab.errors import BudgetError
from loralab.modules import TargetModule
from loralab.strategies.base import Budget


def uniform_cost(modules: list[TargetModule], rank: int) -> int:
    """Parameters that rank `rank` on every module costs: sum of r * (d_in + d_out)."""
    return sum(rank * m.cost_per_rank for m in modules)


def resolve_budget(
    spec: str | BudgetSpec, modules: list[TargetModule], model_params: int, reference_rank: int = 8
) -> Budget:
    """Turn 'r8', a count or a fraction into a Budget over `modules` (model_params for fractions)."""
    b = spec if isinstance(spec, BudgetSpec) else parse_budget(spec)
    if not modules:
        raise BudgetError("no target modules to spend a budget on; widen lora.targets")
    if b.kind == "rank":
        params = uniform_cost(modules, int(b.value))
        ref = int(b.value)
    elif b.kind == "params":
        params = int(b.value)
        ref = reference_rank
    else:
        params = int(math.floor(b.value * model_params))
        ref = reference_rank
    cheapest = min(m.cost_per_rank for m in modules)
    if params < cheapest:
        raise BudgetError(
            f"budget {b} = {params} parameters is below one rank of the cheapest module ({cheapest});"
            " raise lora.budget"
        )
    return Budget(params=params, spec=str(b), reference_rank=ref)


def tolerance(budget: Budget, modules: list[TargetModule]) -> int:
    """How far below the budget an allocation may land: max(1% of it, one rank of the cheapest module)."""
    return max(math.ceil(0.01 * budget.params), min(m.cost_per_rank for m in modules))


def rank_caps(modules: list[TargetModule], max_rank: int | None) -> dict[str, int]:
    """Per-module upper rank: min(d_in, d_out), and the user's max_rank when set."""
    return {m.name: min(m.max_rank, max_rank) if max_rank else m.max_rank for m in modules}


def allocate_by_weights(
    modules: list[TargetModule],
    weights: Mapping[str, float],
    budget: Budget,
    *,
    min_rank: int = 0,
    max_rank: int | None = None,
) -> dict[str, int]:
    """Integer ranks r_i ~ c * w_i with sum r_i*cost_i <= budget, caps respected, leftovers redistributed.

    Continuous ranks come from water-filling (c found by bisection with ranks clipped to
    [min_rank, cap]); they are floored, then single ranks are added greedily to the module whose
    integer rank lags its continuous target the most (relative to its cost), while the budget allows.
    """
    caps = rank_caps(modules, max_rank)
    lo = {m.name: min(min_rank, caps[m.name]) for m in modules}
    floor_cost = sum(lo[m.name] * m.cost_per_rank for m in modules)
    if floor_cost > budget.params:
        raise BudgetError(
            f"lora.min_rank={min_rank} on every module costs {floor_cost} parameters, above the budget"
            f" {budget.spec} = {budget.params}; lower min_rank or raise the budget"
        )
    w = {m.name: max(0.0, float(weights.get(m.name, 0.0))) for m in modules}
    if any(not math.isfinite(v) for v in w.values()):
        raise BudgetError("a strategy produced a non-finite rank weight")
    if sum(w.values()) <= 0:
        w = {m.name: 1.0 for m in modules}

    def continuous(c: float) -> dict[str, float]:
        return {m.name: min(caps[m.name], max(lo[m.name], c * w[m.name])) for m in modules}

    def cost(r: Mapping[str, float]) -> float:
        return sum(r[m.name] * m.cost_per_rank for m in modules)

    lo_c, hi_c = 0.0, 1.0
    while cost(continuous(hi_c)) < budget.params and hi_c < 1e12:
        hi_c *= 2
    for _ in range(200):
        mid = (lo_c + hi_c) / 2
        if cost(continuous(mid)) <= budget.params:
            lo_c = mid
        else:
            hi_c = mid
    target = continuous(lo_c)
    ranks = {n: int(math.floor(v + 1e-9)) for n, v in target.items()}
    spent = sum(ranks[m.name] * m.cost_per_rank for m in modules)
    # Greedy fill: largest lag first; ties broken by module order, so the result is deterministic.
    order = {m.name: i for i, m in enumerate(modules)}
    while True:
        best, best_key = None, None
        for m in modules:
            if ranks[m.name] >= caps[m.name] or spent + m.cost_per_rank > budget.params:
                continue
            lag = target[m.name] - ranks[m.name]
            key = (lag, -order[m.name])
            if best_key is None or key > best_key:
                best, best_key = m, key
        if best is None:
            break
        ranks[best.name] += 1
        spent += best.cost_per_rank
    return ranks


def check_within_budget(ranks: Mapping[str, int], modules: list[TargetModule], budget: Budget) -> int:
    """Return the allocation's cost; raise BudgetError if it is above the budget."""
    spent = sum(ranks[m.name] * m.cost_per_rank for m in modules)
    if spent > budget.params:
        raise BudgetError(f"allocation costs {spent} parameters, above the budget {budget.params}")
    return spent

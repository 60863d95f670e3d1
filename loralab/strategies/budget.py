"""Budget accounting, shared by every strategy: resolve a budget to a parameter count, turn real-valued
rank weights into integer ranks that never exceed it, and the small weight profiles strategies share.

The tolerance every static strategy meets: `budget - max(1% of budget, cost of one rank of the cheapest
module) <= achieved <= budget`, whenever the rank caps allow it. When they do not (`lora.max_rank` too
small, or a budget above what full-rank adapters cost), the allocation is the capped maximum: it is
returned, not refused, with a `note` saying what was left unspent and why, and a `BudgetShortfallWarning`.
We chose that over an error because a study grid (strategies x budgets) should still run and record
the point; the record's `budget_status` is `UNDER`, so analysis can drop or flag it.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping
from typing import Any

from loralab.budget_spec import BudgetSpec, parse_budget
from loralab.errors import BudgetError
from loralab.modules import TargetModule
from loralab.strategies.base import Budget, RankAllocation, StrategyOptions, tolerance_params


class BudgetShortfallWarning(UserWarning):
    """An allocation spends less than its budget's tolerance allows because rank caps bind."""


def uniform_cost(modules: list[TargetModule], rank: int, extra_per_rank: int = 0) -> int:
    """Parameters that rank `rank` on every module costs: sum of r * (d_in + d_out [+ extra])."""
    return sum(rank * (m.cost_per_rank + extra_per_rank) for m in modules)


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
        params = math.floor(b.value * model_params)
        ref = reference_rank
    cheapest = min(m.cost_per_rank for m in modules)
    if params < cheapest:
        raise BudgetError(
            f"budget {b} = {params} parameters is below one rank of the cheapest module ({cheapest});"
            " raise lora.budget"
        )
    return Budget(params=params, spec=str(b), reference_rank=ref)


def tolerance(budget: Budget, modules: list[TargetModule], extra_per_rank: int = 0) -> int:
    """How far below the budget an allocation may land: max(1% of it, one rank of the cheapest module)."""
    return tolerance_params(budget.params, min(m.cost_per_rank + extra_per_rank for m in modules))


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
    extra_per_rank: int = 0,
) -> dict[str, int]:
    """Integer ranks r_i ~ c * w_i with sum r_i*cost_i <= budget, caps respected, leftovers redistributed.

    Continuous ranks come from water-filling (c found by bisection with ranks clipped to
    [min_rank, cap]); they are floored, then single ranks go greedily to the module whose integer rank
    lags its continuous target the most, while the budget allows (modules of weight 0 included, so
    the budget is spent). If caps still leave more than the tolerance unspent, one-for-one swaps of a
    cheaper rank for a dearer one close the gap where the caps allow. Deterministic: ties go to the
    earlier module.
    """
    cost = {m.name: m.cost_per_rank + extra_per_rank for m in modules}
    caps = rank_caps(modules, max_rank)
    lo = {m.name: min(min_rank, caps[m.name]) for m in modules}
    floor_cost = sum(lo[m.name] * cost[m.name] for m in modules)
    if floor_cost > budget.params:
        raise BudgetError(
            f"lora.min_rank={min_rank} on every module costs {floor_cost} parameters, above the budget"
            f" {budget.spec} = {budget.params}; lower min_rank or raise the budget"
        )
    w = {m.name: float(weights.get(m.name, 0.0)) for m in modules}
    if any(not math.isfinite(v) for v in w.values()):
        raise BudgetError("a strategy produced a non-finite rank weight")
    w = {n: max(0.0, v) for n, v in w.items()}
    top = max(w.values(), default=0.0)
    w = {n: v / top for n, v in w.items()} if top > 0 else {m.name: 1.0 for m in modules}

    def continuous(c: float) -> dict[str, float]:
        return {m.name: min(caps[m.name], max(lo[m.name], c * w[m.name])) for m in modules}

    def spend(r: Mapping[str, float]) -> float:
        return sum(r[m.name] * cost[m.name] for m in modules)

    lo_c, hi_c = 0.0, 1.0
    while spend(continuous(hi_c)) < budget.params and hi_c < 1e12:
        hi_c *= 2
    for _ in range(100):
        mid = (lo_c + hi_c) / 2
        if spend(continuous(mid)) <= budget.params:
            lo_c = mid
        else:
            hi_c = mid
    target = continuous(lo_c)
    ranks = {n: math.floor(v + 1e-9) for n, v in target.items()}
    spent = sum(ranks[m.name] * cost[m.name] for m in modules)
    # A floor can land one above a target that sat just under an integer: step back if over.
    for m in modules:
        while spent > budget.params and ranks[m.name] > lo[m.name] and ranks[m.name] > target[m.name]:
            ranks[m.name] -= 1
            spent -= cost[m.name]
    names = [m.name for m in modules]
    fill_and_swap(
        names,
        ranks,
        cost=cost,
        floor=lo,
        caps=caps,
        limit=budget.params,
        tol=tolerance(budget, modules, extra_per_rank),
        priority=lambda n: target[n] - ranks[n],  # the rank lagging its continuous target most
    )
    return ranks


def fill_and_swap(
    names: list[str],
    ranks: dict[str, int],
    *,
    cost: Mapping[str, int],
    floor: Mapping[str, int],
    caps: Mapping[str, int],
    limit: int,
    tol: int,
    priority: Callable[[str], float],
    swap_priority: Callable[[str, str], float] | None = None,
) -> int:
    """Spend up to `limit` parameters on whole ranks, in place; return what `ranks` then cost.

    Fill: one rank at a time to the module of highest `priority(name)` (read with the current ranks)
    among those below their cap that still fit. Then, while more than `tol` is unspent, the one-rank
    swap (down, up) that spends the most without passing the limit (ties: highest
    `swap_priority(down, up)`, then the earlier pair), never below `floor` nor above `caps`, each
    followed by a fill. Deterministic: ties go to the earlier name. Static strategies rank by how far a
    module lags its target, AdaLoRA by the score of its best unkept triplet.
    """
    spent = _fill(
        names, ranks, cost, caps, spent=sum(ranks[n] * cost[n] for n in names), limit=limit, priority=priority
    )
    while limit - spent > tol:
        swapped = _best_swap(names, ranks, cost, floor, caps, spent, limit, swap_priority)
        if swapped is None:
            break
        down, up = swapped
        ranks[down] -= 1
        ranks[up] += 1
        spent = _fill(
            names, ranks, cost, caps, spent=spent + cost[up] - cost[down], limit=limit, priority=priority
        )
    return spent


def _fill(
    names: list[str],
    ranks: dict[str, int],
    cost: Mapping[str, int],
    caps: Mapping[str, int],
    *,
    spent: int,
    limit: int,
    priority: Callable[[str], float],
) -> int:
    """Add single ranks to the fitting module of highest priority while the limit allows; return spent."""
    while True:
        best, best_p = None, 0.0
        for n in names:
            if ranks[n] >= caps[n] or spent + cost[n] > limit:
                continue
            p = priority(n)
            if best is None or p > best_p:  # strict: the earlier module wins ties
                best, best_p = n, p
        if best is None:
            return spent
        ranks[best] += 1
        spent += cost[best]


def _best_swap(
    names: list[str],
    ranks: Mapping[str, int],
    cost: Mapping[str, int],
    floor: Mapping[str, int],
    caps: Mapping[str, int],
    spent: int,
    limit: int,
    swap_priority: Callable[[str, str], float] | None,
) -> tuple[str, str] | None:
    """The (down, up) pair whose one-rank swap spends the most without passing the limit, if any."""
    best: tuple[str, str] | None = None
    best_key: tuple[int, float] = (spent, 0.0)
    for d in names:
        if ranks[d] <= floor[d]:
            continue
        for u in names:
            if u == d or ranks[u] >= caps[u]:
                continue
            new = spent - cost[d] + cost[u]
            if not spent < new <= limit:
                continue
            key = (new, swap_priority(d, u) if swap_priority is not None else 0.0)
            if best is None or key > best_key:
                best, best_key = (d, u), key
    return best


def shortfall_note(
    modules: list[TargetModule],
    ranks: Mapping[str, int],
    budget: Budget,
    *,
    max_rank: int | None,
    extra_per_rank: int = 0,
) -> str | None:
    """Why `ranks` spend less than the budget's tolerance allows (None when they do not)."""
    cost = {m.name: m.cost_per_rank + extra_per_rank for m in modules}
    spent = sum(ranks[m.name] * cost[m.name] for m in modules)
    tol = tolerance(budget, modules, extra_per_rank)
    if spent >= budget.params - tol:
        return None
    caps = rank_caps(modules, max_rank)
    ceiling = sum(caps[m.name] * cost[m.name] for m in modules)
    cap_txt = f"lora.max_rank={max_rank} and min(d_in, d_out)" if max_rank else "min(d_in, d_out)"
    if ceiling < budget.params - tol:
        why = f"every module at its rank cap ({cap_txt}) costs only {ceiling}"
    else:
        why = f"the rank caps ({cap_txt}) leave no combination of whole ranks closer to it"
    return (
        f"allocation spends {spent} of the budget {budget.spec} = {budget.params} parameters"
        f" ({spent / budget.params:.1%}): {why}; raise lora.max_rank or lower the budget"
    )


def allocation_from_weights(
    strategy: str,
    modules: list[TargetModule],
    budget: Budget,
    weights: Mapping[str, float],
    options: StrategyOptions,
    *,
    min_rank: int = 0,
    max_rank: int | None = None,
    details: dict[str, Any] | None = None,
) -> RankAllocation:
    """A RankAllocation with ranks ~ weights (see `allocate_by_weights`), its weights recorded in details.

    A shortfall that the caps force is recorded in `note` and warned about (BudgetShortfallWarning).
    """
    ranks = allocate_by_weights(modules, weights, budget, min_rank=min_rank, max_rank=max_rank)
    note = shortfall_note(modules, ranks, budget, max_rank=max_rank)
    if note:
        warnings.warn(f"{strategy}: {note}", BudgetShortfallWarning, stacklevel=3)
    record = {"weights": {m.name: float(weights.get(m.name, 0.0)) for m in modules}, **(details or {})}
    return RankAllocation(
        ranks=ranks,
        modules=tuple(modules),
        budget=budget,
        strategy=strategy,
        options=options.model_dump(mode="json"),
        note=note,
        details=record,
    )


# Weight profiles shared by the strategies. All return rank weights (rank_i ~ weight_i), keyed by name.


def relative_depth(modules: list[TargetModule]) -> dict[str, float]:
    """Each module's depth in [0, 1]: 0 at the first targeted layer, 1 at the last (0.5 if only one)."""
    layers = [m.layer for m in modules]
    first, last = min(layers), max(layers)
    if first == last:
        return {m.name: 0.5 for m in modules}
    return {m.name: (m.layer - first) / (last - first) for m in modules}


def linear_depth_weights(modules: list[TargetModule], first: float, last: float) -> dict[str, float]:
    """Weights linear in depth, `first` at the first targeted layer and `last` at the last."""
    return {n: first + (last - first) * x for n, x in relative_depth(modules).items()}


def bump_depth_weights(
    modules: list[TargetModule], *, ratio: float, center: float, width: float, shape: str
) -> dict[str, float]:
    """1 + (ratio - 1) * bump(depth): a Gaussian (sd `width`) or triangle (half-width `width`) at `center`."""
    out = {}
    for n, x in relative_depth(modules).items():
        d = abs(x - center) / width
        bump = math.exp(-0.5 * d * d) if shape == "gaussian" else max(0.0, 1.0 - d)
        out[n] = 1.0 + (ratio - 1.0) * bump
    return out


def family_weights(modules: list[TargetModule], factor: Mapping[str, float]) -> dict[str, float]:
    """Weight `factor[family]` (1 for families not named) for each module."""
    return {m.name: float(factor.get(m.family, 1.0)) for m in modules}


def per_rank_cost(values: Mapping[str, float], modules: list[TargetModule]) -> dict[str, float]:
    """values_i / (d_in + d_out): turns a per-module quantity into one per unit of rank cost."""
    return {m.name: float(values[m.name]) / m.cost_per_rank for m in modules}


def shares_to_rank_weights(shares: Mapping[str, float], modules: list[TargetModule]) -> dict[str, float]:
    """Rank weights that give each module `shares[i]` of the budget (share / cost per rank)."""
    return per_rank_cost(shares, modules)

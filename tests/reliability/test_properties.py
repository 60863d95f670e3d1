"""Point 6: properties over generated inputs (hypothesis): budget allocation, config round trip, grid
expansion. `EXAMPLES` sets how many examples each property tries (counted in the closing note)."""

from __future__ import annotations

import math
import warnings

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loralab.config import build_config, load_config
from loralab.errors import BudgetError
from loralab.modules import TargetModule
from loralab.strategies import Budget, BudgetShortfallWarning, Signals, available, get_strategy, parse_options
from loralab.strategies.budget import rank_caps, tolerance

EXAMPLES = 300
STATIC = [n for n in available() if not get_strategy(n).dynamic]
KINDS = ["attn_qkv", "attn_q", "attn_k", "attn_v", "attn_out", "mlp_in", "mlp_gate", "mlp_up", "mlp_out"]
PROPERTY = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def module_sets(draw: st.DrawFn) -> list[TargetModule]:
    layers = draw(st.integers(1, 6))
    kinds = draw(st.lists(st.sampled_from(KINDS), min_size=1, max_size=4, unique=True))
    dims = st.integers(1, 96)
    return [
        TargetModule(f"h.{layer}.{kind}", layer, kind, draw(dims), draw(dims))
        for layer in range(layers)
        for kind in kinds
    ]


def _signals(modules: list[TargetModule], seed: int) -> Signals:
    importance = {m.name: 1.0 + ((hash(m.name) + seed) % 7) for m in modules}
    spectra = {m.name: [math.exp(-0.2 * k) for k in range(m.max_rank)] for m in modules}
    return Signals(seed=seed, importance=importance, spectra=spectra)


@PROPERTY
@given(
    modules=module_sets(),
    strategy=st.sampled_from(STATIC),
    fraction=st.floats(0.0, 1.5),
    min_rank=st.integers(0, 3),
    max_rank=st.one_of(st.none(), st.integers(1, 16)),
    seed=st.integers(0, 5),
)
def test_allocation_is_integer_capped_and_never_over_budget(
    modules: list[TargetModule],
    strategy: str,
    fraction: float,
    min_rank: int,
    max_rank: int | None,
    seed: int,
) -> None:
    full = sum(m.max_rank * m.cost_per_rank for m in modules)
    cheapest = min(m.cost_per_rank for m in modules)
    budget = Budget(params=max(cheapest, int(fraction * full)), spec="p", reference_rank=8)
    s = get_strategy(strategy)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BudgetShortfallWarning)
        try:
            a = s.allocate(
                modules,
                budget,
                _signals(modules, seed),
                parse_options(s, {}),
                min_rank=min_rank,
                max_rank=max_rank,
            )
        except BudgetError as e:  # refused, with its reason: only when min_rank alone is over the budget
            caps = rank_caps(modules, max_rank)
            floor = sum(min(min_rank, caps[m.name]) * m.cost_per_rank for m in modules)
            assert floor > budget.params, e
            return
    caps = rank_caps(modules, max_rank)
    for m in modules:
        r = a.ranks[m.name]
        assert isinstance(r, int) and min(min_rank, caps[m.name]) <= r <= caps[m.name]
    assert a.params <= budget.params
    if a.params < budget.params - tolerance(budget, modules):
        assert a.budget_status == "UNDER" and a.note, (a.params, budget.params)
    else:
        assert a.budget_status == "PASS"


overrides = st.fixed_dictionaries(
    {
        "train.lr": st.floats(1e-6, 1.0, allow_nan=False),
        "train.seed": st.integers(0, 2**31),
        "train.max_steps": st.one_of(st.none(), st.integers(1, 10_000)),
        "lora.budget": st.one_of(
            st.integers(1, 64).map(lambda r: f"r{r}"),
            st.integers(1, 10**8).map(str),
            st.floats(0.001, 100).map(lambda f: f"{f:.3f}%"),
        ),
        "lora.targets": st.lists(
            st.sampled_from(["attn", "mlp", "attn_q", "mlp_out"]), min_size=1, max_size=3
        ),
        "lora.alpha_policy": st.sampled_from(["ratio", "constant", "rslora"]),
        "lora.max_rank": st.one_of(st.none(), st.integers(4, 64)),
        "data.cutoff_len": st.integers(8, 2048),
        "train.schedule": st.sampled_from(["cosine", "linear", "constant"]),
    }
)


@PROPERTY
@given(values=overrides)
def test_config_round_trip_keeps_spec_and_run_id(values: dict) -> None:
    tree: dict = {}
    for key, value in values.items():
        section, field = key.split(".")
        tree.setdefault(section, {})[field] = value
    cfg = build_config(tree)
    again = build_config(yaml.safe_load(cfg.to_yaml()))
    assert again == cfg
    assert again.run_id() == cfg.run_id()
    assert load_config(None, [f"lora.budget={cfg.lora.budget}"]).lora.budget == cfg.lora.budget


@PROPERTY
@given(
    strategies=st.lists(st.sampled_from(STATIC), min_size=1, max_size=4, unique=True),
    budgets=st.lists(st.sampled_from(["r2", "r4", "r8", "5000"]), min_size=1, max_size=3, unique=True),
    seeds=st.lists(st.integers(0, 50), min_size=1, max_size=4, unique=True),
    lrs=st.lists(st.sampled_from([1e-4, 3e-4, 1e-3]), min_size=1, max_size=2, unique=True),
    order=st.randoms(use_true_random=False),
)
def test_grid_expansion_is_order_independent(strategies, budgets, seeds, lrs, order) -> None:
    from loralab.runner.study import expand, parse_study

    def study(shuffle: bool):
        lists = [list(strategies), list(budgets), list(seeds), list(lrs)]
        if shuffle:
            for items in lists:
                order.shuffle(items)
        grid = {"strategies": lists[0], "budgets": lists[1], "seeds": lists[2], "train.lr": lists[3]}
        keys = list(grid)
        if shuffle:
            order.shuffle(keys)
        base = {"model": {"name": "tiny-gpt2"}, "data": {"source": "synthetic"}}
        tree = {"name": "p", "base": base, "baseline": strategies[0], "grid": {k: grid[k] for k in keys}}
        return parse_study(tree)

    a = {c.run_id() for c in expand(study(False))}
    b = {c.run_id() for c in expand(study(True))}
    assert a == b
    assert len(a) == len(strategies) * len(budgets) * len(seeds) * len(lrs)


def test_example_counts_are_recorded() -> None:
    assert EXAMPLES >= 100
    pytest.importorskip("hypothesis")

"""Each strategy's allocation has the shape its idea promises."""

from __future__ import annotations

import itertools
import math
import statistics

import pytest
from strategy_fixtures import budget_for, gpt2_modules, llama_modules

from loralab.errors import BudgetError, StrategyError
from loralab.modules import TargetModule
from loralab.strategies import RankAllocation, Signals, get_strategy, parse_options


def run(
    name: str,
    modules: list[TargetModule],
    signals: Signals | None = None,
    spec: str = "r8",
    **options: object,
) -> RankAllocation:
    s = get_strategy(name)
    return s.allocate(modules, budget_for(spec, modules), signals or Signals(), parse_options(s, options))


def mean_rank_by_layer(a: RankAllocation) -> list[float]:
    layers = sorted({m.layer for m in a.modules})
    return [statistics.mean(a.ranks[m.name] for m in a.modules if m.layer == layer) for layer in layers]


def budget_share(a: RankAllocation, family: str) -> float:
    return sum(a.ranks[m.name] * m.cost_per_rank for m in a.modules if m.family == family) / a.params


def test_linear_decay_decays_and_increase_increases(modules: list[TargetModule]) -> None:
    decay = mean_rank_by_layer(run("linear-decay", modules))
    assert all(a >= b for a, b in itertools.pairwise(decay)) and decay[0] > decay[-1]
    assert decay[0] / decay[-1] == pytest.approx(3.0, rel=0.25)
    increase = mean_rank_by_layer(run("linear-increase", modules, ratio=2.0))
    assert all(a <= b for a, b in itertools.pairwise(increase)) and increase[0] < increase[-1]
    assert increase[-1] / increase[0] == pytest.approx(2.0, rel=0.25)
    flat = mean_rank_by_layer(run("linear-decay", modules, ratio=1.0))
    assert max(flat) - min(flat) <= 1


def test_family_heavy_strategies_tilt_rank_and_budget(modules: list[TargetModule]) -> None:
    uniform = run("uniform", modules, spec="r16")
    attn, mlp = run("attention-heavy", modules, spec="r16"), run("mlp-heavy", modules, spec="r16", ratio=3.0)

    def mean_rank(a: RankAllocation, family: str) -> float:
        return statistics.mean(a.ranks[m.name] for m in a.modules if m.family == family)

    assert mean_rank(attn, "attn") / mean_rank(attn, "mlp") == pytest.approx(2.0, rel=0.15)
    assert mean_rank(mlp, "mlp") / mean_rank(mlp, "attn") == pytest.approx(3.0, rel=0.15)
    assert budget_share(attn, "attn") > budget_share(uniform, "attn") > budget_share(mlp, "attn")


def test_middle_heavy_puts_more_rank_in_the_middle() -> None:
    mods = [TargetModule(f"h.{i}.mlp", i, "mlp_in", 64, 64) for i in range(9)]
    for shape in ("gaussian", "triangular"):
        by_layer = mean_rank_by_layer(run("middle-heavy", mods, shape=shape))
        assert by_layer[4] == max(by_layer) and by_layer[4] > by_layer[0] and by_layer[4] > by_layer[8]
        assert by_layer[0] == pytest.approx(by_layer[8], abs=1)
    early = mean_rank_by_layer(run("middle-heavy", mods, center=0.25, width=0.1))
    assert early.index(max(early)) == 2


def test_random_is_reproducible_and_differs_across_seeds(modules: list[TargetModule]) -> None:
    a = run("random", modules, Signals(seed=7))
    assert run("random", modules, Signals(seed=7)).ranks == a.ranks
    others = [run("random", modules, Signals(seed=s)).ranks for s in range(3)]
    assert all(o != a.ranks for o in others)
    assert run("random", modules, Signals(seed=7), seed_offset=1).ranks != a.ranks
    # A large concentration approaches an equal split of the budget.
    even = run("random", modules, Signals(seed=7), concentration=1e4)
    shares = [even.ranks[m.name] * m.cost_per_rank / even.params for m in modules]
    assert max(shares) < 2.5 / len(modules)


def equal_cost_modules(n: int = 4) -> list[TargetModule]:
    return [TargetModule(f"h.{i}.mlp", i, "mlp_in", 64, 64) for i in range(n)]


def test_gradient_follows_importance_per_cost() -> None:
    mods = equal_cost_modules()
    importance = {m.name: 1.0 for m in mods} | {"h.2.mlp": 4.0}
    a = run("gradient", mods, Signals(importance=importance))
    assert a.ranks["h.2.mlp"] == max(a.ranks.values())

    def ratio_to_rest(a: RankAllocation) -> float:
        return a.ranks["h.2.mlp"] / statistics.mean(r for n, r in a.ranks.items() if n != "h.2.mlp")

    assert ratio_to_rest(a) == pytest.approx(4.0, rel=0.1)
    soft = run("gradient", mods, Signals(importance=importance), temperature=0.5)
    assert ratio_to_rest(soft) == pytest.approx(2.0, rel=0.1)
    flat = run("gradient", mods, Signals(importance=importance), temperature=0.0)
    assert max(flat.ranks.values()) - min(flat.ranks.values()) <= 1
    assert a.details["importance"] == importance


def test_gradient_divides_importance_by_rank_cost() -> None:
    # Importance that merely scales with the module's size gives uniform rank.
    mods = gpt2_modules()
    a = run("gradient", mods, Signals(importance={m.name: 3.0 * m.cost_per_rank for m in mods}))
    assert max(a.ranks.values()) - min(a.ranks.values()) <= 1


def test_data_driven_strategies_need_their_signal() -> None:
    mods = llama_modules()
    with pytest.raises(StrategyError, match=r"needs signals\.importance.*missing"):
        run("gradient", mods, Signals(importance={mods[0].name: 1.0}))
    with pytest.raises(StrategyError, match=r"needs signals\.spectra"):
        run("spectrum", mods, Signals())
    with pytest.raises(StrategyError, match="finite and >= 0"):
        run("gradient", mods, Signals(importance={m.name: -1.0 for m in mods}))


def test_spectrum_direction_decides_between_rank_one_and_full_rank() -> None:
    mods = [TargetModule("rank1", 0, "mlp_in", 32, 32), TargetModule("full", 1, "mlp_in", 32, 32)]
    spectra = {"rank1": [5.0] + [1e-7] * 31, "full": [1.0 - 0.01 * k for k in range(32)]}
    sig = Signals(spectra=spectra)
    less = run("spectrum", mods, sig)
    more = run("spectrum", mods, sig, direction="more-compressible")
    assert less.ranks["full"] > less.ranks["rank1"]
    assert more.ranks["rank1"] > more.ranks["full"]
    energy = run("spectrum", mods, sig, metric="energy", energy=0.99)
    assert energy.ranks["full"] > energy.ranks["rank1"]
    flat = run("spectrum", mods, sig, temperature=0.0)
    assert abs(flat.ranks["full"] - flat.ranks["rank1"]) <= 1


def test_effective_and_energy_rank_values() -> None:
    from loralab.strategies.spectrum import effective_rank, energy_rank

    assert effective_rank([1.0, 1.0, 1.0, 1.0]) == pytest.approx(4.0)
    assert effective_rank([2.0, 0.0, 0.0]) == pytest.approx(1.0)
    p = [0.5, 0.25, 0.25]
    assert effective_rank([2.0, 1.0, 1.0]) == pytest.approx(math.exp(-sum(x * math.log(x) for x in p)))
    assert energy_rank([3.0, 1.0, 0.0], 0.9) == 1  # 9 of 10
    assert energy_rank([3.0, 1.0, 0.0], 0.95) == 2
    assert effective_rank([0.0, 0.0]) == 0.0 and energy_rank([], 0.9) == 0


def test_adalora_initial_allocation() -> None:
    mods = gpt2_modules()
    a = run("adalora", mods)
    assert set(a.ranks.values()) == {12}  # 1.5 x the ~7.97 uniform rank r8 buys at d_in + d_out + 1
    assert a.params == 12 * sum(m.cost_per_rank + 1 for m in mods) == a.details["peak_params"]
    assert run("adalora", mods, init_r=10).ranks[mods[0].name] == 10

    with pytest.raises(BudgetError, match="nothing to prune"):
        run("adalora", mods, init_r=6, spec="r7")

"""The strategy contract, checked for every registered strategy (the registry itself, so none escapes)
and for a user plug-in loaded from a file, on a GPT-2-like and a Llama-like module set."""

from __future__ import annotations

import inspect
import sys
import textwrap
import warnings
from pathlib import Path

import pytest
from strategy_fixtures import BUDGETS, budget_for, synthetic_signals

from loralab import strategies
from loralab.errors import StrategyError
from loralab.modules import TargetModule
from loralab.strategies import (
    BudgetShortfallWarning,
    RankAllocation,
    Signals,
    Strategy,
    WeightedStrategy,
    available,
    get_strategy,
    load_strategy_file,
    parse_options,
    registry,
)
from loralab.strategies.adalora import adalora_schedule
from loralab.strategies.budget import rank_caps, tolerance, uniform_cost

STRATEGIES = available()


def check_contract(
    strategy: Strategy,
    modules: list[TargetModule],
    spec: str,
    signals: Signals,
    *,
    min_rank: int = 0,
    max_rank: int | None = None,
) -> RankAllocation:
    """Allocate twice and check every invariant of the contract; return the allocation."""
    budget = budget_for(spec, modules)
    options = parse_options(strategy, {})
    a = strategy.allocate(list(modules), budget, signals, options, min_rank=min_rank, max_rank=max_rank)
    again = strategy.allocate(list(modules), budget, signals, options, min_rank=min_rank, max_rank=max_rank)
    assert a.ranks == again.ranks, "same inputs must give the same allocation"
    assert set(a.ranks) == {m.name for m in modules}, "every module is covered, nothing else"
    assert [m.name for m in a.modules] == [m.name for m in modules]
    caps = rank_caps(modules, max_rank)
    for m in modules:
        r = a.ranks[m.name]
        assert isinstance(r, int) and 0 <= r <= caps[m.name], (m.name, r)
        assert r >= min(min_rank, caps[m.name]), (m.name, r, min_rank)
    assert a.strategy == strategy.name
    assert a.budget == budget
    if strategy.dynamic:
        assert a.dynamic and a.budget_status == "DYNAMIC"
        assert len(set(a.ranks.values())) == 1, "a dynamic allocation starts at one init rank"
        assert a.params > budget.params, "a dynamic strategy starts above its final budget"
        s = adalora_schedule(a, total_step=50)
        assert s.final_params == budget.params
        assert s.tinit < s.total_step - s.tfinal
    else:
        assert a.params <= budget.params, "never above the budget"
        assert a.params >= budget.params - tolerance(budget, modules), "within tolerance"
        assert a.budget_status == "PASS" and a.note is None
    record = a.to_dict()
    assert record["achieved_params"] == a.params
    assert RankAllocation.from_dict(record) == a
    return a


@pytest.mark.parametrize("spec", BUDGETS)
@pytest.mark.parametrize("name", STRATEGIES)
def test_contract(name: str, spec: str, modules: list[TargetModule]) -> None:
    check_contract(get_strategy(name), modules, spec, synthetic_signals(modules, seed=3))


@pytest.mark.parametrize("name", STRATEGIES)
def test_min_and_max_rank_respected(name: str, modules: list[TargetModule]) -> None:
    a = check_contract(get_strategy(name), modules, "r8", synthetic_signals(modules), min_rank=2, max_rank=12)
    assert min(a.ranks.values()) >= 2 and max(a.ranks.values()) <= 12


@pytest.mark.parametrize("name", [n for n in STRATEGIES if not get_strategy(n).dynamic])
def test_caps_that_make_the_budget_unreachable_are_recorded(name: str, modules: list[TargetModule]) -> None:
    budget = budget_for("r8", modules)
    s = get_strategy(name)
    with pytest.warns(BudgetShortfallWarning, match="raise lora.max_rank"):
        a = s.allocate(modules, budget, synthetic_signals(modules), parse_options(s, {}), max_rank=2)
    assert a.params == uniform_cost(modules, 2), "the capped maximum is spent"
    assert a.budget_status == "UNDER" and a.note and "max_rank=2" in a.note
    assert a.to_dict()["budget_status"] == "UNDER"


@pytest.mark.parametrize("name", STRATEGIES)
def test_strategy_is_documented(name: str) -> None:
    s = get_strategy(name)
    assert s.description and "\n" not in s.description and len(s.description) <= 100
    module = sys.modules[type(s).__module__]
    assert module.__doc__ and len(module.__doc__) > 100, "module docstring states the idea"
    for field, info in s.Options.model_fields.items():
        assert info.description, f"{name} option {field} has no description"
    assert s.needs <= {"importance", "spectra"}
    assert set(s.signal_options(parse_options(s, {}))) <= {"method", "n_batches"}
    assert list(inspect.signature(s.allocate).parameters) == [
        "modules", "budget", "signals", "options", "min_rank", "max_rank"
    ]  # fmt: skip


def test_unknown_option_and_strategy_errors_name_the_fix() -> None:
    with pytest.raises(StrategyError, match=r"option ratoi: unknown option.*ratio"):
        parse_options(get_strategy("linear-decay"), {"ratoi": 2})
    with pytest.raises(StrategyError, match="did you mean 'linear-decay'"):
        get_strategy("linear-decy")


PLUGIN = '''
from pydantic import Field
from loralab.strategies import Strategy, StrategyOptions, register_strategy
from loralab.strategies.budget import allocation_from_weights


class Opts(StrategyOptions):
    first: float = Field(5.0, description="Weight of layer 0 modules.")


@register_strategy("{name}")
class FirstLayer(Strategy):
    """A user strategy: more rank on layer 0."""

    description = "More rank on layer 0 (test plug-in)."
    Options = Opts

    def allocate(self, modules, budget, signals, options, *, min_rank=0, max_rank=None):
        opts = self.resolve_options(options)
        weights = {{m.name: opts.first if m.layer == 0 else 1.0 for m in modules}}
        return allocation_from_weights(self.name, modules, budget, weights, opts, min_rank=min_rank,
                                       max_rank=max_rank)
'''


@pytest.fixture
def clean_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let a test register strategies without leaking them into other tests."""
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    monkeypatch.setattr(registry, "_PLUGIN_ERRORS", {})


def test_user_plugin_from_file(tmp_path: Path, modules: list[TargetModule], clean_registry: None) -> None:
    path = tmp_path / "my_strategy.py"
    path.write_text(PLUGIN.format(name="first-layer"))
    load_strategy_file(path)
    assert "first-layer" in available()
    a = check_contract(get_strategy("first-layer"), modules, "r8", Signals())
    first = [a.ranks[m.name] for m in modules if m.layer == 0]
    last = [a.ranks[m.name] for m in modules if m.layer == 3]
    assert sum(first) > sum(last)


def test_weighted_plugin_from_the_package_docstring(
    tmp_path: Path, modules: list[TargetModule], clean_registry: None
) -> None:
    """The example users copy: a WeightedStrategy with only `weights` implemented meets the contract."""
    doc = strategies.__doc__ or ""
    example = doc.split("looks like this:\n\n", 1)[1].split("\n\n`weights`", 1)[0]
    path = tmp_path / "doc_strategy.py"
    path.write_text(textwrap.dedent(example))
    load_strategy_file(path)
    s = get_strategy("first-layer")
    assert isinstance(s, WeightedStrategy) and "allocate" not in vars(type(s))
    for spec in BUDGETS:
        a = check_contract(s, modules, spec, Signals())
        assert a.details["weights"] == {m.name: 5.0 if m.layer == 0 else 1.0 for m in modules}
    first = [a.ranks[m.name] for m in modules if m.layer == 0]
    last = [a.ranks[m.name] for m in modules if m.layer == 3]
    assert sum(first) > sum(last)


def test_broken_strategy_file_is_a_user_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.py"
    path.write_text("import no_such_module_here\n")
    with pytest.raises(StrategyError, match="failed to import: ModuleNotFoundError"):
        load_strategy_file(path)
    with pytest.raises(StrategyError, match="does not exist"):
        load_strategy_file(tmp_path / "missing.py")


def _install_distribution(root: Path, dist: str, entry_points: str, modules: dict[str, str]) -> None:
    """A minimal installed distribution (dist-info with entry_points.txt) under `root`."""
    info = root / f"{dist}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(entry_points))
    for name, source in modules.items():
        (root / f"{name}.py").write_text(source)


def test_user_plugin_from_entry_point(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, modules: list[TargetModule], clean_registry: None
) -> None:
    _install_distribution(
        tmp_path,
        "loralab_test_plugins",
        """
        [loralab.strategies]
        ep-first-layer = loralab_ep_plugin
        ep-broken = loralab_ep_broken
        """,
        {
            "loralab_ep_plugin": PLUGIN.format(name="ep-first-layer"),
            "loralab_ep_broken": "raise RuntimeError('boom')\n",
        },
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "_PLUGINS_LOADED", False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        names = available()
    assert "ep-first-layer" in names and "uniform" in names, "a broken plug-in must not hide the others"
    assert any("ep-broken" in str(w.message) and "boom" in str(w.message) for w in caught)
    with pytest.raises(StrategyError, match=r"ep-broken.*boom"):
        get_strategy("ep-broken")
    check_contract(get_strategy("ep-first-layer"), modules, "r4", Signals())
    for mod in ("loralab_ep_plugin", "loralab_ep_broken"):
        sys.modules.pop(mod, None)

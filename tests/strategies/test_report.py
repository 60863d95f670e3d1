"""The allocation and strategies tables the CLI prints."""

from __future__ import annotations

import warnings

from rich.console import Console
from strategy_fixtures import budget_for, gpt2_modules, llama_modules

from loralab.allocation_report import allocation_table, strategies_table
from loralab.strategies import Signals, available, get_strategy, parse_options


def render(table: object) -> str:
    console = Console(width=160, record=True, color_system=None)
    console.print(table)
    return console.export_text()


def test_allocation_table_shows_the_grid_totals_and_the_budget_check() -> None:
    mods = gpt2_modules()
    s = get_strategy("linear-decay")
    a = s.allocate(mods, budget_for("r8", mods), Signals(), parse_options(s, {}))
    text = render(allocation_table(a))
    for kind in ("attn_qkv", "attn_out", "mlp_in", "mlp_out"):
        assert kind in text
    assert "linear-decay at r8" in text and "PASS" in text and "32,768" in text and "ratio 1.0000" in text
    grid = {}  # layer -> ranks per kind, as printed
    for line in text.splitlines():
        cells = [c.strip().replace(",", "") for c in line.strip().strip("│").split("│")]
        if line.lstrip().startswith("│") and cells[0].isdigit():
            grid[int(cells[0])] = [int(c) for c in cells[1:5]]
    by_layer = {m.layer: a.ranks[m.name] for m in mods}
    assert grid == {layer: [rank] * 4 for layer, rank in by_layer.items()}  # each row is its layer's
    assert [grid[layer][0] for layer in sorted(grid)] == [12, 9, 7, 4]  # decays from the input side


def test_allocation_table_fails_an_allocation_below_tolerance_and_explains() -> None:
    mods = llama_modules()
    s = get_strategy("uniform")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = s.allocate(mods, budget_for("r8", mods), Signals(), parse_options(s, {}), max_rank=2)
    text = render(allocation_table(a))
    assert "FAIL" in text and "under" in text and "max_rank" in text


def test_allocation_table_of_a_dynamic_strategy_defers_the_check() -> None:
    mods = gpt2_modules()
    s = get_strategy("adalora")
    a = s.allocate(mods, budget_for("r8", mods), Signals(), parse_options(s, {}))
    text = render(allocation_table(a))
    assert "DYNAMIC" in text and "peak trainable params" in text and "FAIL" not in text


def test_strategies_table_lists_every_strategy_with_its_options() -> None:
    text = render(strategies_table())
    for name in available():
        assert name in text
    assert "concentration=1.0" in text and "importance" in text and "dynamic" in text

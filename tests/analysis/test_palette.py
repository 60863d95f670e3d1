"""One fixed colour per strategy: every built-in strategy has its own, stable across calls."""

from __future__ import annotations

from loralab.analysis.palette import BUILTIN, COLOURS, strategy_colour, strategy_marker
from loralab.strategies.registry import available


def test_every_registered_strategy_has_its_own_fixed_colour():
    names = available()
    assert set(names) <= set(BUILTIN), f"add {sorted(set(names) - set(BUILTIN))} to palette.BUILTIN"
    colours = [strategy_colour(n) for n in BUILTIN]
    assert len(set(colours)) == len(colours)
    assert strategy_colour("uniform") == COLOURS[0]


def test_unknown_strategies_get_a_stable_colour_and_marker():
    assert strategy_colour("my-plugin") == strategy_colour("my-plugin") in COLOURS
    assert strategy_marker("my-plugin") == strategy_marker("my-plugin")

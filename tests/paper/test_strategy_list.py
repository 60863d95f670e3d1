"""The method section describes each strategy as its runs recorded it (allocation.json), not as the
installed code describes it now; runs recorded before that fall back to the installed code's words."""

from __future__ import annotations

import json
from pathlib import Path

from loralab.paper.draft import _md_code_aware, _signal_strategies, _strategy_list
from loralab.paper.facts import collect_facts
from loralab.paper.inputs import load_inputs
from loralab.results.allocation import AllocationRecord, StrategyRecord
from loralab.run.allocate import strategy_record
from loralab.strategies import get_strategy, strategy_class
from tests.paper.study import make_study

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "alpaca-smollm2" / "store" / "alpaca-smollm2"


def _record(study: Path, strategy: str, described: StrategyRecord, runs: int | None = None) -> None:
    """Write allocation.json, keeping `described`, for (the first `runs` of) `strategy`'s runs."""
    allocation = {"strategy": strategy, "modules": [{"name": "q", "layer": 0, "kind": "attn_q", "rank": 8}]}
    dirs = [d for d in sorted(study.iterdir()) if f"strategy: {strategy}\n" in _spec(d)]
    for d in dirs[:runs]:
        record = AllocationRecord.static(allocation, 0.0, described)
        (d / "allocation.json").write_text(json.dumps(record.to_json()))


def _spec(d: Path) -> str:
    return (d / "spec.yaml").read_text() if (d / "spec.yaml").exists() else ""


def _lines(study: Path) -> dict[str, str]:
    """The strategy list of the draft, one line per strategy name."""
    inputs = load_inputs(study)
    text = _strategy_list(inputs, collect_facts(inputs))
    return {line.split("**")[1]: line for line in text.splitlines()}


def test_the_paper_describes_a_strategy_as_its_runs_recorded_it(tmp_path: Path):
    study = make_study(tmp_path, strategies=("uniform", "linear-decay", "gradient"))
    then = StrategyRecord(
        name="linear-decay",
        description="Rank as it was: `ratio` to one.",
        kind="static",
        needs=("importance",),
    )
    _record(study, "linear-decay", then, runs=1)  # one run that recorded it is enough
    _record(study, "gradient", StrategyRecord(name="gradient", description="Words of then.", kind="static"))
    lines = _lines(study)
    assert "Rank as it was: `ratio` to one." in lines["linear-decay"]
    assert strategy_class("linear-decay").description.rstrip(".") not in lines["linear-decay"]
    assert "Its signals (importance) are measured once" in lines["linear-decay"]  # recorded, not installed
    assert "Words of then." in lines["gradient"] and "Its signals" not in lines["gradient"]
    # the limitation about signals shared by every seed names the strategies that recorded signals
    shared = _signal_strategies(load_inputs(study))
    assert "linear-decay" in shared and "gradient" not in shared  # recorded, not as installed today
    # a strategy whose runs recorded nothing reads as the installed code describes it
    uniform = _md_code_aware(strategy_class("uniform").description, formulas=True).rstrip(".")
    assert lines["uniform"].startswith(f"- **uniform** (baseline): {uniform}")


def test_recorded_and_installed_descriptions_give_the_same_text_when_the_code_is_unchanged(tmp_path: Path):
    study = make_study(tmp_path, strategies=("uniform", "gradient", "spectrum", "linear-decay"))
    before = _lines(study)  # no run recorded its strategy: the installed code's words
    for name in before:
        _record(study, name, strategy_record(get_strategy(name)))
    assert _lines(study) == before
    assert "Its signals (importance)" in before["gradient"] and "Its signals (spectra)" in before["spectrum"]


def test_the_worked_example_was_recorded_before_and_reads_as_the_installed_code():
    lines = _lines(EXAMPLE)
    assert set(lines) == {"attention-heavy", "gradient", "linear-decay", "mlp-heavy", "spectrum", "uniform"}
    for name, line in lines.items():
        words = _md_code_aware(strategy_class(name).description, formulas=True).rstrip(".")
        assert line.startswith(f"- **{name}**{' (baseline)' if name == 'uniform' else ''}: {words}")
        assert ("Its signals" in line) == bool(strategy_class(name).needs)

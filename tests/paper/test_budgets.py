"""The paper of a study over two budgets: parameter counts compared within a budget, the α scaling
each budget implies stated as a limitation, and unfinished runs counted against the plan."""

from __future__ import annotations

import shutil

import pytest

from tests.analysis.generated_store import generate_store

EFFECTS = {"uniform": 0.0, "attention-heavy": 0.01, "spectrum": -0.005}


@pytest.fixture
def paper(tmp_path):
    pytest.importorskip("scipy", reason="the analysis needs the [analysis] extra (scipy, statsmodels)")
    from loralab.analysis.pipeline import analyze
    from loralab.analysis.schema import Settings
    from loralab.paper.build import draft_paper, resolve
    from loralab.paper.facts import collect_facts
    from loralab.paper.inputs import load_inputs

    study = generate_store(tmp_path, strategies=EFFECTS, budgets=("r2", "r16"), seeds=(0, 1, 2))
    for run in study.iterdir():  # one planned run never started: no directory at all
        spec = run / "spec.yaml"
        if spec.is_file() and all(
            w in spec.read_text() for w in ("strategy: spectrum", "budget: r16", "seed: 2")
        ):
            shutil.rmtree(run)
    stats, _ = analyze(study, settings=Settings(n_resamples=200))
    facts = collect_facts(load_inputs(study))
    return stats, facts, resolve(draft_paper(study).read_text(), facts, "markdown")


def test_parameter_counts_are_compared_within_each_budget(paper):
    stats, facts, resolved = paper
    numbers = {n.key: n for n in facts.numbers}
    within = []
    for budget in ("r2", "r16"):
        params = [c.trainable_params for c in stats.summaries if c.cell.get("budget") == budget]
        assert len(params) == 3
        within.append((max(params) - min(params)) / max(params))
    assert numbers["study.budgetspread"].value == pytest.approx(100 * max(within))
    assert numbers["study.budgetspread"].value < 5  # across budgets the counts differ eightfold
    assert (
        "at equal trainable-parameter budgets (`r2` and `r16`; within each, recorded counts within"
        in resolved
    )


def test_the_alpha_scaling_of_each_budget_is_a_limitation(paper):
    _, facts, resolved = paper
    numbers = {n.key: n for n in facts.numbers}
    assert numbers["budget.r2.scaling"].value == 16 / 2 and numbers["budget.r16.scaling"].value == 16 / 16
    limitations = resolved[resolved.index("# Limitations") : resolved.index("# Conclusion")]
    assert "which is 8 at `r2` and 1 at `r16`" in limitations
    assert (
        "confounds the number of trainable parameters with the adapters' effective step size" in limitations
    )


def test_unfinished_runs_are_counted_against_the_plan(paper):
    stats, _, resolved = paper
    assert not stats.complete
    assert stats.n_runs == 17  # run directories found; the plan asks for 18
    assert "the analysis used 17 of 18 planned runs" in resolved


def test_one_budget_has_no_scaling_limitation(tmp_path):
    from loralab.analysis.pipeline import analyze
    from loralab.analysis.schema import Settings
    from loralab.paper.build import draft_paper, resolve
    from loralab.paper.facts import collect_facts
    from loralab.paper.inputs import load_inputs

    study = generate_store(tmp_path, strategies=EFFECTS, seeds=(0, 1))
    analyze(study, settings=Settings(n_resamples=200))
    facts = collect_facts(load_inputs(study))
    resolved = resolve(draft_paper(study).read_text(), facts, "markdown")
    assert "Budgets differ" not in resolved and not any(n.key.startswith("budget.") for n in facts.numbers)
    assert "at an equal trainable-parameter budget (`r8`; recorded counts within" in resolved

"""The paper of a study whose primary metric is exact match: its words, units, direction and margin are
the metric's (percentage points, higher is better), with no eval-loss words in the abstract or the
primary results."""

from __future__ import annotations

import re

import pytest

from tests.analysis.test_primary_metric import accuracy_study

LOSS_WORDS = ("perplexity", "nats", "lower loss", "lower eval loss", "loss difference")


@pytest.fixture
def paper(tmp_path):
    pytest.importorskip("scipy", reason="the analysis needs the [analysis] extra (scipy, statsmodels)")
    from loralab.analysis.pipeline import analyze
    from loralab.analysis.schema import Settings
    from loralab.paper.build import draft_paper, resolve
    from loralab.paper.facts import collect_facts
    from loralab.paper.inputs import load_inputs

    directory = accuracy_study(tmp_path / "runs")
    stats, _ = analyze(directory, settings=Settings(n_resamples=200))
    draft = draft_paper(directory).read_text()
    facts = collect_facts(load_inputs(directory))
    return stats, draft, facts, resolve(draft, facts, "markdown")


def _section(text: str, start: str, end: str) -> str:
    return text[text.index(start) : text.index(end, text.index(start))]


def test_the_abstract_and_results_speak_of_accuracy_not_loss(paper):
    _, _, _, resolved = paper
    abstract = _section(resolved, "abstract:", "\n---")
    results = _section(resolved, "# Results", "## Eval loss (secondary outcome)")  # the primary's
    # the eval loss, a secondary outcome here, keeps its own words in its own forest plot's caption
    results = "\n".join(line for line in results.splitlines() if "fig:forest-eval-loss" not in line)
    setup = _section(resolved, "# Experimental setup", "# Results")
    for text in (abstract, results, setup):
        for word in LOSS_WORDS:
            assert word not in text.lower(), word
    assert "linear-decay (1 of 3) is better than uniform, with a higher exact-match accuracy" in abstract
    assert "spectrum (1 of 3) is worse than uniform, with a lower exact-match accuracy" in abstract
    assert "$\\delta$ = 2.0 percentage points" in abstract
    assert "(positive: the strategy is better)" in results
    assert "| Strategy | Seeds | Exact-match accuracy (%) | CI | Params |" in results
    assert "higher is better" in setup
    conclusion = _section(resolved, "# Conclusion", "# Reproducibility")
    assert "**linear-decay** raises the exact-match accuracy relative to uniform" in conclusion
    assert "**spectrum** lowers the exact-match accuracy relative to uniform" in conclusion
    assert "{{" not in resolved


def test_the_numbers_are_percentages_and_points(paper):
    stats, _, facts, resolved = paper
    numbers = {n.key: n for n in facts.numbers}
    assert numbers["study.margin"].value == pytest.approx(2.0)  # '2%': 2 percentage points
    better = next(c for c in stats.comparisons if c.a == "linear-decay")
    diff = numbers["cmp.cmp-linear-decay-uniform.diff"]
    assert diff.value == pytest.approx(100 * better.difference) and diff.value > 0
    assert numbers["cmp.cmp-linear-decay-uniform.difflo"].value == pytest.approx(
        100 * better.difference_ci.low
    )
    runs = {n.key: n for n in facts.numbers if n.key.startswith("run.") and n.key.endswith(".loss")}
    assert len(runs) == stats.n_done  # each run's accuracy, read from its record's scores
    assert all("eval.json: scores.exact_match.final" in n.source for n in runs.values())
    cell = next(c for c in stats.summaries if c.strategy == "linear-decay")
    assert numbers["cell.cell-linear-decay.loss"].value == pytest.approx(100 * cell.mean)
    claim = facts.claims["cmp.cmp-linear-decay-uniform"]
    assert "higher exact-match accuracy" in claim and "percentage points" in claim
    assert "perplexity" not in claim
    shown = f"{100 * better.difference:.1f}"
    assert re.search(rf"difference {re.escape(shown)} percentage points", resolved)

"""Tables: one rounding rule, the best value in bold, significance and caveats marked, valid booktabs."""

from __future__ import annotations

from pathlib import Path

import pytest

from loralab.analysis.load import load_study_dir
from loralab.analysis.schema import Settings
from loralab.analysis.study_stats import study_stats
from loralab.analysis.tables import Table, comparisons_table, coverage_table, fp, latex_escape, main_table

from .generated_store import generate_store


@pytest.fixture(scope="module")
def stats(tmp_path_factory):
    root = tmp_path_factory.mktemp("tables")
    directory = generate_store(root, seeds=(0, 1, 2, 3, 4), states={("spectrum", "r8", 4): "failed"})
    return study_stats(load_study_dir(directory), Settings(n_resamples=1000))


def test_p_value_rounding_rule():
    assert [fp(None), fp(0.0004), fp(0.01234), fp(0.5)] == ["–", "<0.001", "0.012", "0.5"]


def test_markdown_and_latex_by_hand():
    t = Table(
        "t",
        "Cap_tion 50%",
        ["a", "b"],
        [["x_1", "1.0000"], ["y", "2.0000"]],
        frozenset({(0, 1)}),
        ("‡ note",),
    )
    assert t.markdown().splitlines()[2:6] == [
        "| a | b |",
        "|---|---:|",
        "| x_1 | **1.0000** |",
        "| y | 2.0000 |",
    ]
    tex = t.latex()
    assert "\\toprule" in tex and "\\midrule" in tex and "\\bottomrule" in tex
    assert "x\\_1 & \\textbf{1.0000} \\\\" in tex and "Cap\\_tion 50\\%" in tex
    assert latex_escape("Δ ‡") == "$\\Delta$ $^\\ddagger$"


def test_main_table_bolds_the_lowest_better_loss_and_states_verdicts(stats):
    table = main_table(stats)
    loss = table.header.index("loss")
    (bold,) = [(i, j) for i, j in table.bold]
    best = min(table.rows, key=lambda r: float(r[loss]))
    assert table.rows[bold[0]] == best and bold[1] == loss
    assert best[table.header.index("strategy")] == "linear-decay"  # the generated effect (-0.03)
    verdict = {r[table.header.index("strategy")]: r[table.header.index("verdict")] for r in table.rows}
    assert verdict["uniform"] == "–" and verdict["linear-decay"] == "better"
    assert set(verdict.values()) <= {"–", "better", "worse", "equivalent", "unresolved"}
    assert any("simultaneous" in n and "Bonferroni" in n for n in table.notes)
    assert not any("significant at" in n for n in table.notes)


def test_comparisons_and_coverage_tables(stats, tmp_path: Path):
    comps = comparisons_table(stats)
    assert len(comps.rows) == 3 and comps.header[3] == "Δ loss"
    cov = coverage_table(stats)
    assert "INCOMPLETE" in cov.caption
    row = next(r for r in cov.rows if "spectrum" in r[0])
    assert row[1:4] == ["0,1,2,3,4", "0,1,2,3", "4"]


def test_a_secondary_metric_gets_its_table_and_a_per_task_table(tmp_path):
    from loralab.analysis.load import load_study_dir
    from loralab.analysis.schema import Settings
    from loralab.analysis.study_stats import study_stats
    from loralab.analysis.tables import all_tables

    from .generated_store import generate_store

    accuracy = {"uniform": 0.5, "linear-decay": 0.8, "attention-heavy": 0.5, "spectrum": 0.2}
    directory = generate_store(tmp_path, seeds=(0, 1, 2, 3), accuracy=accuracy)
    stats = study_stats(load_study_dir(directory), Settings(n_resamples=500))
    tables = {t.name: t for t in all_tables(stats)}
    acc, by_task = tables["exact_match"], tables["exact_match_by_task"]
    (section,) = stats.secondary
    row = next(r for r in acc.rows if r[0] == "linear-decay")
    comp = next(c for c in section.comparisons if c.a == "linear-decay")
    assert row[-2] == "better" and row[-4] == f"{100 * comp.difference:+.1f}"  # percentage points
    assert row[-3] == f"[{100 * comp.difference_ci.low:.1f}, {100 * comp.difference_ci.high:.1f}]"
    assert "family of their own" in acc.notes[0] and "higher is better" in acc.notes[0]
    assert [r[0] for r in by_task.rows] == ["add", "copy"] and by_task.header[-1] == "base model"
    assert "exact_match" not in {
        t.name
        for t in all_tables(
            study_stats(load_study_dir(generate_store(tmp_path / "p")), Settings(n_resamples=500))
        )
    }

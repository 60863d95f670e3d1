"""Strategy × context contrasts (loralab/analysis/interaction.py): reference values against scipy,
calibration of the verdict rule by simulation (with a data-dependent second look), and the study
path from run records to stats.json and the table."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as st

from loralab.analysis.interaction import interactions
from loralab.analysis.schema import Comparison, SeedDifference, Settings
from loralab.analysis.stats import interval_confidence

STRATEGIES = ("a1", "a2", "a3", "a4")
LEVELS = ("r2", "r16")


def _comparison(a: str, level: str, diffs: dict[int, float]) -> Comparison:
    per_seed = [
        SeedDifference(
            seed=k, run_a=f"{a}{level}{k}", run_b=f"u{level}{k}", value_a=1.0 + d, value_b=1.0, difference=d
        )
        for k, d in sorted(diffs.items())
    ]
    return Comparison.model_construct(
        kind="vs_baseline", a=a, b="uniform", context={"budget": level}, per_seed=per_seed
    )


def _family(diffs: np.ndarray, seeds: list[list[int]] | None = None) -> list[Comparison]:
    """Comparisons from per-seed differences `(strategies, levels, seeds)`."""
    out = []
    for i, a in enumerate(STRATEGIES[: diffs.shape[0]]):
        for j, level in enumerate(LEVELS):
            ks = seeds[i] if seeds is not None else range(diffs.shape[2])
            out.append(_comparison(a, level, {k: float(diffs[i, j, k]) for k in ks}))
    return out


def test_contrast_is_the_t_interval_of_per_seed_contrasts_against_scipy():
    rng = np.random.default_rng(1)
    diffs = rng.normal(0, 0.01, size=(2, 2, 5))
    settings = Settings(looks=2)
    out = interactions(_family(diffs), settings, margin=0.01)
    assert [i.strategy for i in out] == ["a1", "a2"]
    level = interval_confidence(0.05, 2, 2)
    for i, row in zip(range(2), out, strict=True):
        d = diffs[i, 0] - diffs[i, 1]
        ref = st.ttest_1samp(d, 0.0)
        lo, hi = ref.confidence_interval(level)
        assert row.level_a == "r2" and row.level_b == "r16"  # natural order: the scarce budget first
        assert row.difference == pytest.approx(d.mean(), abs=1e-15)
        assert row.difference_a == pytest.approx(diffs[i, 0].mean()) and row.difference_b == pytest.approx(
            diffs[i, 1].mean()
        )
        assert (row.difference_ci.low, row.difference_ci.high) == pytest.approx((lo, hi), rel=1e-12)
        assert row.p_adjusted == pytest.approx(min(1.0, ref.pvalue * 2 * 2))


def test_only_seeds_in_all_four_cells_are_paired_and_one_seed_is_unresolved():
    diffs = np.zeros((1, 2, 3))
    diffs[0, 0] = [0.05, 0.06, 0.07]
    family = [_comparison("a1", "r2", {0: 0.05, 1: 0.06, 2: 0.07}), _comparison("a1", "r16", {0: 0.0})]
    (row,) = interactions(family, Settings(), margin=0.01)
    assert row.seeds == [0] and row.n_seeds == 1
    assert row.difference == pytest.approx(0.05) and row.difference_ci is None and row.verdict == "unresolved"


def test_verdicts_read_the_interval_against_delta():
    base = np.array([0.0, 0.001, -0.001, 0.0005, -0.0005])
    family = [
        _comparison("a1", "r2", dict(enumerate(0.05 + base))),  # changes by 0.05 >> δ
        _comparison("a1", "r16", dict(enumerate(base * 0.5))),
        _comparison("a2", "r2", dict(enumerate(base))),  # the same Δ at both budgets
        _comparison("a2", "r16", dict(enumerate(base * 0.9))),
        _comparison("a3", "r2", dict(enumerate([0.0, 0.04, -0.04, 0.03, -0.03]))),  # too noisy
        _comparison("a3", "r16", dict(enumerate(base))),
    ]
    verdicts = {i.strategy: i.verdict for i in interactions(family, Settings(), margin=0.01)}
    assert verdicts == {"a1": "changes", "a2": "same", "a3": "unresolved"}


def _simulate(n_sims: int, n_seeds: int, contrast: float, rng: np.random.Generator) -> np.ndarray:
    """Per-seed differences from the baseline `(sims, strategies, levels, seeds)`: the baseline's own
    seed effect is shared by every strategy's difference at a level (they are correlated), each run
    has its own, and strategy i's true contrast Δ(r2) − Δ(r16) is `contrast`."""
    sd = 0.004
    base = rng.normal(0, sd, size=(n_sims, 1, 2, n_seeds))
    runs = rng.normal(0, sd, size=(n_sims, len(STRATEGIES), 2, n_seeds))
    truth = np.array([0.003 + contrast, 0.003])[None, None, :, None]
    return truth + runs - base


def _verdicts(diffs: np.ndarray, margin: float, looks: int, seeds=None) -> list[str]:
    return [i.verdict for i in interactions(_family(diffs, seeds), Settings(looks=looks), margin)]


@pytest.mark.parametrize("n_seeds", [3, 5])
def test_no_interaction_gives_a_false_changes_in_at_most_alpha_of_studies(n_seeds):
    rng = np.random.default_rng(20261206 + n_seeds)
    sims = _simulate(1500, n_seeds, 0.0, rng)
    false = np.mean([any(v == "changes" for v in _verdicts(d, 0.01, 1)) for d in sims])
    assert false <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / 1500)
    assert false > 0.005  # the rule is not vacuous: with 4 contrasts at 0.05 family-wise it does reject


def test_a_contrast_of_delta_is_called_same_in_at_most_alpha_of_studies():
    margin = 0.004
    rng = np.random.default_rng(7)
    sims = _simulate(1500, 5, margin, rng)
    same = np.mean([any(v == "same" for v in _verdicts(d, margin, 1)) for d in sims])
    assert same <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / 1500)


def test_a_second_look_chosen_by_the_data_keeps_the_family_wise_error():
    """Adaptive seeds: every strategy gets seeds 3 and 4 when its 3-seed contrast was unresolved (the
    choice that most favours a false 'changes'); the final analysis counts both looks."""
    rng = np.random.default_rng(11)
    sims = _simulate(1500, 5, 0.0, rng)
    false = 0
    for d in sims:
        first = _verdicts(d[..., :3], 0.01, 2)
        seeds = [list(range(5)) if v == "unresolved" else list(range(3)) for v in first]
        final = _verdicts(d, 0.01, 2, seeds)
        false += any(v == "changes" for v in final)
    assert false / len(sims) <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / 1500)


def test_a_real_interaction_is_found():
    rng = np.random.default_rng(3)
    sims = _simulate(300, 5, 0.03, rng)
    found = np.mean([all(v == "changes" for v in _verdicts(d, 0.01, 1)) for d in sims])
    assert found > 0.9


def test_study_with_two_budgets_reports_contrasts_in_stats_and_table(tmp_path):
    from loralab.analysis.pipeline import analyze

    from .generated_store import generate_store

    effects = {"uniform": 0.0, "attention-heavy": 0.01}
    study = generate_store(tmp_path, strategies=effects, budgets=("r2", "r16"), seeds=(0, 1, 2))
    stats, _ = analyze(study)
    (row,) = stats.interactions
    assert (row.strategy, row.field, row.level_a, row.level_b, row.n_seeds) == (
        "attention-heavy",
        "budget",
        "r2",
        "r16",
        3,
    )
    by = {(c.context["budget"]): c for c in stats.comparisons}
    d = np.array([x.difference for x in by["r2"].per_seed]) - np.array(
        [x.difference for x in by["r16"].per_seed]
    )
    assert row.difference == pytest.approx(d.mean())
    table = (study / "analysis" / "tables" / "interaction.md").read_text()
    assert "attention-heavy vs uniform" in table and "r2 vs r16" in table
    assert row.verdict in table


def test_one_context_has_no_contrasts(tmp_path):
    from loralab.analysis.pipeline import analyze

    from .generated_store import generate_store

    study = generate_store(tmp_path, strategies={"uniform": 0.0, "attention-heavy": 0.01}, seeds=(0, 1))
    assert analyze(study)[0].interactions == []
    assert not (study / "analysis" / "tables" / "interaction.md").exists()


def test_the_paper_states_each_contrast_from_stats_json(tmp_path):
    from loralab.analysis.pipeline import analyze
    from loralab.analysis.schema import Settings
    from loralab.paper.build import draft_paper, resolve
    from loralab.paper.facts import collect_facts
    from loralab.paper.inputs import load_inputs

    from .generated_store import generate_store

    effects = {"uniform": 0.0, "attention-heavy": 0.01, "spectrum": -0.005}
    study = generate_store(tmp_path, strategies=effects, budgets=("r2", "r16"), seeds=(0, 1, 2))
    stats, _ = analyze(study, settings=Settings(n_resamples=200))
    draft = draft_paper(study).read_text()
    assert "{{claim:interactions}}" in draft and "{#tbl:interaction}" in draft
    facts = collect_facts(load_inputs(study))
    numbers = {n.key: n for n in facts.numbers}
    resolved = resolve(draft, facts, "markdown")
    counts = {v: sum(x.verdict == v for x in stats.interactions) for v in ("changes", "same", "unresolved")}
    assert f"of its {len(stats.interactions)} contrasts" in resolved
    for (x, key), row in zip(facts.interaction_keys, stats.interactions, strict=True):
        assert x == row
        assert numbers[key + ".diff"].value == row.difference
        assert numbers[key + ".lo"].value == row.difference_ci.low
        assert numbers[key + ".diff"].source.startswith("stats.json: interactions[")
        line = next(line for line in resolved.splitlines() if line.startswith(f"| {x.strategy} | r2 vs r16"))
        assert f"{row.difference:.4f}" in line and f"{row.difference_ci.high:.4f}" in line
    assert sum(counts.values()) == 2

"""A study's statistics from a generated store: the fast shared-resample path equals the reference path."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from loralab.analysis import stats as S
from loralab.analysis.load import load_study_dir
from loralab.analysis.schema import Settings
from loralab.analysis.study_stats import study_stats
from loralab.errors import AnalysisError
from loralab.store import atomic_write_parquet

from .generated_store import generate_store

SETTINGS = Settings(n_resamples=1000, seed=3)


@pytest.fixture
def directory(tmp_path):
    return generate_store(tmp_path, seeds=(0, 1, 2, 3, 4, 5))


def arm_arrays(data, strategy):
    runs = data.done[data.done["strategy"] == strategy].sort_values("seed")
    frames = [data.examples[r] for r in runs["run_id"]]
    return np.stack([f["nll_sum"] for f in frames]), np.stack([f["tokens"] for f in frames])


def test_comparisons_match_a_direct_computation(directory):
    data = load_study_dir(directory)
    stats = study_stats(data, SETTINGS)
    comp = next(c for c in stats.comparisons if c.a == "linear-decay")
    nll_a, tok_a = arm_arrays(data, "linear-decay")
    nll_b, tok_b = arm_arrays(data, "uniform")
    d = S.token_loss(nll_a, tok_a) - S.token_loss(nll_b, tok_b)
    assert comp.difference == pytest.approx(d.mean(), rel=1e-12)
    assert comp.primary_test == "seed_t" and comp.caveat is None
    assert comp.p_primary == pytest.approx(S.paired_t(d)[1], rel=1e-10)
    # the shared-resample fast path gives the reference two-level bootstrap's interval
    reps = S.two_level_bootstrap(nll_a, tok_a, nll_b, tok_b, n_resamples=1000, seed=3)
    lo, hi = S.percentile_interval(reps, 0.95)
    assert (comp.example_ci.low, comp.example_ci.high) == pytest.approx((lo, hi), rel=1e-9)
    _, p_ex, _ = S.example_permutation_test(nll_a, tok_a, nll_b, tok_b, 1000, 3)
    assert comp.example_permutation.p_value == pytest.approx(p_ex, abs=1e-12)
    # the verdict's interval: t over per-seed differences, simultaneous over the family of 3 (scipy)
    level = 1 - 0.05 / 3
    ref = scipy_stats.t.interval(level, len(d) - 1, loc=d.mean(), scale=scipy_stats.sem(d))
    assert (comp.difference_ci.low, comp.difference_ci.high) == pytest.approx(ref, rel=1e-9)
    assert comp.difference_ci.confidence == pytest.approx(level)
    assert comp.p_adjusted == pytest.approx(min(1.0, 3 * comp.p_primary))
    # the verdict agrees with the interval and with the adjusted p
    excludes_zero = comp.difference_ci.high < 0 or comp.difference_ci.low > 0
    assert excludes_zero == (comp.p_adjusted < 0.05)
    assert comp.verdict == S.verdict_of(comp.difference_ci.low, comp.difference_ci.high, comp.margin)
    assert stats.family_size == 3 and stats.complete


def test_runs_on_different_eval_examples_are_refused(directory):
    data = load_study_dir(directory)
    rid = data.done[data.done["strategy"] == "spectrum"]["run_id"].iloc[0]
    path = directory / rid / "eval_examples.parquet"
    frame = pd.read_parquet(path)
    atomic_write_parquet(path, frame.assign(example=frame["example"] + 1000))
    with pytest.raises(AnalysisError, match="different eval examples"):
        study_stats(load_study_dir(directory), SETTINGS)


def test_no_finished_runs_is_an_error(tmp_path):
    directory = generate_store(
        tmp_path, strategies={"uniform": 0.0}, seeds=(0,), states={("uniform", "r8", 0): "failed"}
    )
    with pytest.raises(AnalysisError, match="no finished runs"):
        study_stats(load_study_dir(directory), SETTINGS)


ACCURACY = {"uniform": 0.5, "linear-decay": 0.8, "attention-heavy": 0.5, "spectrum": 0.2}


def _without_run_ids(comparison):
    """A comparison's fields without the run ids (the two stores' roots, hence ids, differ)."""
    out = comparison.model_dump()
    out["per_seed"] = [{k: v for k, v in x.items() if k not in ("run_a", "run_b")} for x in out["per_seed"]]
    return out


def test_a_second_metric_is_its_own_family_and_leaves_the_loss_unchanged(tmp_path):
    """exact_match recorded per example flows through cells and comparisons like the loss: its values,
    its interval (scipy), its direction (higher is better) and its own Bonferroni family; the loss
    statistics are the same as in a store without it."""
    plain = study_stats(load_study_dir(generate_store(tmp_path / "a", seeds=(0, 1, 2, 3))), SETTINGS)
    data = load_study_dir(generate_store(tmp_path / "b", seeds=(0, 1, 2, 3), accuracy=ACCURACY))
    stats = study_stats(data, SETTINGS)
    assert data.metrics == ("eval_loss", "exact_match") and stats.metric == "eval_loss"
    per_task = {"by_task", "base_by_task"}  # only the store with tasks has them
    assert [c.model_dump(exclude=per_task) for c in stats.summaries] == [
        c.model_dump(exclude=per_task) for c in plain.summaries
    ]
    assert [_without_run_ids(c) for c in stats.comparisons] == [
        _without_run_ids(c) for c in plain.comparisons
    ]
    (acc,) = stats.secondary
    assert acc.metric == "exact_match" and acc.family_size == 3 and acc.margin == pytest.approx(0.01)
    scores = {
        s: np.array([data.examples[r]["exact_match"].mean() for r in g.sort_values("seed")["run_id"]])
        for s, g in data.done.groupby("strategy")
    }
    cell = next(c for c in acc.summaries if c.strategy == "linear-decay")
    assert cell.mean == pytest.approx(scores["linear-decay"].mean(), rel=1e-12)
    assert cell.shown == pytest.approx(100 * cell.mean)
    base = [
        data.base_examples[r]["exact_match"].mean() for r in data.done["run_id"] if r in data.base_examples
    ]
    assert cell.base == pytest.approx(np.mean(base[:4]), abs=0.2)  # the base model scores about 0.1
    by = {c.a: c for c in acc.comparisons}
    d = scores["linear-decay"] - scores["uniform"]
    ref = scipy_stats.t.interval(1 - 0.05 / 3, len(d) - 1, loc=d.mean(), scale=scipy_stats.sem(d))
    up = by["linear-decay"]
    assert (up.difference_ci.low, up.difference_ci.high) == pytest.approx(ref, rel=1e-9)
    assert up.difference > 0 and up.verdict == "better" and up.share_seeds_better == 1.0
    assert up.effect == pytest.approx(100 * up.difference)  # percentage points
    assert by["spectrum"].verdict == "worse" and by["spectrum"].prob_improvement == 0.0
    assert by["attention-heavy"].verdict in ("unresolved", "equivalent")


def test_a_study_file_chooses_its_metrics_and_a_metric_no_run_recorded_is_one_line(tmp_path):
    from loralab.results.study_record import StudyRecord

    directory = generate_store(tmp_path, seeds=(0, 1, 2), accuracy=ACCURACY)
    only_loss = StudyRecord(name="gen", definition={"analysis": {"metrics": ["eval_loss"]}})
    assert study_stats(load_study_dir(directory, plan=only_loss), SETTINGS).secondary == []
    plain = generate_store(tmp_path / "p", seeds=(0, 1, 2))
    asked = StudyRecord(name="gen", definition={"analysis": {"metrics": ["eval_loss", "exact_match"]}})
    with pytest.raises(AnalysisError, match="did not record exact_match"):
        study_stats(load_study_dir(plain, plan=asked), SETTINGS)


def test_per_task_breakdown_is_the_metric_on_each_task(tmp_path):
    data = load_study_dir(generate_store(tmp_path, seeds=(0, 1), accuracy=ACCURACY))
    (acc,) = study_stats(data, SETTINGS).secondary
    cell = next(c for c in acc.summaries if c.strategy == "uniform")
    rids = data.done[data.done["strategy"] == "uniform"]["run_id"]
    for task in ("add", "copy"):
        runs = [data.examples[r] for r in rids]
        want = np.mean([f[f["task"] == task]["exact_match"].mean() for f in runs])
        assert cell.by_task[task] == pytest.approx(want, rel=1e-12)
    assert set(cell.base_by_task) == {"add", "copy"}
    loss_cell = next(c for c in study_stats(data, SETTINGS).summaries if c.strategy == "uniform")
    adds = [data.examples[r][data.examples[r]["task"] == "add"] for r in rids]
    want = np.mean([g["nll_sum"].sum() / g["tokens"].sum() for g in adds])  # token-weighted per task
    assert loss_cell.by_task["add"] == pytest.approx(want, rel=1e-12)

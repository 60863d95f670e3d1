"""The convergence fact: is the baseline's eval loss still falling over the last quarter of training?"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from loralab.analysis.convergence import convergence
from loralab.analysis.load import load_study_dir
from loralab.errors import AnalysisError

from .generated_store import generate_store

DELTA = np.log(1.01)  # 1 % of perplexity


def curves(drops: dict[int, float], steps=(0, 10, 20, 30, 40, 50, 60), end=1.9) -> pd.DataFrame:
    """Eval curves per seed that fall by `drop` between step 40 (the last at or before 45) and 60."""
    rows = []
    for seed, drop in drops.items():
        for s in steps:
            loss = 2.1 if s == 0 else end + drop if s <= 40 else end + drop / 2 if s < 60 else end
            rows.append((seed, s, loss))
    return pd.DataFrame(rows, columns=["seed", "step", "loss"])


def fact(frame: pd.DataFrame, total: int = 60):
    return convergence(frame, total, DELTA, 0.95, strategy="uniform", study="s")


def test_reads_the_last_quarter_of_one_curve():
    c = fact(curves({0: 0.05}))
    assert (c.start_step, c.total_steps, c.seeds) == (40, 60, [0])
    assert c.loss_base == pytest.approx(2.1)
    assert c.drop == pytest.approx(0.05)
    assert c.drop_ci is None and c.still_falling


def test_a_drop_below_delta_is_flat():
    assert not fact(curves({0: DELTA / 2})).still_falling


def test_with_seeds_the_interval_must_exclude_zero():
    c = fact(curves({0: 0.2, 1: -0.15, 2: 0.0}))  # mean above δ, but the seeds disagree
    assert c.drop > DELTA and c.drop_ci.low < 0 and not c.still_falling
    c = fact(curves({0: 0.05, 1: 0.06, 2: 0.055}))
    assert c.drop_ci.low > 0 and c.still_falling


def test_no_curve_without_an_evaluation_during_training():
    assert fact(curves({0: 0.1}, steps=(0, 60))) is None
    assert fact(curves({0: 0.1}, steps=(0, 50, 60))) is None  # nothing at or before 75 %
    assert fact(pd.DataFrame(columns=["seed", "step", "loss"])) is None
    assert fact(curves({0: 0.1}, steps=(0, 20, 40)), total=60) is None  # never reaches the last step


def test_simulated_flat_curves_are_rarely_called_falling():
    """A curve with no real drop: 'still falling' needs the mean above δ and the interval above 0."""
    rng = np.random.default_rng(0)
    calls = 0
    for _ in range(2000):
        calls += fact(curves({s: float(rng.normal(0, 2 * DELTA)) for s in range(3)})).still_falling
    assert calls / 2000 < 0.025


def test_simulated_falling_curves_are_found():
    rng = np.random.default_rng(1)
    found = sum(
        fact(curves({s: float(5 * DELTA + rng.normal(0, DELTA)) for s in range(3)})).still_falling
        for _ in range(500)
    )
    assert found / 500 > 0.9


def test_the_study_reads_its_own_baseline_curves(tmp_path):
    study = generate_store(tmp_path, curve_steps=8)
    data = load_study_dir(study)
    assert data.learning_curve_study == "gen"
    assert sorted(data.learning_curve["seed"].unique()) == [0, 1, 2]
    assert sorted(data.learning_curve["step"].unique()) == [0, 4, 8]


def _declare(study, companion: str) -> None:
    path = study / "study.yaml"
    record = yaml.safe_load(path.read_text())
    record["definition"] = {"analysis": {"learning_curve": companion}}
    path.write_text(yaml.safe_dump(record))


def test_a_companion_study_supplies_the_curve(tmp_path):
    study = generate_store(tmp_path, curve_steps=8)
    generate_store(tmp_path, "curve", strategies={"uniform": 0.0}, seeds=(0,), curve_steps=8)
    _declare(study, "curve")
    data = load_study_dir(study)
    assert data.learning_curve_study == "curve"
    assert list(data.learning_curve["seed"].unique()) == [0]


def test_a_companion_that_trains_differently_is_refused(tmp_path):
    study = generate_store(tmp_path, curve_steps=8)
    generate_store(tmp_path, "curve", strategies={"uniform": 0.0}, seeds=(0,), lrs=(1e-3,), curve_steps=8)
    _declare(study, "curve")
    with pytest.raises(AnalysisError, match=r"train\.lr"):
        load_study_dir(study)
    _declare(study, "absent")
    with pytest.raises(AnalysisError, match="not a study directory"):
        load_study_dir(study)

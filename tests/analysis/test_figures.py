"""Figures: every applicable one is written as PDF + PNG at column width, with identical bytes on rerun."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from matplotlib.image import imread

from loralab.analysis.figures import WIDTH, write_figures
from loralab.analysis.load import load_study_dir
from loralab.analysis.schema import Settings
from loralab.analysis.study_stats import study_stats

from .generated_store import generate_store

STRATEGIES = {"uniform": 0.0, "linear-decay": -0.03, "adalora": -0.01}


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("figures")
    directory = generate_store(root, strategies=STRATEGIES, budgets=("r4", "r8"), seeds=(0, 1, 2))
    data = load_study_dir(directory)
    return data, study_stats(data, Settings(n_resamples=500))


def test_every_figure_is_written_at_column_width_and_reproducible(study, tmp_path: Path):
    data, stats = study
    first = write_figures(stats, data, tmp_path / "a")
    second = write_figures(stats, data, tmp_path / "b")
    expected = {"eval_loss", "forest", "curves", "eval_curve", "rank_heatmaps", "rank_trajectory", "pareto"}
    expected.add("example_gain")
    assert set(first) == expected  # several budgets: the Pareto view; AdaLoRA: its trajectory
    for name, files in first.items():
        assert [f.suffix for f in files] == [".pdf", ".png"]
        for a, b in zip(files, second[name], strict=True):
            assert hashlib.sha256(a.read_bytes()).digest() == hashlib.sha256(b.read_bytes()).digest(), a.name
        png = imread(files[1])
        assert png.shape[1] == pytest.approx(WIDTH * 220, abs=2)  # one paper column at 220 dpi


def test_colours_are_fixed_per_strategy_across_studies():
    from loralab.analysis.palette import strategy_colour

    assert strategy_colour("adalora") != strategy_colour("uniform") != strategy_colour("linear-decay")


def test_training_curves_are_smoothed_per_run_and_weighted_by_tokens():
    import pandas as pd

    from loralab.analysis.figures import smoothed

    train = pd.DataFrame(
        {
            "run_id": ["b", "a", "a", "a", "b"],
            "step": [1, 3, 1, 2, 2],
            "loss": [9.0, 3.0, 1.0, 2.0, 7.0],
            "tokens": [1.0, 1.0, 1.0, 3.0, 1.0],
        }
    )
    out = smoothed(train, window=2).set_index(["run_id", "step"])["loss"]
    assert out[("a", 1)] == 1.0  # fewer steps than the window at the start
    assert out[("a", 2)] == pytest.approx((1 * 1 + 2 * 3) / 4)  # weighted by supervised tokens
    assert out[("a", 3)] == pytest.approx((2 * 3 + 3 * 1) / 4)  # trailing: step 1 has left the window
    assert out[("b", 2)] == pytest.approx(8.0)  # runs never mix

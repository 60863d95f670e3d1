"""Figures: every applicable one is written as PDF + PNG at column width, with identical bytes on rerun."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.image import imread

from loralab.analysis import figures
from loralab.analysis.figures import FIGURES, WIDTH, paired_difference, write_figures
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
    expected |= {"example_gain", "train_curve"}
    assert set(first) == expected  # several budgets: the Pareto view; AdaLoRA: its trajectory
    assert list(first) == [f.name for f in FIGURES if f.name in first]  # one order: forest first
    assert next(iter(first)) == "forest"
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


@pytest.fixture
def drawn(monkeypatch):
    """Figures as drawn, by name, before `save` closes them."""
    figs = {}
    original = figures.save

    def keep(fig, out, name):
        figs[name] = (fig, [t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text"))])
        return original(fig, out, name)

    monkeypatch.setattr(figures, "save", keep)
    return figs


def _with_eval_steps(data, steps: int):
    """`data` with only the first `steps` distinct eval steps in its curves."""
    cur = data.curves
    evals = cur[cur["kind"] == "eval"]
    keep = sorted(evals["step"].unique())[:steps]
    cur = cur[(cur["kind"] != "eval") | cur["step"].isin(keep)]
    return replace(data, curves=cur.reset_index(drop=True))


def test_eval_curve_needs_three_evaluations_and_a_stale_one_is_removed(study, tmp_path: Path):
    data, stats = study
    assert data.curves[data.curves["kind"] == "eval"]["step"].nunique() == 3
    three = write_figures(stats, data, tmp_path)
    assert "eval_curve" in three and (tmp_path / "eval_curve.png").exists()
    two = write_figures(stats, _with_eval_steps(data, 2), tmp_path)  # base and final only: a line
    assert "eval_curve" not in two
    assert not (tmp_path / "eval_curve.png").exists() and not (tmp_path / "eval_curve.pdf").exists()
    assert (tmp_path / "forest.png").exists() and "forest" in two


def test_heatmap_columns_follow_the_model_and_final_only_for_dynamic(study, tmp_path: Path, drawn):
    data, stats = study
    # a layout whose model order is not alphabetical (v before out, up before gate)
    kinds = {"attn_qkv": "attn_v", "attn_out": "attn_out", "mlp_in": "mlp_up", "mlp_out": "mlp_gate"}
    alloc = data.allocations.assign(kind=data.allocations["kind"].map(kinds))
    figures.rank_heatmaps(stats, replace(data, allocations=alloc), tmp_path)
    fig, _ = drawn["rank_heatmaps"]
    panels = [ax for ax in fig.axes if ax.get_visible() and ax.get_title()]
    for ax in panels:
        assert [t.get_text() for t in ax.get_xticklabels()] == ["attn_v", "attn_out", "mlp_up", "mlp_gate"]
        assert min(t.get_fontsize() for t in ax.get_xticklabels()) >= 7
    titles = {ax.get_title() for ax in panels}
    assert titles == {"uniform", "linear-decay", "adalora (final)"}  # AdaLoRA alone is dynamic
    # the study has two budgets: the figure shows the first and says so
    assert fig._suptitle.get_text() == "Rank per layer × module (dynamic: final rank), budget=r4 (first of 2)"
    static = data.allocations[~data.allocations["run_id"].isin(_runs_of(data, "adalora"))]
    figures.rank_heatmaps(stats, replace(data, allocations=static), tmp_path)
    fig, _ = drawn["rank_heatmaps"]
    assert fig._suptitle.get_text() == "Rank per layer × module, budget=r4 (first of 2)"
    assert not any("final" in ax.get_title() for ax in fig.axes)


def _runs_of(data, strategy: str) -> list[str]:
    return list(data.done[data.done["strategy"] == strategy]["run_id"])


def test_box_plot_shows_and_counts_the_examples_beyond_its_whiskers(study, tmp_path: Path, drawn):
    data, stats = study
    figures.example_gain(stats, data, tmp_path)
    fig, texts = drawn["example_gain"]
    ax = fig.axes[0]
    counts = {}
    for strategy, label in zip(
        [t.get_text() for t in ax.get_yticklabels()], ax.texts[: len(ax.get_yticklabels())], strict=True
    ):
        counts[strategy] = label.get_text()
    first = data.done[data.done["budget"] == "r4"] if "budget" in data.done else data.done
    for strategy in counts:
        gains = []
        for rid in first[first["strategy"] == strategy]["run_id"]:
            run, base = data.examples[rid], data.base_examples[rid]
            gains.append((base["nll_sum"].to_numpy() - run["nll_sum"].to_numpy()) / run["tokens"].to_numpy())
        g = np.mean(gains, axis=0)
        q1, q3 = np.percentile(g, [25, 75])
        beyond = int(((g < q1 - 1.5 * (q3 - q1)) | (g > q3 + 1.5 * (q3 - q1))).sum())
        assert counts[strategy] == f"{beyond}/{len(g)}"
    assert sum(len(line.get_xdata()) for line in ax.lines if line.get_marker() == "o") > 0  # shown
    assert any("whiskers: 1.5 IQR" in t for t in texts) and any("mean" in t for t in texts)


def test_eval_loss_has_tick_labels_and_says_what_its_width_is(study, tmp_path: Path, drawn):
    _, stats = study
    figures.eval_loss(stats, tmp_path)
    fig, texts = drawn["eval_loss"]
    assert all(t.get_text() for t in fig.axes[0].get_xticklabels())
    assert fig.axes[0].get_xticklabels()
    assert any("eval-set sampling" in t for t in texts)
    caption = next(f.caption for f in FIGURES if f.name == "eval_loss")
    assert "dominated by the sampling of eval examples" in caption and "verdicts rest on" in caption


def test_training_curves_are_differences_from_the_baseline_on_the_same_seed():
    cur = pd.DataFrame(
        {
            "strategy": ["u", "u", "a", "a", "a", "b"],
            "seed": [0, 1, 0, 1, 2, 0],
            "step": [1, 1, 1, 1, 1, 2],
            "loss": [2.0, 3.0, 1.5, 3.5, 9.0, 1.0],
        }
    )
    out = paired_difference(cur, "u", ["seed"]).set_index(["strategy", "seed"])["loss"]
    assert out.to_dict() == {("a", 0): -0.5, ("a", 1): 0.5}  # seed 2 and step 2 have no partner


def test_one_seed_captions_drop_the_seed_band():
    """A study with one seed per cell gets captions without "mean over seeds" or a min–max band;
    with several seeds the captions are the FIGURES ones."""
    from types import SimpleNamespace

    from loralab.analysis.figures import FIGURES, figure_caption

    one = SimpleNamespace(summaries=[SimpleNamespace(n_seeds=1)] * 2, comparisons=["c"], metric="eval_loss")
    many = SimpleNamespace(
        summaries=[SimpleNamespace(n_seeds=3), SimpleNamespace(n_seeds=1)],
        comparisons=["c"],
        metric="eval_loss",
    )
    for f in FIGURES:
        assert figure_caption(f.name, many) == f.caption
        caption = figure_caption(f.name, one)
        assert "over seeds" not in caption.replace("interval over seeds", ""), (f.name, caption)
        assert "min–max" not in caption, (f.name, caption)


def test_a_secondary_metric_gets_its_forest_plot_in_its_own_unit(tmp_path):
    from loralab.analysis.figures import figure_caption, write_figures
    from loralab.analysis.load import load_study_dir
    from loralab.analysis.schema import Settings
    from loralab.analysis.study_stats import study_stats

    from .generated_store import generate_store

    accuracy = {"uniform": 0.5, "linear-decay": 0.8, "attention-heavy": 0.5, "spectrum": 0.2}
    data = load_study_dir(generate_store(tmp_path / "s", seeds=(0, 1, 2), accuracy=accuracy))
    stats = study_stats(data, Settings(n_resamples=300))
    out = tmp_path / "figs"
    made = write_figures(stats, data, out)
    assert "forest" in made and "forest_exact_match" in made
    assert "percentage points (positive: better)" in figure_caption("forest_exact_match", stats)
    (out / "forest_gone.png").write_bytes(b"stale")
    plain = load_study_dir(generate_store(tmp_path / "p", seeds=(0, 1, 2)))
    again = write_figures(study_stats(plain, Settings(n_resamples=300)), plain, out)
    assert "forest_exact_match" not in again and not list(out.glob("forest_*"))

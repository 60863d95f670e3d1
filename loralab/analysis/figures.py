"""Figures of a study at paper column width (3.4 in), as vector PDF and PNG with fixed metadata.

Plotting never computes statistics: each function draws values already in `StudyStats` or the
loaded frames, writes `<out>/<name>.pdf` and `.png`, and returns their paths. Re-runs give identical
bytes (Agg backend, no dates, no software stamp, fixed hash salt).
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import FixedFormatter, FixedLocator, MaxNLocator, NullLocator

from loralab.analysis.labels import fmt_value, label_of, natural_key
from loralab.analysis.load import StudyData
from loralab.analysis.palette import strategy_colour, strategy_marker
from loralab.analysis.schema import MetricStats, StudyStats
from loralab.analysis.study_stats import strategy_order
from loralab.modules import in_model_order
from loralab.results import EVAL_LOSS, Metric, get_metric, metric_names

WIDTH = 3.4  # inches: one column of a two-column paper
STYLE = {
    "font.size": 7.5,
    "axes.titlesize": 8,
    "axes.labelsize": 7.5,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "legend.fontsize": 6.5,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.5,
    "lines.linewidth": 1.2,
    "pdf.fonttype": 42,
    "svg.hashsalt": "loralab",
    "path.simplify": False,
}
MAX_PANELS = 6
MAX_CONTEXTS = 12  # eval-loss figure: contexts side by side
MAX_FOREST = 40  # forest plot rows


def save(fig: plt.Figure, out: Path, name: str) -> list[Path]:
    """Write `name`.pdf and `name`.png under `out` with fixed metadata; close the figure."""
    out.mkdir(parents=True, exist_ok=True)
    pdf, png = out / f"{name}.pdf", out / f"{name}.png"
    fig.savefig(pdf, metadata={"CreationDate": None, "Producer": "loralab", "Creator": "loralab"})
    fig.savefig(png, dpi=220, metadata={"Software": None})
    plt.close(fig)
    return [pdf, png]


def _legend(ax: plt.Axes, strategies: list[str], **kw) -> None:
    handles = [
        plt.Line2D([], [], color=strategy_colour(s), marker=strategy_marker(s), ls="", label=s, markersize=4)
        for s in strategies
    ]
    ax.legend(handles=handles, frameon=False, **kw)


def axis_label(metric: Metric) -> str:
    """An axis of the metric's values: 'eval loss (nats/token)', 'exact-match accuracy (%)'."""
    return f"{metric.paper_name} ({'%' if metric.transform == 'percent' else metric.unit})"


def eval_loss(stats: StudyStats, out: Path) -> list[Path]:
    """Mean of the primary metric (eval loss by default; the file is named after it) per strategy (and
    context) with its two-level bootstrap interval: strategies on the x axis for one context, contexts
    on it (strategies side by side, in the legend) for several."""
    metric = get_metric(stats.metric)
    scale = 100.0 if metric.transform == "percent" else 1.0  # a fraction is drawn in percent
    all_contexts = list(dict.fromkeys(label_of(_context(s.cell)) for s in stats.summaries))
    contexts = all_contexts[:MAX_CONTEXTS]
    summaries = [s for s in stats.summaries if label_of(_context(s.cell)) in contexts]
    strategies = strategy_order([s.strategy for s in summaries], stats.baseline)
    single = len(contexts) == 1
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(WIDTH, 2.4 if len(contexts) < 4 else 2.8))
        width = 0.8 / len(strategies)
        for s in summaries:
            if single:
                x = float(strategies.index(s.strategy))
            else:
                x = contexts.index(label_of(_context(s.cell)))
                x += (strategies.index(s.strategy) - (len(strategies) - 1) / 2) * width
            ci, mean = s.bootstrap_ci, scale * s.mean
            ax.errorbar(
                x,
                mean,
                yerr=[[mean - scale * ci.low], [scale * ci.high - mean]],
                fmt=strategy_marker(s.strategy),
                color=strategy_colour(s.strategy),
                markersize=4,
                capsize=2,
                elinewidth=1,
            )
        ax.set_ylabel(axis_label(metric))
        title = (
            f"{metric.paper_name.capitalize()}: mean over seeds, {stats.settings.confidence:.0%} bootstrap CI"
        )
        title += "\n(width mostly eval-set sampling; verdicts: paired Δ)"
        if len(all_contexts) > len(contexts):
            title += f"\n(first {len(contexts)} of {len(all_contexts)} contexts; all in the tables)"
        if single:
            ax.set_xticks(range(len(strategies)), strategies, rotation=30, ha="right", rotation_mode="anchor")
            ax.set_xlim(-0.6, len(strategies) - 0.4)
            if contexts != ["all"]:
                ax.set_xlabel(contexts[0])
            ax.set_title(title)
            ax.grid(axis="x", visible=False)
        else:
            shown = list(dict.fromkeys(_values(_context(s.cell)) for s in summaries))
            ax.set_xticks(range(len(contexts)), shown, rotation=30 if len(contexts) > 4 else 0)
            ax.set_xlabel(", ".join(f.split(".")[-1] for f in stats.cell_fields if f != "strategy"))
            _top_legend(ax, strategies, title)
        fig.tight_layout()
        return save(fig, out, stats.metric)


def forest(stats: StudyStats, out: Path, section: MetricStats | None = None) -> list[Path]:
    """Paired differences vs the baseline with the simultaneous interval each verdict rests on, ±δ
    shaded: of the primary metric, or of a secondary `section` (drawn in its shown unit, e.g. pp)."""
    section = section or stats.metric_sections()[0]
    metric = get_metric(section.metric)
    scale = 100.0 if metric.transform == "percent" else 1.0  # a fraction is drawn in percentage points
    every = [c for c in section.comparisons if c.kind == "vs_baseline"]
    comps = every[:MAX_FOREST]
    if not comps:
        return []
    margin = section.margin * scale
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(WIDTH, 0.9 + 0.22 * len(comps)))
        ax.axvspan(-margin, margin, color="0.92", lw=0, zorder=0)
        for i, c in enumerate(comps):
            y = len(comps) - 1 - i
            colour = strategy_colour(c.a)
            if c.difference_ci is not None:
                ax.plot(
                    [scale * c.difference_ci.low, scale * c.difference_ci.high], [y, y], color=colour, lw=1.4
                )
            ax.plot(
                scale * c.difference,
                y,
                strategy_marker(c.a),
                color=colour,
                markersize=5,
                markerfacecolor=colour if c.verdict in ("better", "worse") else "white",
            )
            ax.annotate(
                c.verdict,
                (1.01, y),
                xycoords=("axes fraction", "data"),
                fontsize=6.5,
                va="center",
                color="0.25",
            )
        ax.axvline(0, color="0.3", lw=0.8, ls="--")
        ends = [abs(scale * c.difference) for c in comps]  # a one-seed comparison has its point only
        ends += [
            abs(scale * v)
            for c in comps
            if c.difference_ci
            for v in (c.difference_ci.low, c.difference_ci.high)
        ]
        reach = max(margin, *ends)
        ax.set_xlim(-1.15 * reach, 1.15 * reach)  # symmetric, so the ±δ band and 0 read at a glance
        ax.xaxis.set_major_locator(MaxNLocator(nbins=4, symmetric=True))  # labels must not collide
        ax.set_ylim(-0.6, len(comps) - 0.4)
        labels = [c.a if not c.context else f"{c.a} · {_values(c.context)}" for c in comps]
        labels = [f"{lab}{' ‡' if c.caveat else ''}" for lab, c in zip(labels, comps, strict=True)]
        ax.set_yticks(range(len(comps))[::-1], labels)
        unit = "percentage points" if scale != 1 else metric.unit
        better = "< 0" if metric.direction == "lower" else "> 0"
        ax.set_xlabel(
            f"Δ {metric.paper_name} vs {stats.baseline} ({unit})\n{better}: better than {stats.baseline}"
        )
        title = f"Paired Δ, {1 - stats.settings.alpha:.0%} simultaneous intervals; grey: ±δ"
        if len(every) > len(comps):
            title += f"\nfirst {len(comps)} of {len(every)} (all in the tables)"
        ax.set_title(title)
        if any(c.caveat for c in comps):
            fig.text(0.01, 0.005, "‡ " + _caveats(comps), fontsize=6, color="0.3", va="bottom")
        ax.grid(axis="y", visible=False)
        fig.tight_layout(rect=(0, 0.04 if any(c.caveat for c in comps) else 0, 0.9, 1))
        return save(fig, out, "forest" if section.metric == stats.metric else f"forest_{section.metric}")


SMOOTH_FRACTION = 12  # the rolling window of the training curves: this fraction of the steps


def curves(stats: StudyStats, data: StudyData, out: Path) -> list[Path]:
    """Training loss of each strategy minus the baseline's on the same seed (and context), each run
    smoothed first (`smoothed`): mean over seeds and the min–max band, one panel per context. Absolute
    curves of six strategies lie within one band; their differences can be told apart."""
    train, window = _smoothed_train(data)
    if train.empty or not (train["strategy"] == stats.baseline).any():
        return []
    diff = paired_difference(train, stats.baseline, [*data.context_fields, "seed"])
    if diff.empty:
        return []
    smooth = f"rolling mean of {window} steps; " if window > 1 else ""
    return _curve_figure(
        stats,
        data,
        diff,
        out,
        "curves",
        f"Train loss minus {stats.baseline}'s, same seed ({smooth}mean, min–max over seeds)",
        f"Δ train loss vs {stats.baseline}",
        strategies=[s for s in _strategies(data, stats) if s != stats.baseline],
        zero=True,
    )


def train_curve(stats: StudyStats, data: StudyData, out: Path) -> list[Path]:
    """The baseline's training loss (each run smoothed): mean over seeds and the min–max band."""
    train, window = _smoothed_train(data)
    if train.empty or not (train["strategy"] == stats.baseline).any():
        return []
    smooth = f"token-weighted rolling mean of {window} steps; " if window > 1 else ""
    return _curve_figure(
        stats,
        data,
        train,
        out,
        "train_curve",
        f"Training loss of {stats.baseline} ({smooth}mean, min–max over seeds)",
        "train loss (nats/token)",
        strategies=[stats.baseline],
    )


def eval_curve(stats: StudyStats, data: StudyData, out: Path) -> list[Path]:
    """Eval loss at every evaluation (step 0 is the base model): mean over seeds and min–max band;
    nothing with fewer than 3 evaluations (base and final alone: a straight line that says nothing)."""
    evals = _curves_of(data, "eval")
    if evals.empty or evals["step"].nunique() < MIN_EVAL_STEPS:
        return []
    return _curve_figure(
        stats,
        data,
        evals,
        out,
        "eval_curve",
        "Eval loss (step 0: base model; mean, min–max over seeds)",
        "eval loss (nats/token)",
        markers=True,
    )


MIN_EVAL_STEPS = 3


def paired_difference(cur: pd.DataFrame, baseline: str, keys: list[str]) -> pd.DataFrame:
    """Each non-baseline run's `loss` minus the baseline run's with equal `keys` (context and seed)
    at the same step; steps or runs without a baseline partner are left out."""
    base = cur[cur["strategy"] == baseline][[*keys, "step", "loss"]].rename(columns={"loss": "_base"})
    other = cur[cur["strategy"] != baseline].merge(base, on=[*keys, "step"], how="inner")
    other["loss"] = other["loss"] - other["_base"]
    return other.drop(columns="_base")


def _smoothed_train(data: StudyData) -> tuple[pd.DataFrame, int]:
    train = _curves_of(data, "train")
    if train.empty:
        return train, 1
    window = max(1, round(int(train["step"].max()) / SMOOTH_FRACTION))
    return smoothed(train, window), window


def _strategies(data: StudyData, stats: StudyStats) -> list[str]:
    return strategy_order(list(data.done["strategy"].unique()), stats.baseline)


def smoothed(train: pd.DataFrame, window: int) -> pd.DataFrame:
    """Each run's loss as the token-weighted mean over its last `window` steps (fewer at the start)."""
    train = train.sort_values(["run_id", "step"]).copy()
    train["weighted"] = train["loss"] * train["tokens"]
    roll = train.groupby("run_id")[["weighted", "tokens"]].rolling(window, min_periods=1).sum()
    roll = roll.reset_index(level=0, drop=True)  # back to train's own index
    train["loss"] = roll["weighted"] / roll["tokens"]
    return train.drop(columns="weighted")


def _curves_of(data: StudyData, kind: str) -> pd.DataFrame:
    cur = data.curves
    if cur.empty:
        return cur
    return cur[cur["kind"] == kind].merge(data.done[["run_id", "seed", *data.cell_fields]], on="run_id")


def _curve_figure(
    stats: StudyStats,
    data: StudyData,
    cur: pd.DataFrame,
    out: Path,
    name: str,
    title: str,
    ylabel: str,
    *,
    markers: bool = False,
    strategies: list[str] | None = None,
    zero: bool = False,
) -> list[Path]:
    contexts = _contexts(data.done, data)[:MAX_PANELS]
    strategies = strategies if strategies is not None else _strategies(data, stats)
    with plt.rc_context(STYLE):
        fig, axes = _panels(len(contexts), height=2.1)
        for ax, (ctx, keys) in zip(axes, contexts, strict=False):
            if zero:
                ax.axhline(0, color="0.3", lw=0.8, ls="--")
            sub = cur[_match(cur, keys)]
            for s in strategies:
                g = sub[sub["strategy"] == s].groupby("step")["loss"]
                if not len(g):
                    continue
                m, lo, hi = g.mean(), g.min(), g.max()
                style = {"marker": strategy_marker(s), "markersize": 3} if markers else {}
                if markers and len(m) < 3:  # two evals: a line between them would invent a curve
                    style["ls"] = ":"
                ax.plot(m.index, m.values, color=strategy_colour(s), label=s, **style)
                ax.fill_between(m.index, lo.values, hi.values, color=strategy_colour(s), alpha=0.2, lw=0)
            if ctx != "all":
                ax.set_title(ctx)
            ax.set_xlabel("step")
        axes[0].set_ylabel(ylabel)
        wrapped = "\n".join(textwrap.wrap(title, 50))
        if len(strategies) == 1 and contexts[0][0] == "all":  # the title names the one strategy
            axes[0].set_title(wrapped)
        elif len(strategies) == 1:
            fig.suptitle(wrapped, fontsize=8)
        elif contexts[0][0] == "all":  # one panel: the legend between title and axes, clear of the data
            _top_legend(axes[0], strategies, wrapped)
        else:  # several panels: one legend above them all, clear of every panel's data and labels
            handles = [plt.Line2D([], [], color=strategy_colour(s), label=s) for s in strategies]
            ncol = min(len(strategies), 3)
            rows = -(-len(strategies) // ncol)
            height = fig.get_size_inches()[1]
            top = 1 - (0.02 + 0.075 * rows) * 2.1 / height
            fig.legend(
                handles=handles, frameon=False, loc="upper center", ncol=ncol, bbox_to_anchor=(0.5, 1.0)
            )
            fig.tight_layout(rect=(0, 0, 1, top))
            return save(fig, out, name)
        fig.tight_layout()
        return save(fig, out, name)


def rank_heatmaps(stats: StudyStats, data: StudyData, out: Path) -> list[Path]:
    """Rank per layer × module kind for each strategy (first seed of the first context), module kinds
    in the order of the model; a dynamic strategy's panel shows its final rank and says so."""
    alloc = data.allocations.merge(data.done[["run_id", "seed", *data.cell_fields]], on="run_id")
    if alloc.empty:
        return []
    contexts = _contexts(data.done, data)
    first_label, first_ctx = contexts[0]
    alloc = alloc[_match(alloc, first_ctx)]
    strategies = strategy_order(list(alloc["strategy"].unique()), stats.baseline)
    vmax = max(1, int(alloc["rank"].max()))
    kinds = in_model_order(data.allocations["kind"])  # rows as allocation.json lists the modules
    dynamic = set(alloc.loc[alloc["dynamic"].astype(bool), "strategy"]) if "dynamic" in alloc else set()
    with plt.rc_context(STYLE | {"axes.grid": False}):
        nrow = -(-len(strategies) // 4)
        ncol = -(-len(strategies) // nrow)  # rows as even as they can be: 6 → 3 + 3, not 4 + 2
        fig, axes = plt.subplots(
            nrow, ncol, figsize=(WIDTH, 0.6 + 1.9 * nrow), squeeze=False, sharey=True, layout="constrained"
        )
        for ax in axes.flat[len(strategies) :]:
            ax.set_visible(False)
        for ax, s in zip(axes.flat, strategies, strict=False):
            sub = alloc[alloc["strategy"] == s]
            sub = sub[sub["seed"] == sub["seed"].min()]
            grid = sub.pivot_table(index="layer", columns="kind", values="rank", aggfunc="sum").reindex(
                columns=kinds
            )
            im = ax.imshow(
                grid.to_numpy(float), aspect="auto", cmap="viridis", vmin=0, vmax=vmax, origin="lower"
            )
            ax.set_title(f"{s} (final)" if s in dynamic else s, fontsize=7.5)
            ax.set_xticks(range(len(kinds)), kinds, rotation=90, fontsize=7)
            ax.tick_params(length=2)
            ax.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=4))
        for ax in axes[:, 0]:
            ax.set_ylabel("layer")
        bar = fig.colorbar(im, ax=axes.ravel().tolist(), shrink=0.8, label="rank", pad=0.02)
        bar.locator = MaxNLocator(integer=True)
        bar.update_ticks()
        title = "Rank per layer × module"
        if dynamic:
            title += " (dynamic: final rank)"
        if len(contexts) > 1:  # the first context only: say which
            title += f", {first_label} (first of {len(contexts)})"
        fig.suptitle(title, fontsize=8)
        return save(fig, out, "rank_heatmaps")


def rank_trajectory(stats: StudyStats, data: StudyData, out: Path) -> list[Path]:
    """Adapter parameters over training for dynamic strategies (AdaLoRA): one line per run, labelled
    at its end with its context (runs of one context overlap when their schedules agree)."""
    ctx = data.context_fields
    traj = data.trajectories.merge(data.done[["run_id", "strategy", "seed", *ctx]], on="run_id")
    if traj.empty:
        return []
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(WIDTH, 2.0))
        labelled = set()
        for (s, _), g in traj.groupby(["strategy", "run_id"], sort=True):
            ax.plot(g["step"], g["params"] / 1e3, color=strategy_colour(s), alpha=0.8)
            label = f"{s}, {_values({f: g[f].iloc[0] for f in ctx})}" if ctx else s
            if label not in labelled:
                labelled.add(label)
                x, y = g["step"].iloc[-1], g["params"].iloc[-1] / 1e3
                ax.annotate(label, (x, y), xytext=(3, 0), textcoords="offset points", fontsize=6, va="center")
        lo, hi = float(traj["step"].min()), float(traj["step"].max())
        ax.set_xlim(lo, hi + 0.3 * max(hi - lo, 1))  # room for the labels
        ax.set_xlabel("step")
        ax.set_ylabel("adapter params (thousands)")
        ax.set_title("Adapter size during training (dynamic strategies)")
        fig.tight_layout()
        return save(fig, out, "rank_trajectory")


def _count(v: float) -> str:
    """610560 -> '611k', 4884480 -> '4.88M'."""
    return f"{v / 1e6:.3g}M" if v >= 1e6 else f"{v / 1e3:.3g}k"


def pareto(stats: StudyStats, out: Path) -> list[Path]:
    """Trainable parameters vs the primary metric across budgets (when the study has several)."""
    if "budget" not in stats.cell_fields:
        return []
    metric = get_metric(stats.metric)
    scale = 100.0 if metric.transform == "percent" else 1.0
    strategies = strategy_order([s.strategy for s in stats.summaries], stats.baseline)
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(WIDTH, 2.4))
        # other varied fields (e.g. the learning rate) are held at their first value
        others = [f for f in stats.cell_fields if f not in ("strategy", "budget")]
        first = {f: stats.summaries[0].cell.get(f) for f in others}
        cells = [x for x in stats.summaries if all(x.cell.get(f) == v for f, v in first.items())]
        for i, s in enumerate(strategies):
            rows = sorted(
                ((x.trainable_params, x) for x in cells if x.strategy == s and x.trainable_params),
                key=lambda row: row[0],
            )
            if not rows:
                continue
            xs = np.array([p for p, _ in rows])
            ys = np.array([scale * x.mean for _, x in rows])
            err = [
                [y - scale * x.bootstrap_ci.low, scale * x.bootstrap_ci.high - y]
                for (_, x), y in zip(rows, ys, strict=True)
            ]
            dodge = 1 + 0.025 * (i - (len(strategies) - 1) / 2)  # side by side, on a log axis
            ax.errorbar(
                xs * dodge,
                ys,
                yerr=np.array(err).T,
                color=strategy_colour(s),
                marker=strategy_marker(s),
                markersize=4,
                capsize=1.5,
                elinewidth=0.8,
                label=s,
            )
        ax.set_xscale("log")
        # one tick per budget, at its largest recorded count (strategies sit within a few % of it)
        budgets: dict[Any, float] = {}
        for x in cells:
            if x.trainable_params:
                b = x.cell.get("budget")
                budgets[b] = max(budgets.get(b, 0.0), x.trainable_params)
        ax.xaxis.set_major_locator(FixedLocator(list(budgets.values())))
        ax.xaxis.set_major_formatter(FixedFormatter([f"{b}\n{_count(v)}" for b, v in budgets.items()]))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xlabel("trainable parameters (log scale)")
        ax.set_ylabel(axis_label(metric))
        name = "Loss" if metric == EVAL_LOSS else metric.paper_name.capitalize()
        title = f"{name} against budget ({metric.direction} is better)" + (
            f"\n{label_of(first)}" if first else ""
        )
        _top_legend(ax, strategies, title)
        fig.tight_layout()
        return save(fig, out, "pareto")


WHISKER = 1.5  # box plots: whiskers reach the furthest point within this many IQRs of the box


def example_gain(stats: StudyStats, data: StudyData, out: Path) -> list[Path]:
    """Per-example gain over the base model (base − adapted NLL per token, mean over seeds): quartile
    box, whiskers to 1.5 IQR, every example beyond them a dot and their count at the right, ◆ the mean."""
    done = data.done[data.done["run_id"].isin(list(data.base_examples))]
    if done.empty:
        return []
    first_ctx_label, keys = _contexts(done, data)[0]
    done = done[_match(done, keys)]
    strategies = strategy_order(list(done["strategy"].unique()), stats.baseline)
    gains = []
    for s in strategies:
        rows = []
        for rid in done[done["strategy"] == s]["run_id"]:
            run, base = data.examples[rid], data.base_examples[rid]
            rows.append((base["nll_sum"].to_numpy() - run["nll_sum"].to_numpy()) / run["tokens"].to_numpy())
        gains.append(np.mean(rows, axis=0))
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(WIDTH, 1.1 + 0.32 * len(strategies)))
        pos = list(range(len(strategies)))[::-1]
        box = ax.boxplot(
            gains,
            positions=pos,
            orientation="horizontal",
            widths=0.6,
            whis=WHISKER,
            showfliers=True,
            patch_artist=True,
            flierprops={"marker": "o", "markersize": 1.5, "markeredgewidth": 0, "alpha": 0.5},
        )
        for patch, flier, s in zip(box["boxes"], box["fliers"], strategies, strict=True):
            patch.set(facecolor=strategy_colour(s), alpha=0.5)
            flier.set(markerfacecolor=strategy_colour(s))
        for median in box["medians"]:
            median.set(color="0.2", lw=1)
        for p, g, flier in zip(pos, gains, box["fliers"], strict=True):
            ax.plot(g.mean(), p, "D", color="white", markeredgecolor="black", markersize=3.5, zorder=3)
            n_out = len(flier.get_xdata())  # the examples beyond the whiskers, each drawn as a dot
            ax.annotate(
                f"{n_out}/{len(g)}", (1.01, p), xycoords=("axes fraction", "data"), fontsize=6.5, va="center"
            )
        ax.set_yticks(pos, strategies)
        ax.axvline(0, color="0.3", lw=0.8, ls="--")
        ax.set_xlabel(
            "base − adapted NLL (nats/token; > 0: better)\n"
            f"box: quartiles, median; whiskers: {WHISKER:g} IQR; ◆: mean\n"
            "dots: examples beyond the whiskers (count at right)"
        )
        title = "Per-example gain over the base model"
        ax.set_title(title if first_ctx_label == "all" else f"{title}\n({first_ctx_label})")
        ax.grid(axis="y", visible=False)
        fig.tight_layout(rect=(0, 0, 0.92, 1))
        return save(fig, out, "example_gain")


@dataclass(frozen=True)
class Figure:
    """One figure of a study: its file stem, its caption (plain text; the report shows it as is, the
    paper as Markdown with its symbols in math) and what draws it (no files: it does not apply)."""

    name: str
    caption: str
    draw: Callable[[StudyStats, StudyData, Path], list[Path]]


# Every figure `loralab analyze` writes, in the order the report and the paper show them: the paired
# differences the verdicts rest on first.
FIGURES: tuple[Figure, ...] = (
    Figure(
        "forest",
        "Paired eval-loss differences against the baseline (negative: better), each with the simultaneous"
        " t-interval over seeds that its verdict rests on; grey band: ±δ; filled markers: better or worse.",
        lambda stats, data, out: forest(stats, out),
    ),
    Figure(
        "pareto",
        "Trainable parameters against eval loss across budgets (mean over seeds, bootstrap intervals).",
        lambda stats, data, out: pareto(stats, out),
    ),
    Figure(
        "curves",
        "Training loss of each strategy minus that of the baseline run with the same seed (each run a"
        " token-weighted trailing rolling mean): mean over seeds and the min–max band; below 0: lower"
        " training loss than the baseline.",
        curves,
    ),
    Figure(
        "train_curve",
        "Training loss of the baseline (token-weighted trailing rolling mean of each run): mean over seeds"
        " and the min–max band.",
        train_curve,
    ),
    Figure(
        "eval_curve",
        "Eval loss at each evaluation (step 0: the base model without adapters): mean over seeds and the"
        f" min–max band; drawn only when training was evaluated at {MIN_EVAL_STEPS} or more steps.",
        eval_curve,
    ),
    Figure(
        "example_gain",
        "Per-example gain over the base model (base minus adapted NLL per token, mean over seeds): the box"
        " spans the quartiles with the median inside; whiskers reach the furthest example within"
        f" {WHISKER:g} × IQR of the box; every example beyond them is a dot, their count at the right; the"
        " diamond is the mean over examples, which those outlying examples move and the median does not.",
        example_gain,
    ),
    Figure(
        "eval_loss",
        "Mean eval loss per strategy with its two-level bootstrap interval (over seeds and eval examples)."
        " The width is dominated by the sampling of eval examples, which all strategies share; the paired"
        " differences (forest plot) cancel it, and the verdicts rest on them.",
        lambda stats, data, out: eval_loss(stats, out),
    ),
    Figure(
        "rank_heatmaps",
        "Rank per layer × module kind for each strategy (first seed), module kinds in the order of the"
        " model; a dynamic strategy's panel, marked final, shows its rank after training.",
        rank_heatmaps,
    ),
    Figure(
        "rank_trajectory",
        "Adapter parameters over training for dynamic strategies.",
        rank_trajectory,
    ),
)


SECONDARY_FOREST = "forest_"  # + a secondary metric's name: its forest plot

# A study whose every cell has one seed: its captions say so instead of "mean over seeds" and a band.
ONE_SEED_WORDS = (
    (": mean over seeds and the min–max band", "; one seed"),
    ("mean over seeds and the min–max band", "one seed"),
    (
        "two-level bootstrap interval (over seeds and eval examples)",
        "bootstrap interval over eval examples (one seed)",
    ),
    ("(mean over seeds, ", "(one seed, "),
    (", mean over seeds)", ", one seed)"),
)


# A study without comparisons: no sentence about pairing or verdicts.
UNCOMPARED_WORDS = (
    (
        " The width is dominated by the sampling of eval examples, which all strategies share; the paired"
        " differences (forest plot) cancel it, and the verdicts rest on them.",
        " The width is dominated by the sampling of eval examples.",
    ),
)


def secondary_forest_caption(metric: Metric) -> str:
    """The caption of a secondary metric's forest plot, from the metric's own words."""
    unit = "percentage points" if metric.transform == "percent" else metric.unit
    better = "negative" if metric.direction == "lower" else "positive"
    return (
        f"Paired {metric.paper_name} differences against the baseline in {unit} ({better}: better), each"
        " with the simultaneous t-interval over seeds that its verdict rests on (this metric's own family);"
        " grey band: ±δ; filled markers: better or worse."
    )


def primary_caption(name: str, metric: Metric) -> str | None:
    """The caption of a figure of the primary metric (`forest`, `pareto`, the means figure named after
    it) when that metric is not the eval loss, whose captions FIGURES holds."""
    unit = "percentage points" if metric.transform == "percent" else metric.unit
    if name == "forest":
        better = "negative" if metric.direction == "lower" else "positive"
        return (
            f"Paired {metric.paper_name} differences against the baseline in {unit} ({better}: better),"
            " each with the simultaneous t-interval over seeds that its verdict rests on; grey band: ±δ;"
            " filled markers: better or worse."
        )
    if name == "pareto":
        return (
            f"Trainable parameters against {metric.paper_name} across budgets (mean over seeds, bootstrap"
            f" intervals; {metric.direction} is better)."
        )
    if name == metric.name:
        means = next(f.caption for f in FIGURES if f.name == EVAL_LOSS.name)
        return means.replace("Mean eval loss", f"Mean {metric.paper_name}", 1)
    return None


def figure_key(name: str, stats: StudyStats | None) -> str:
    """The FIGURES entry of figure file `name`: the means figure is named after the primary metric."""
    return EVAL_LOSS.name if stats is not None and name == stats.metric else name


def figure_caption(name: str, stats: StudyStats | None = None) -> str:
    """The caption of figure `name` (a name from an older analysis: the name, readable); for a study
    with one seed per cell or without comparisons, in words that fit it."""
    caption = next((f.caption for f in FIGURES if f.name == name), None)
    if stats is not None and stats.metric != EVAL_LOSS.name:
        caption = primary_caption(name, get_metric(stats.metric)) or caption
    if (
        caption is None
        and name.startswith(SECONDARY_FOREST)
        and name[len(SECONDARY_FOREST) :] in metric_names()
    ):
        caption = secondary_forest_caption(get_metric(name[len(SECONDARY_FOREST) :]))
    if caption is None:
        return name.replace("_", " ").replace("-", " ").strip().capitalize() + "."
    if stats is not None and stats.summaries and all(c.n_seeds == 1 for c in stats.summaries):
        for many, one in ONE_SEED_WORDS:
            caption = caption.replace(many, one)
    if stats is not None and not stats.comparisons:
        for compared, alone in UNCOMPARED_WORDS:
            caption = caption.replace(compared, alone)
    return caption


def write_figures(stats: StudyStats, data: StudyData, out: Path) -> dict[str, list[Path]]:
    """Every figure that applies to this study, in `FIGURES` order: name -> its files. The files of
    a figure that no longer applies (a rebuilt study) are removed, so none is left stale."""
    made = {}
    for figure in FIGURES:
        files = figure.draw(stats, data, out)
        name = stats.metric if figure.name == EVAL_LOSS.name else figure.name  # the means: the primary's
        if files:
            made[name] = files
        for stale in [name] if not files else []:
            for suffix in (".pdf", ".png"):
                (out / f"{stale}{suffix}").unlink(missing_ok=True)
    for other in metric_names():  # the means figure of a metric that is no longer the primary
        for suffix in (".pdf", ".png") if other not in made else ():
            (out / f"{other}{suffix}").unlink(missing_ok=True)
    for section in stats.secondary:
        files = forest(stats, out, section)
        if files:
            made[f"{SECONDARY_FOREST}{section.metric}"] = files
    for stale in out.glob(f"{SECONDARY_FOREST}*"):  # a metric no longer analysed
        if stale.stem not in made:
            stale.unlink()
    return made


# --- helpers -------------------------------------------------------------------------------------


def _values(context: dict) -> str:
    return ", ".join(fmt_value(v) for v in context.values())


def _top_legend(ax: plt.Axes, strategies: list[str], title: str) -> None:
    """Title with the strategy legend in rows between it and the axes."""
    ncol = len(strategies) if len(strategies) <= 4 else 3
    rows = -(-len(strategies) // ncol)
    ax.set_title(title, pad=4 + 10 * rows)
    _legend(
        ax,
        strategies,
        loc="lower center",
        bbox_to_anchor=(0.5, 1.0),
        ncol=ncol,
        handletextpad=0.1,
        columnspacing=0.8,
        borderaxespad=0.2,
    )


def _context(cell: dict) -> dict:
    return {k: v for k, v in cell.items() if k != "strategy"}


def _contexts(done: pd.DataFrame, data: StudyData) -> list[tuple[str, dict]]:
    """(label, {field: value}) of each context with finished runs, in a stable order."""
    fields = data.context_fields
    if not fields:
        return [("all", {})]
    raw = {tuple(row) for row in done[fields].itertuples(index=False)}
    keys = [tuple(str(v) for v in k) for k in sorted(raw, key=natural_key)]
    return [(label_of(dict(zip(fields, k, strict=True))), dict(zip(fields, k, strict=True))) for k in keys]


def _match(frame: pd.DataFrame, keys: dict) -> pd.Series:
    mask = pd.Series(True, index=frame.index)
    for k, v in keys.items():
        mask &= frame[k].astype(str) == v
    return mask


def _caveats(comps: list) -> str:
    return "; ".join(sorted({c.caveat for c in comps if c.caveat}))


def _panels(n: int, height: float) -> tuple[plt.Figure, list[plt.Axes]]:
    ncol = min(2, n)
    nrow = -(-n // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(WIDTH, height * nrow), squeeze=False, sharey=True)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat[:n])

"""The summary tables `loralab analyze` and `loralab compare` print (rich), with every caveat."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from loralab.analysis.labels import label_of
from loralab.analysis.schema import Comparison, StudyStats
from loralab.analysis.tables import fp, short_name, value_ci, value_text, verdict_note
from loralab.results import get_metric


def _console() -> Console:
    console = Console()
    if not console.is_terminal:  # piped or captured: do not squeeze the table into 80 columns
        console.width = max(console.width, 160)
    return console


def print_summary(stats: StudyStats, out: Path) -> None:
    """Per cell: seeds, loss with CI, Δ vs baseline with CI, primary test, adjusted p, caveat."""
    console = _console()
    by_cell = {(c.context_label, c.a): c for c in stats.comparisons if c.kind == "vs_baseline"}
    conf = f"{stats.settings.confidence:.0%}"
    metric = get_metric(stats.metric)
    unit = "%" if metric.transform == "percent" else metric.unit
    table = Table(
        title=f"study {stats.study}: {metric.paper_name} ({unit}), Δ vs {stats.baseline}", header_style="bold"
    )
    for col in (
        "context",
        "strategy",
        "seeds",
        short_name(metric),
        f"{conf} CI",
        "Δ",
        "Δ interval",
        "verdict",
        "p adj",
        "",
    ):
        table.add_column(
            col,
            justify="left" if col in ("context", "strategy", "verdict", "") else "right",
            no_wrap=col != "",
        )
    for s in stats.summaries:
        ctx = label_of({k: v for k, v in s.cell.items() if k != "strategy"})
        c = by_cell.get((ctx, s.strategy))
        row = [ctx, s.strategy, str(s.n_seeds), value_text(metric, s.mean), value_ci(metric, s.bootstrap_ci)]
        row += (
            _comparison_cells(c, stats)
            if c
            else ["baseline" if s.strategy == stats.baseline else "–", "", "", "", ""]
        )
        table.add_row(*row)
    console.print(table)
    _footer(console, stats, stats.comparisons)
    gaps = [r for r in stats.coverage if not r.complete]
    for r in gaps:
        parts = [
            f"{k} {','.join(map(str, getattr(r, k)))}" for k in ("missing", "failed", "running", "pending")
        ]
        console.print(
            f"incomplete: {r.label}: " + "; ".join(p for p in parts if p.split(" ", 1)[1]), highlight=False
        )
    console.print(f"analysis: {out}", highlight=False)


def print_comparisons(stats: StudyStats) -> None:
    """One row per context of a requested comparison."""
    console = _console()
    table = Table(title=f"study {stats.study}: paired comparison (Δ = first − second)", header_style="bold")
    for col in (
        "comparison",
        "context",
        "seeds",
        "Δ",
        "Δ interval",
        "verdict",
        "p adj",
        "",
        "g_z",
        "P(impr.)",
        "win",
    ):
        table.add_column(
            col,
            justify="left" if col in ("comparison", "context", "verdict", "") else "right",
            no_wrap=col != "",
        )
    for c in stats.comparisons:
        cells = _comparison_cells(c, stats)
        table.add_row(
            f"{c.a} vs {c.b}",
            c.context_label,
            str(c.n_seeds),
            *cells,
            "–" if c.g_z is None else f"{c.g_z:.2f}",
            f"{c.prob_improvement:.2f}",
            f"{c.win_rate:.2f}",
        )
    console.print(table)
    _footer(console, stats, stats.comparisons)


def _comparison_cells(c: Comparison, stats: StudyStats) -> list[str]:
    mark = f"‡ {c.caveat}" if c.caveat else ""
    metric = get_metric(stats.metric)
    return [
        value_text(metric, c.difference),
        value_ci(metric, c.difference_ci),
        c.verdict,
        fp(c.p_adjusted),
        mark,
    ]


def _better_sign(stats: StudyStats) -> str:
    return "Negative" if get_metric(stats.metric).direction == "lower" else "Positive"


def _footer(console: Console, stats: StudyStats, comps: list[Comparison]) -> None:
    s = stats.settings
    console.print(
        verdict_note(stats) + f" {_better_sign(stats)} Δ is better (α = {s.alpha}). ‡ the verdict's caveat.",
        highlight=False,
    )
    floors = sorted({(c.n_seeds, c.min_sign_flip_p) for c in comps})
    if floors:
        console.print(
            "exact sign-flip floor (two-sided): " + ", ".join(f"{n} seeds → p ≥ {p:.3g}" for n, p in floors),
            highlight=False,
        )

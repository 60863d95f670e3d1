"""Tables of a study as Markdown and LaTeX (booktabs): main results, comparisons, per-seed appendix.

The main, comparison and per-seed tables are of the study's primary metric (`stats.metric`, eval loss
by default), in its words and direction. One rounding rule everywhere (`rounding`): losses, differences
and their intervals to 4 decimals (nats/token), a percent metric (exact match) in % and percentage
points to 1 decimal; perplexities and perplexity ratios to 3 significant decimals; p-values to 2
significant digits and "<0.001" below 0.001; g_z, P(improve) and win rates to 2 decimals. The best
mean in each context (lowest loss, highest accuracy) is bold only when a verdict says so (a "better"
row); every comparison carries its verdict (better, worse, equivalent, unresolved) beside the
interval it rests on, and `‡` marks one with a caveat (printed under the table).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from loralab.analysis.labels import label_of
from loralab.analysis.schema import Comparison, Interval, MetricStats, StudyStats
from loralab.results import EVAL_LOSS, Metric, get_metric
from loralab.store import atomic_write_text

ROUNDING = (
    "Losses, differences and intervals: 4 decimals (nats/token); perplexity and ratios: 3 decimals;"
    " p: 2 significant digits (<0.001 below); g_z, P(improve), win rate: 2 decimals."
)


def rounding(metric: Metric) -> str:
    """The rounding note of tables of `metric` (ROUNDING for the eval loss)."""
    if metric.transform == "exp":
        return ROUNDING.replace("Losses", "Values" if metric != EVAL_LOSS else "Losses").replace(
            "nats/token", metric.unit
        )
    values = (
        "Values in %, differences and intervals in percentage points: 1 decimal"
        if metric.transform == "percent"
        else f"Values, differences and intervals: 4 decimals ({metric.unit})"
    )
    return values + "; p: 2 significant digits (<0.001 below); g_z, P(improve), win rate: 2 decimals."


def short_name(metric: Metric) -> str:
    """The metric in a column header or a short phrase: 'loss' for the eval loss, else its paper name."""
    return "loss" if metric == EVAL_LOSS else metric.paper_name


def value_text(metric: Metric, x: float | None) -> str:
    """A value of the primary metric in a table: 4 decimals in its unit, a percent metric in % (1 decimal)."""
    if x is None:
        return "–"
    return f"{metric.display(x):.1f}" if metric.transform == "percent" else f"{x:.4f}"


def value_ci(metric: Metric, interval: Interval | None) -> str:
    """An interval of values or differences of the primary metric, as `value_text` prints them."""
    if interval is None:
        return "–"
    return f"[{value_text(metric, interval.low)}, {value_text(metric, interval.high)}]"


def diff_unit(metric: Metric) -> str:
    """The unit of a difference as the tables print it: nats/token, or pp for a percent metric."""
    return "pp" if metric.transform == "percent" else metric.unit


def better_sign(metric: Metric) -> str:
    """'< 0' when lower is better, '> 0' when higher is: which differences favour the first arm."""
    return "< 0" if metric.direction == "lower" else "> 0"


@dataclass(frozen=True)
class Table:
    """A table as plain cells; `bold` marks cells (row, col) to embolden."""

    name: str
    caption: str
    header: list[str]
    rows: list[list[str]]
    bold: frozenset[tuple[int, int]] = frozenset()
    notes: tuple[str, ...] = ()

    def markdown(self) -> str:
        """GitHub-flavoured Markdown."""

        def cell(i: int, j: int, v: str) -> str:
            return f"**{v}**" if (i, j) in self.bold else v

        lines = [f"**{self.caption}**", "", "| " + " | ".join(self.header) + " |"]
        lines.append("|" + "|".join("---" if j == 0 else "---:" for j in range(len(self.header))) + "|")
        lines += [
            "| " + " | ".join(cell(i, j, v) for j, v in enumerate(r)) + " |" for i, r in enumerate(self.rows)
        ]
        # a note starting with '*' would render as a list item: escape it
        lines += ["", *[("\\" + n if n.startswith("*") else n) + "  " for n in self.notes]]
        return "\n".join(lines).rstrip() + "\n"

    def latex(self) -> str:
        """A booktabs table environment."""

        def cell(i: int, j: int, v: str) -> str:
            v = latex_escape(v)
            return f"\\textbf{{{v}}}" if (i, j) in self.bold else v

        cols = "l" + "r" * (len(self.header) - 1)
        out = ["\\begin{table}[t]", "\\centering", "\\small", f"\\caption{{{latex_escape(self.caption)}}}"]
        out += [f"\\label{{tab:{self.name}}}", f"\\begin{{tabular}}{{{cols}}}", "\\toprule"]
        out.append(" & ".join(latex_escape(h) for h in self.header) + " \\\\")
        out.append("\\midrule")
        out += [" & ".join(cell(i, j, v) for j, v in enumerate(r)) + " \\\\" for i, r in enumerate(self.rows)]
        out += ["\\bottomrule", "\\end{tabular}"]
        out += [f"\\\\[2pt]\\footnotesize {latex_escape(n)}" for n in self.notes]
        out.append("\\end{table}")
        return "\n".join(out) + "\n"


def latex_escape(text: str) -> str:
    """Escape LaTeX specials; keep our few symbols printable."""
    repl = {
        "\\": "\\textbackslash{}",
        "&": "\\&",
        "%": "\\%",
        "$": "\\$",
        "#": "\\#",
        "_": "\\_",
        "{": "\\{",
        "}": "\\}",
        "~": "\\textasciitilde{}",
        "^": "\\textasciicircum{}",
        "‡": "$^\\ddagger$",
        "Δ": "$\\Delta$",
        "±": "$\\pm$",
        "≥": "$\\geq$",
        "α": "$\\alpha$",
        "<": "$<$",
        ">": "$>$",
        "−": "$-$",
        "·": "$\\cdot$",
    }
    return "".join(repl.get(ch, ch) for ch in text)


def f4(x: float | None) -> str:
    return "–" if x is None else f"{x:.4f}"


def f3(x: float | None) -> str:
    return "–" if x is None else f"{x:.3f}"


def f2(x: float | None) -> str:
    return "–" if x is None else f"{x:.2f}"


def fp(p: float | None) -> str:
    """p to 2 significant digits, '<0.001' below 0.001."""
    if p is None:
        return "–"
    return "<0.001" if p < 0.001 else f"{p:.2g}"


def ci(low: float, high: float) -> str:
    return f"[{low:.4f}, {high:.4f}]"


def ci_of(interval: Interval | None) -> str:
    return "–" if interval is None else ci(interval.low, interval.high)


def _mark(c: Comparison) -> str:
    return "‡" if c.caveat else ""


def verdict_note(stats: StudyStats) -> str:
    """How every verdict in a table was reached, in one note."""
    s, metric = stats.settings, get_metric(stats.metric)
    if stats.family_size == 0:
        return no_verdict_reason(stats)
    looks = f" and {s.looks} looks" if s.looks > 1 else ""
    return (
        f"Δ interval: t-interval over per-seed paired differences, simultaneous at {1 - s.alpha:.0%} over"
        f" {stats.family_size} comparison(s){looks} (Bonferroni); it covers new training seeds on this eval"
        f" set. Verdict: better/worse when it excludes 0, equivalent when it lies inside ±δ ="
        f" ±{value_text(metric, stats.margin)} {diff_unit(metric)} ({_margin_words(stats)}), else"
        " unresolved."
    )


def no_verdict_reason(stats: StudyStats) -> str:
    """Why a study has no verdict, in the words that fit it (one run, one strategy, one seed)."""
    strategies = {c.strategy for c in stats.summaries}
    if stats.n_done <= 1:
        return "One run; nothing to compare."
    if len(strategies) <= 1:
        name = next(iter(strategies), stats.baseline)
        return f"One strategy ({name}); nothing to compare it with."
    if not any(c.kind == "vs_baseline" for c in stats.comparisons):
        return (
            "No comparison: no other strategy has finished runs in a context where the baseline"
            f" ({stats.baseline}) has them."
        )
    return "No verdicts: one seed per comparison; a verdict needs two or more paired seeds."


def seed_note(stats: StudyStats) -> str | None:
    """For a study whose every cell has one seed: what its intervals cover (eval examples, not seeds)."""
    if not stats.summaries or any(c.n_seeds > 1 for c in stats.summaries):
        return None
    name = short_name(get_metric(stats.metric))
    return (
        f"One seed: the {name} interval resamples eval examples only; it does not cover how the {name}"
        " varies with the training seed."
    )


def _margin_words(stats: StudyStats) -> str:
    spec, metric = stats.margin_spec, get_metric(stats.metric)
    if metric.transform == "exp" and spec.endswith("%"):
        return f"{metric.display_name} within ×(1 ± {spec})"
    return "as declared" if metric.transform != "percent" else f"declared as {spec}"


def _notes(stats: StudyStats, comps: list[Comparison]) -> tuple[str, ...]:
    notes = [verdict_note(stats)]
    one_seed = seed_note(stats)
    if one_seed:
        notes.append(one_seed)
    caveats = sorted({c.caveat for c in comps if c.caveat})
    notes += [f"‡ {c}" for c in caveats]
    notes.append(rounding(get_metric(stats.metric)))
    return tuple(notes)


def main_table(stats: StudyStats) -> Table:
    """One row per cell: seeds, params, the primary metric with CI (and perplexity for the loss), Δ vs
    baseline with CI, verdict."""
    metric = get_metric(stats.metric)
    shown = metric.transform == "exp"  # perplexity beside the loss; a percentage is the value itself
    by_cell = {(c.context_label, c.a): c for c in stats.comparisons if c.kind == "vs_baseline"}
    ctx_fields = [f for f in stats.cell_fields if f != "strategy"]
    name = short_name(metric)
    header = [*[f.split(".")[-1] for f in ctx_fields], "strategy", "seeds", "params", name, "95% CI"]
    header[-1] = f"{stats.settings.confidence:.0%} CI"
    header += ["ppl" if metric == EVAL_LOSS else metric.display_name] if shown else []
    header += [f"Δ vs {stats.baseline}", "Δ interval", "verdict"]
    rows, bold, best = [], set(), {}
    for s in stats.summaries:
        ctx = tuple(str(s.cell.get(f)) for f in ctx_fields)
        c = by_cell.get((_ctx_label(s.cell), s.strategy))
        params = "–" if s.trainable_params is None else f"{s.trainable_params:,.0f}"
        row = [*ctx, s.strategy, str(s.n_seeds), params, value_text(metric, s.mean)]
        row += [value_ci(metric, s.bootstrap_ci)] + ([f3(s.shown)] if shown else [])
        if c is None:
            row += ["–", "–", "–"]
        else:
            row += [value_text(metric, c.difference) + _mark(c), value_ci(metric, c.difference_ci), c.verdict]
        found = c is not None and c.verdict == "better"
        if found and (ctx not in best or metric.better(s.mean, best[ctx][1])):
            best[ctx] = (len(rows), s.mean)
        rows.append(row)
    if not by_cell:  # nothing was compared: no columns of dashes for a difference that does not exist
        header, rows = header[:-3], [r[:-3] for r in rows]
    value_col = header.index(name)
    bold = {(i, value_col) for i, _ in best.values()}
    comps = [c for c in stats.comparisons if c.kind == "vs_baseline"]
    most = "lowest" if metric.direction == "lower" else "highest"
    return Table(
        "main",
        f"Study {stats.study}: {metric.paper_name} per cell"
        + (f" (in bold: the {most} {name} among strategies found better)" if best else ""),
        header,
        rows,
        frozenset(bold),
        _notes(stats, comps),
    )


def comparisons_table(stats: StudyStats, kind: str = "vs_baseline", name: str = "comparisons") -> Table:
    """One row per comparison: Δ, its interval and verdict, p-values, effect sizes, seeds to resolve."""
    metric = get_metric(stats.metric)
    ratio = metric.transform == "exp"
    less = "<" if metric.direction == "lower" else ">"
    comps = [c for c in stats.comparisons if c.kind == kind]
    header = ["comparison", "context", "n", f"Δ {short_name(metric)}", "Δ interval"]
    header += [("ppl" if metric == EVAL_LOSS else metric.display_name) + " ratio"] if ratio else []
    header += ["verdict", "p (adj.)"]
    header += ["p equiv. (adj.)", "g_z", "seeds better", f"P(X_a{less}X_b)", "win rate", "seeds to resolve"]
    rows = []
    for c in comps:
        rows.append(
            [
                f"{c.a} vs {c.b}",
                c.context_label,
                str(c.n_seeds),
                value_text(metric, c.difference) + _mark(c),
                value_ci(metric, c.difference_ci),
                *([f3(c.effect)] if ratio else []),
                c.verdict,
                fp(c.p_adjusted),
                fp(c.p_equivalence),
                f2(c.g_z),
                f2(c.share_seeds_better),
                f2(c.prob_improvement),
                f2(c.win_rate),
                _resolve(c),
            ]
        )
    power = (
        "seeds to resolve: seeds whose interval would resolve an unresolved comparison if the observed"
        " mean and spread were the truth, with the range over the 80% interval of the spread (a planning"
        " figure; > 1000 where it would not resolve). seeds better: share of paired seeds with the first"
        f" {metric.direction}; P(X_a{less}X_b): share of all run pairs (Agarwal et al. 2021); both"
        " descriptive."
    )
    *notes, rounded = _notes(stats, comps)
    return Table(
        name,
        f"Study {stats.study}: paired comparisons (Δ {better_sign(metric)}: first better)",
        header,
        rows,
        frozenset(),
        (*notes, power, rounded),
    )


def _resolve(c: Comparison) -> str:
    """'7 (4–19)' for an unresolved comparison, '–' otherwise."""
    if c.verdict != "unresolved" or c.seeds_to_resolve_range is None:
        return "–"
    lo, hi = c.seeds_to_resolve_range
    est = "> 1000" if c.seeds_to_resolve is None else str(c.seeds_to_resolve)
    return f"{est} ({lo if lo is not None else '> 1000'}–{hi if hi is not None else '> 1000'})"


def tests_table(stats: StudyStats) -> Table:
    """Every test's p for every comparison, with the sign-flip floor: what each level says."""
    header = [
        "comparison",
        "context",
        "n",
        "p seed t",
        "p sign-flip",
        "min sign-flip p",
        "p example perm.",
        "primary",
    ]
    rows = []
    for c in stats.comparisons:
        rows.append(
            [
                f"{c.a} vs {c.b}",
                c.context_label,
                str(c.n_seeds),
                fp(c.seed_t.p_value if c.seed_t else None),
                fp(c.seed_sign_flip.p_value),
                fp(c.min_sign_flip_p),
                fp(c.example_permutation.p_value),
                c.primary_test,
            ]
        )
    notes = (
        "seed t / sign-flip: would a new training seed show the difference (seed level).",
        "example permutation: for these trained adapters, on this eval distribution (seeds fixed); a"
        " description, never the basis of a verdict.",
    )
    return Table(
        "tests", f"Study {stats.study}: p-values of every test (unadjusted)", header, rows, frozenset(), notes
    )


def per_seed_table(stats: StudyStats) -> Table:
    """Appendix: each paired seed's primary metric and difference."""
    metric = get_metric(stats.metric)
    name = short_name(metric)
    header = ["comparison", "context", "seed", f"{name} a", f"{name} b", "Δ", "run a", "run b"]
    rows = [
        [
            f"{c.a} vs {c.b}",
            c.context_label,
            str(d.seed),
            value_text(metric, d.value_a),
            value_text(metric, d.value_b),
            value_text(metric, d.difference),
            d.run_a,
            d.run_b,
        ]
        for c in stats.comparisons
        for d in c.per_seed
    ]
    notes = (rounding(metric),)
    return Table("per_seed", f"Study {stats.study}: per-seed results", header, rows, frozenset(), notes)


def coverage_table(stats: StudyStats) -> Table:
    """Which cells lack which seeds."""
    header = ["cell", "expected", "done", "failed", "running", "pending", "missing"]

    def seeds(x: list[int]) -> str:
        return ",".join(map(str, x)) or "–"

    rows = [
        [
            r.label,
            seeds(r.expected_seeds),
            seeds(r.done),
            seeds(r.failed),
            seeds(r.running),
            seeds(r.pending),
            seeds(r.missing),
        ]
        for r in stats.coverage
    ]
    status = "complete" if stats.complete else "INCOMPLETE"
    return Table("coverage", f"Study {stats.study}: coverage ({status})", header, rows)


def shown_text(metric: Metric, x: float | None) -> str:
    """A value as the metric shows it: a percentage to 1 decimal, perplexity to 3, else 4 decimals."""
    if x is None:
        return "–"
    return {"percent": f"{metric.display(x):.1f}", "exp": f"{metric.display(x):.3f}"}.get(
        metric.transform, f"{x:.4f}"
    )


def effect_text(metric: Metric, x: float | None, signed: bool = True) -> str:
    """A difference as the metric shows it: percentage points to 1 decimal, a ratio to 3, else 4."""
    if x is None:
        return "–"
    value = metric.effect(x)
    if metric.transform == "exp":
        return f"{value:.3f}"
    decimals = 1 if metric.transform == "percent" else 4
    return f"{value:+.{decimals}f}" if signed else f"{value:.{decimals}f}"


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def effect_interval(metric: Metric, interval: Interval | None) -> str:
    if interval is None:
        return "–"
    return f"[{effect_text(metric, interval.low, False)}, {effect_text(metric, interval.high, False)}]"


def metric_table(stats: StudyStats, section: MetricStats) -> Table:
    """A secondary metric per cell: its value with interval, the base model's, Δ vs baseline with the
    interval its verdict rests on (its own family), p (adj.)."""
    metric = get_metric(section.metric)
    by_cell = {(c.context_label, c.a): c for c in section.comparisons if c.kind == "vs_baseline"}
    ctx_fields = [f for f in stats.cell_fields if f != "strategy"]
    unit = "%" if metric.transform == "percent" else metric.unit
    delta = "pp" if metric.transform == "percent" else metric.effect_name
    header = [*[f.split(".")[-1] for f in ctx_fields], "strategy", "seeds", f"{metric.name} ({unit})"]
    header += [f"{stats.settings.confidence:.0%} CI", "base model", f"Δ vs {stats.baseline} ({delta})"]
    header += ["Δ interval", "verdict", "p (adj.)"]
    rows = []
    for s in section.summaries:
        c = by_cell.get((_ctx_label(s.cell), s.strategy))
        row = [
            *(str(s.cell.get(f)) for f in ctx_fields),
            s.strategy,
            str(s.n_seeds),
            shown_text(metric, s.mean),
        ]
        row += [f"[{shown_text(metric, s.bootstrap_ci.low)}, {shown_text(metric, s.bootstrap_ci.high)}]"]
        row += [shown_text(metric, s.base)]
        if c is None:
            row += ["–", "–", "–", "–"]
        else:
            row += [
                effect_text(metric, c.difference) + _mark(c),
                effect_interval(metric, c.difference_ci),
                c.verdict,
            ]
            row += [fp(c.p_adjusted)]
        rows.append(row)
    better = "higher" if metric.direction == "higher" else "lower"
    level = 1 - stats.settings.alpha
    note = (
        f"A secondary metric ({_lower_first(metric.description.rstrip('.'))}), {better} is better."
        " Its comparisons are a family of their own: each Δ interval is a t-interval over per-seed"
        " paired differences,"
        f" simultaneous at {level:.0%} over its {section.family_size} comparison(s) (Bonferroni);"
        f" equivalent within ±δ = {effect_text(metric, section.margin, False)} {delta}. The verdicts of the"
        f" primary metric ({stats.metric}) are not corrected for this family."
    )
    return Table(
        section.metric,
        f"Study {stats.study}: {metric.paper_name} per cell (secondary metric)",
        header,
        rows,
        frozenset(),
        (note,),
    )


def task_table(stats: StudyStats, section: MetricStats) -> Table | None:
    """The metric per task for each cell and the base model (descriptive; no test per task)."""
    metric = get_metric(section.metric)
    cells = [s for s in section.summaries if s.by_task]
    if not cells:
        return None
    tasks = sorted({t for s in cells for t in s.by_task or {}})
    base = next((s.base_by_task for s in cells if s.base_by_task), None)
    header = [
        "task",
        *(s.label if len(cells) > len({s.strategy for s in cells}) else s.strategy for s in cells),
    ]
    header += ["base model"] if base else []
    rows = []
    for t in tasks:
        row = [t, *(shown_text(metric, (s.by_task or {}).get(t)) for s in cells)]
        rows.append(row + ([shown_text(metric, base.get(t))] if base else []))
    return Table(
        f"{section.metric}_by_task",
        f"Study {stats.study}: {metric.paper_name} per task (mean over seeds; descriptive)",
        header,
        rows,
        frozenset(),
        (f"Per task, {metric.paper_name} averaged over each cell's seeds; no test per task.",),
    )


def interaction_table(stats: StudyStats) -> Table:
    """Strategy × context: how each strategy's difference from the baseline changes between levels."""
    metric = get_metric(stats.metric)
    header = ["strategy", "field", "levels", "other fields", "n", "Δ at first", "Δ at second"]
    header += ["contrast", "contrast interval", "verdict", "p (adj.)"]
    rows = [
        [
            f"{i.strategy} vs {i.baseline}",
            i.field,
            f"{i.level_a} vs {i.level_b}",
            _ctx_label(i.context) if i.context else "–",
            str(i.n_seeds),
            value_text(metric, i.difference_a),
            value_text(metric, i.difference_b),
            value_text(metric, i.difference),
            value_ci(metric, i.difference_ci),
            i.verdict,
            fp(i.p_adjusted),
        ]
        for i in stats.interactions
    ]
    confidence = next((i.difference_ci.confidence for i in stats.interactions if i.difference_ci), None)
    each = (
        f" ({confidence:.4g} each, family of the contrasts at {1 - stats.settings.alpha:.3g})"
        if confidence is not None
        else ""
    )
    notes = (
        "contrast: the mean over seeds trained in all four cells of Δ(first level) − Δ(second level), Δ"
        f" the paired difference from {stats.baseline} with the same seed. Verdict from the simultaneous"
        " t-interval over seeds"
        + each
        + f": changes: it excludes 0; same: it lies inside ±δ = {value_text(metric, stats.margin)};"
        " unresolved: neither.",
        rounding(metric),
    )
    return Table(
        "interaction",
        f"Study {stats.study}: does the difference from {stats.baseline} change with the context?",
        header,
        rows,
        frozenset(),
        notes,
    )


def all_tables(stats: StudyStats) -> list[Table]:
    tables = [
        main_table(stats),
        comparisons_table(stats),
        tests_table(stats),
        per_seed_table(stats),
        coverage_table(stats),
    ]
    tables += [interaction_table(stats)] if stats.interactions else []
    for section in stats.secondary:
        tables.append(metric_table(stats, section))
        by_task = task_table(stats, section)
        tables += [by_task] if by_task is not None else []
    return tables


def write_tables(stats: StudyStats, out: Path) -> dict[str, list[Path]]:
    """Write every table as `.md` and `.tex` under `out`: name -> its files."""
    out.mkdir(parents=True, exist_ok=True)
    made = {}
    for t in all_tables(stats):
        md, tex = out / f"{t.name}.md", out / f"{t.name}.tex"
        atomic_write_text(md, t.markdown())
        atomic_write_text(tex, t.latex())
        made[t.name] = [md, tex]
    return made


def _ctx_label(cell: dict) -> str:
    return label_of({k: v for k, v in cell.items() if k != "strategy"})

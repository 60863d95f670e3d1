"""The Results subsection of each secondary metric (e.g. exact-match accuracy): what it measures, its
verdicts grouped like the primary's, and its table, written from the metric's own words (`Metric`)
and placeholders, so nothing here knows a particular metric.

A secondary metric's comparisons are a family of their own (stats.json `secondary`); the text says
so, and that the primary verdicts are not corrected for it.
"""

from __future__ import annotations

from loralab.analysis.schema import MetricStats, StudyStats
from loralab.paper.escape import md_escape
from loralab.paper.facts import PaperFacts, cell_slug, comparison_slug, context_parts, secondary_key, slug
from loralab.results import Metric, get_metric

VERDICT_ORDER = ("better", "worse", "equivalent", "unresolved")


def _n(key: str) -> str:
    return f"{{{{num:{key}}}}}"


def _listing(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def unit_words(metric: Metric) -> tuple[str, str]:
    """(unit of a shown value, unit of a shown difference): ('%', 'percentage points') for accuracy."""
    if metric.transform == "percent":
        return "%", "percentage points"
    if metric.transform == "exp":
        return "", f"{metric.display_name} ratio"
    return f" {metric.unit}", metric.unit


def section_label(metric_name: str) -> str:
    return f"sec:secondary-{slug(metric_name)}"


def _verdict_sentences(section: MetricStats, stats: StudyStats, multi: bool) -> list[str]:
    metric = get_metric(section.metric)
    _, diff_unit = unit_words(metric)
    base = md_escape(stats.baseline)
    out = []
    for verdict in VERDICT_ORDER:
        group = [c for c in section.comparisons if c.verdict == verdict and c.difference_ci is not None]
        if not group:
            continue
        items = []
        for c in group:
            k = secondary_key(section.metric, "cmp", comparison_slug(c, multi))
            where = f" ({md_escape(', '.join(context_parts(c.context)))})" if multi and c.context else ""
            items.append(
                f"{md_escape(c.a)}{where} ({_n(k + '.diff')} {diff_unit}, interval"
                f" [{_n(k + '.difflo')}, {_n(k + '.diffhi')}])"
            )
        one = len(group) == 1
        if verdict in ("better", "worse"):
            more = "higher" if (verdict == "better") == (metric.direction == "higher") else "lower"
            text = f"{'is' if one else 'are'} {verdict} than {base}, with a {more} {metric.paper_name}"
        elif verdict == "equivalent":
            text = f"{'is' if one else 'are'} equivalent to {base} within $\\pm\\delta$"
        else:
            text = (
                f"{'remains' if one else 'remain'} unresolved: no interval excludes zero or lies"
                " inside $\\pm\\delta$"
            )
        out.append(f"{_listing(items)} {text}.")
    return out


def _table(section: MetricStats, stats: StudyStats, multi: bool) -> str:
    metric = get_metric(section.metric)
    value_unit, diff_unit = unit_words(metric)
    shown = f"{metric.paper_name.capitalize()}{f' ({value_unit.strip()})' if value_unit.strip() else ''}"
    rows = [
        f"| Strategy |{' Context |' if multi else ''} Seeds | {shown} | CI |"
        " $\\Delta$ | Interval | Verdict |",
        "|:--|" + (":--|" if multi else "") + "--:|--:|:-:|--:|:-:|:-:|",
    ]
    by_cell = {
        (c.a, tuple(context_parts(c.context))): c for c in section.comparisons if c.kind == "vs_baseline"
    }
    for s in section.summaries:
        k = secondary_key(section.metric, "cell", cell_slug(s.strategy, s.cell, multi))
        ctx = f" {md_escape(', '.join(context_parts(s.cell)))} |" if multi else ""
        c = by_cell.get((s.strategy, tuple(context_parts(s.cell))))
        if c is None:
            diff = "--"
            interval = verdict = "--"
        else:
            ck = secondary_key(section.metric, "cmp", comparison_slug(c, multi))
            diff = _n(ck + ".diff")
            interval = f"[{_n(ck + '.difflo')}, {_n(ck + '.diffhi')}]" if c.difference_ci else "n/a"
            verdict = _n(ck + ".verdict")
        rows.append(
            f"| {md_escape(s.strategy)} |{ctx} {_n(k + '.seeds')} | {_n(k + '.value')} |"
            f" [{_n(k + '.lo')}, {_n(k + '.hi')}] | {diff} | {interval} | {verdict} |"
        )
    caption = (
        f": {metric.paper_name.capitalize()} per strategy (mean over seeds, two-level bootstrap interval)"
        f" and its paired difference from {md_escape(stats.baseline)} in {diff_unit} with the simultaneous"
        f" interval of this metric's own family. {{#tbl:{slug(section.metric)}}}"
    )
    return "\n".join(rows) + "\n\n" + caption + "\n"


def secondary_sections(stats: StudyStats, facts: PaperFacts) -> str:
    """One Results subsection per secondary metric; '' when the study analysed none."""
    multi = facts.contexts > 1
    out = []
    for section in stats.secondary:
        metric = get_metric(section.metric)
        value_unit, diff_unit = unit_words(metric)
        k = lambda *parts, m=section.metric: secondary_key(m, *parts)  # noqa: E731
        have = {n.key for n in facts.numbers}
        name = metric.paper_name.capitalize()
        description = metric.description[:1].lower() + metric.description[1:].rstrip(".")
        base = f" The base model scores {_n(k('base'))}{value_unit}." if k("base") in have else ""
        direction = "higher" if metric.direction == "higher" else "lower"
        head = (
            f"## {name} (secondary outcome) {{#{section_label(section.metric)}}}\n\n"
            f"{name} is the {description}; {direction} is better.{base} It is a secondary outcome: its"
            f" {_n(k('family'))} comparisons with {md_escape(stats.baseline)} form a family of their own,"
            f" each judged by a simultaneous {_n('study.simconf')}% interval over seeds against"
            f" $\\delta$ = {_n(k('margin'))} {diff_unit}, and the verdicts on the primary outcome are not"
            f" corrected for them (@tbl:{slug(section.metric)})."
        )
        sentences = _verdict_sentences(section, stats, multi)
        out.append(
            head + (" " + " ".join(sentences) if sentences else "") + "\n\n" + _table(section, stats, multi)
        )
    return "\n".join(out)


def abstract_sentences(stats: StudyStats) -> str:
    """One sentence per secondary metric for the abstract: its verdicts by name, or that none resolved."""
    out = []
    for section in stats.secondary:
        metric = get_metric(section.metric)
        groups = []
        for verdict in VERDICT_ORDER:
            names = [md_escape(c.a) for c in section.comparisons if c.verdict == verdict and c.difference_ci]
            if names:
                groups.append(f"{_listing(names)} {verdict}")
        if groups:
            out.append(
                f"On {metric.paper_name}, a secondary outcome judged as its own family against"
                f" {md_escape(stats.baseline)}: {'; '.join(groups)}."
            )
    return " ".join(out)

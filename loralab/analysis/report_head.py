"""The first screen of `report.html`: what was run (the setup) and what it showed (the verdicts).

The setup comes from the run records and resolved configs the analysis loaded (`StudyData`), the
verdicts from `StudyStats`, each with the simultaneous interval it rests on and δ. A study with one
run, one strategy or one seed gets the words that fit it, not a correction over zero comparisons.
Inputs are named, never located: a data file by its file name, a local model by its name.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from loralab.analysis.load import StudyData
from loralab.analysis.schema import Comparison, MetricStats, StudyStats
from loralab.analysis.setup import data_name, is_quantised, model_name, quantisation
from loralab.analysis.tables import (
    diff_unit,
    effect_interval,
    effect_text,
    no_verdict_reason,
    seed_note,
    short_name,
    shown_text,
    value_text,
    verdict_note,
)
from loralab.results import get_metric

VERDICT_ORDER = ("better", "worse", "equivalent", "unresolved")
VERDICT_WORDS = {
    "better": "better",
    "worse": "worse",
    "equivalent": "equivalent within δ",
    "unresolved": "unresolved",
}


@dataclass(frozen=True)
class SetupRow:
    """One line of the setup table: what (`label`) and its value(s) across the study's runs."""

    label: str
    value: str


def setup_rows(stats: StudyStats, data: StudyData) -> list[SetupRow]:
    """Model, data, split sizes, steps, batch, seeds, budget, strategies and baseline of the study."""
    runs = data.done if len(data.done) else data.runs
    configs = [data.configs.get(rid) or {} for rid in runs["run_id"]]
    models = _distinct(_get(c, "model", "name") for c in configs)
    rows = [
        SetupRow("model", ", ".join(_model_words(m) for m in models) or "–"),
        SetupRow(
            "data", ", ".join(data_name(s) for s in _distinct(_get(c, "data", "source") for c in configs))
        ),
        SetupRow("train split", _join(runs["n_train"])),
        SetupRow("eval examples", _join(runs["n_examples"])),
        SetupRow("steps", _join(runs["train_steps"])),
        SetupRow("examples seen", _join(_seen(runs, configs))),
        SetupRow("batch", ", ".join(_batch_words(c) for c in _distinct_dicts(_batches(configs))) or "–"),
        SetupRow("seeds", _seed_words(runs["seed"])),
        SetupRow("budget", _budget_words(runs)),
        SetupRow(
            "strategies", ", ".join(_baseline_first(_distinct(runs["strategy"]), stats.baseline)) or "–"
        ),
        SetupRow("baseline", stats.baseline),
        SetupRow("runs", f"{stats.n_done} of {stats.n_runs} finished"),
    ]
    return [r for r in rows if r.value]


def verdict_lines(stats: StudyStats) -> list[str]:
    """One plain line per comparison: verdict word, Δ, its simultaneous interval and δ; or why none."""
    if not stats.comparisons:
        return [no_verdict_reason(stats)]
    lines = []
    for verdict in VERDICT_ORDER:
        lines += [_verdict_line(c, stats) for c in stats.comparisons if c.verdict == verdict]
    return lines


def head_html(stats: StudyStats, data: StudyData) -> str:
    """The setup table, the verdicts with their intervals, and how the verdicts were reached."""
    table = "".join(f"<tr><th>{_e(r.label)}</th><td>{_e(r.value)}</td></tr>" for r in setup_rows(stats, data))
    items = "".join(f"<li>{_bold_verdict(line, stats)}</li>" for line in verdict_lines(stats))
    s = stats.settings
    notes = [verdict_note(stats)] if stats.comparisons else []  # else verdict_lines says why none
    one_seed = seed_note(stats)
    if one_seed:
        notes.append(one_seed)
    if stats.comparisons:
        metric, name = get_metric(stats.metric), short_name(get_metric(stats.metric))
        better = "negative" if metric.direction == "lower" else "positive"
        notes.append(f"Δ = {name}(strategy) − {name}(baseline) in {diff_unit(metric)}; {better} is better.")
    notes.append(
        f"Settings: α = {s.alpha}, seed {s.seed}, {s.n_resamples} resamples for the descriptive"
        " example-level statistics."
    )
    if stats.complete:
        status = "<div class='ok'>Every expected run is finished.</div>"
    else:
        gaps = sum(not r.complete for r in stats.coverage)
        status = (
            f"<div class='warn'>Incomplete study: {gaps} cell(s) lack seeds; see the coverage table.</div>"
        )
    return (
        f"<section id='head'><h2>Setup</h2><table class='setup'>{table}</table>{status}"
        f"<h2>Verdicts</h2><ul class='verdicts'>{items}</ul>"
        + "".join(f"<p class='note'>{_e(n)}</p>" for n in notes)
        + "".join(_secondary_html(stats, section) for section in stats.secondary)
        + "</section>"
    )


def secondary_verdict_lines(stats: StudyStats, section: MetricStats) -> list[str]:
    """A secondary metric's verdicts, one plain line each, in its shown unit (pp for accuracy)."""
    metric = get_metric(section.metric)
    unit = (
        " pp" if metric.transform == "percent" else ("" if metric.transform == "exp" else f" {metric.unit}")
    )
    lines = []
    for verdict in VERDICT_ORDER:
        for c in (c for c in section.comparisons if c.verdict == verdict):
            context = f" ({c.context_label})" if c.context_label else ""
            seeds = "one seed" if c.n_seeds == 1 else f"{c.n_seeds} seeds"
            interval = (
                f"no interval ({seeds})"
                if c.difference_ci is None
                else f"simultaneous {stats.simultaneous_confidence:.0%} interval"
                f" {effect_interval(metric, c.difference_ci)}{unit}"
            )
            lines.append(
                f"{c.a} vs {c.b}{context}: {VERDICT_WORDS[c.verdict]};"
                f" Δ = {effect_text(metric, c.difference)}"
                f"{unit}, {interval}, δ = ±{effect_text(metric, c.margin, False)}{unit}; {seeds}"
            )
    return lines


def _secondary_html(stats: StudyStats, section: MetricStats) -> str:
    metric = get_metric(section.metric)
    items = "".join(
        f"<li>{_bold_verdict(line, stats)}</li>" for line in secondary_verdict_lines(stats, section)
    )
    base = next((c.base for c in section.summaries if c.base is not None), None)
    percent = " %" if metric.transform == "percent" else ""
    base_words = "" if base is None else f" The base model scores {shown_text(metric, base)}{percent}."
    tasks = (
        f" Per task: the table {section.metric}_by_task below."
        if any(c.by_task for c in section.summaries)
        else ""
    )
    note = (
        f"{metric.paper_name.capitalize()} is a secondary metric ({metric.direction} is better): its"
        f" comparisons are a family of their own, corrected like the primary's.{base_words}{tasks}"
    )
    return (
        f"<h3>Verdicts on {_e(metric.paper_name)} (secondary)</h3>"
        f"<ul class='verdicts'>{items or '<li>none</li>'}</ul>"
        f"<p class='note'>{_e(note)}</p>"
    )


def _verdict_line(c: Comparison, stats: StudyStats) -> str:
    metric = get_metric(stats.metric)
    context = f" ({c.context_label})" if c.context_label else ""
    if c.difference_ci is None:
        interval = f"no interval ({'one seed' if c.n_seeds == 1 else f'{c.n_seeds} seeds'})"
    else:
        level = f"{stats.simultaneous_confidence:.0%}"
        low, high = value_text(metric, c.difference_ci.low), value_text(metric, c.difference_ci.high)
        interval = f"simultaneous {level} interval [{low}, {high}]"
    seeds = "one seed" if c.n_seeds == 1 else f"{c.n_seeds} seeds"
    caveat = f" ‡ {c.caveat}" if c.caveat else ""
    return (
        f"{c.a} vs {c.b}{context}: {VERDICT_WORDS[c.verdict]}; Δ = {value_text(metric, c.difference)},"
        f" {interval}, δ = ±{value_text(metric, c.margin)}; {seeds}{caveat}"
    )


def _bold_verdict(line: str, stats: StudyStats) -> str:
    """Escape a verdict line and set its verdict word in bold."""
    text = _e(line)
    for word in VERDICT_WORDS.values():
        marker = f": {_e(word)};"
        if marker in text:
            return text.replace(marker, f": <b>{_e(word)}</b>;", 1)
    return text


def _model_words(model: str) -> str:
    name = model_name(model)
    if not is_quantised(model):
        return name
    quant = quantisation(model)
    return f"{name} (GGUF{' ' + quant if quant else ''}, de-quantised for training)"


def _batch_words(batch: dict[str, Any]) -> str:
    size, accum = batch.get("batch_size"), batch.get("grad_accum") or 1
    return f"{size}" if accum == 1 else f"{size} × {accum} accumulated = {int(size or 0) * int(accum)}"


def _seen(runs: Any, configs: list[dict[str, Any]]) -> list[int | None]:
    """Training examples each run saw: optimizer steps × batch size × gradient accumulation."""
    out: list[int | None] = []
    for steps, c in zip(runs["train_steps"], configs, strict=True):
        size, accum = _get(c, "train", "batch_size"), _get(c, "train", "grad_accum") or 1
        ok = size is not None and steps is not None and steps == steps
        out.append(int(steps) * int(size) * int(accum) if ok else None)
    return out


def _batches(configs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {"batch_size": _get(c, "train", "batch_size"), "grad_accum": _get(c, "train", "grad_accum")}
        for c in configs
        if _get(c, "train", "batch_size") is not None
    ]


def _seed_words(seeds: pd.Series) -> str:
    values = sorted({int(s) for s in seeds.dropna()})
    if not values:
        return "–"
    listed = ", ".join(map(str, values))
    return f"one seed ({listed})" if len(values) == 1 else f"{len(values)} seeds ({listed})"


def _budget_words(runs: pd.DataFrame) -> str:
    out = []
    for spec in _distinct(runs["budget"]):
        params = _distinct(runs.loc[runs["budget"] == spec, "budget_params"])
        out.append(f"{spec} ({', '.join(f'{int(p):,}' for p in params)} params)" if params else str(spec))
    return ", ".join(out) or "–"


def _get(config: dict[str, Any], section: str, key: str) -> Any:
    return (config.get(section) or {}).get(key)


def _distinct(values: Iterable[Any]) -> list[Any]:
    """Distinct non-missing values in their first-seen order."""
    seen: dict[Any, None] = {}
    for v in values:
        if v is not None and not (isinstance(v, float) and v != v):
            seen.setdefault(v.item() if hasattr(v, "item") else v, None)
    return list(seen)


def _baseline_first(strategies: list[str], baseline: str) -> list[str]:
    """The baseline, then the other strategies by name: an order that does not depend on run ids."""
    return [s for s in strategies if s == baseline] + sorted(s for s in strategies if s != baseline)


def _distinct_dicts(values: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for v in values:
        if v not in out:
            out.append(v)
    return out


def _join(values: Iterable[Any]) -> str:
    found = _distinct(values)
    return ", ".join(f"{int(v):,}" if isinstance(v, int | float) else str(v) for v in found) or "–"


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)

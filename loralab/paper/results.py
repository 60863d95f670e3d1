"""The Results section of the draft: the tables of cells and comparisons, the analysis figures and
the claims, all written with placeholders (`{{num:...}}`, `{{claim:...}}`) so that every value comes
from stats.json at build time.
"""

from __future__ import annotations

import re

from loralab.paper.escape import md_code, md_escape
from loralab.paper.facts import (
    PaperFacts,
    PrimaryWords,
    context_parts,
    family,
    primary_words,
    run_key,
    slug,
)
from loralab.paper.inputs import StudyInputs
from loralab.paper.narrative import results_prose
from loralab.paper.secondary import secondary_sections, section_label


def _n(key: str) -> str:
    return f"{{{{num:{key}}}}}"


def _column(words: PrimaryWords) -> str:
    """The primary metric's column header: 'Eval loss', 'Exact-match accuracy (%)'."""
    return words.name.capitalize() + (" (%)" if words.percent else "")


def _cells_table(facts: PaperFacts, words: PrimaryWords) -> str:
    multi = facts.contexts > 1
    shown = f" {words.metric.display_name.capitalize()} |" if words.ratio else ""
    head = (
        "| Strategy |" + (" Context |" if multi else "") + f" Seeds | {_column(words)} | CI |{shown} Params |"
    )
    rule = "|:--|" + (":--|" if multi else "") + "--:|--:|:-:|" + ("--:|" if words.ratio else "") + "--:|"
    rows = [head, rule]
    have = {n.key for n in facts.numbers}
    for c, k in facts.cell_keys:
        ctx = f" {md_escape(', '.join(context_parts(c.cell)))} |" if multi else ""
        params = _n(f"{k}.params") if f"{k}.params" in have else "n/a"
        ppl = f" {_n(k + '.ppl')} |" if words.ratio else ""
        rows.append(
            f"| {md_escape(c.strategy)} |{ctx} {_n(k + '.seeds')} | {_n(k + '.loss')} |"
            f" [{_n(k + '.lo')}, {_n(k + '.hi')}] |{ppl} {params} |"
        )
    unit = "%" if words.percent else words.metric.unit
    shown = f", {words.metric.display_name} of the mean {words.short}" if words.ratio else ""
    caption = (
        f": {words.name.capitalize()} ({unit}, mean over seeds) per strategy, with its"
        f" {_n('study.confidence')}% two-level bootstrap interval{shown} and trainable parameters."
        " {#tbl:cells}"
    )
    return "\n".join(rows) + "\n\n" + caption + "\n"


def _comparisons_table(facts: PaperFacts, words: PrimaryWords) -> str:
    multi = facts.contexts > 1
    rows = [
        "| Strategy | Reference |"
        + (" Context |" if multi else "")
        + " Difference | Interval |"
        + (" Ratio |" if words.ratio else "")
        + " adj. $p$ | Verdict |",
        "|:--|:--|" + (":--|" if multi else "") + "--:|:-:|" + ("--:|" if words.ratio else "") + "--:|:-:|",
    ]
    have = {n.key for n in facts.numbers}
    for c, k in facts.comparison_keys:
        padj = _n(k + ".padj") if k + ".padj" in have else "n/a"
        interval = f"[{_n(k + '.difflo')}, {_n(k + '.diffhi')}]" if k + ".difflo" in have else "n/a"
        ctx = f" {md_escape(', '.join(context_parts(c.context)))} |" if multi else ""
        ratio = f" {_n(k + '.ratio')} |" if words.ratio else ""
        rows.append(
            f"| {md_escape(c.a)} | {md_escape(c.b)} |{ctx} {_n(k + '.diff')} | {interval} |"
            f"{ratio} {padj} | {_n(k + '.verdict')} |"
        )
    what = "eval-loss difference" if words.is_loss else f"{words.name} difference in {words.diff_unit}"
    caption = (
        f": Paired comparisons: {what} ({words.better_sign}: the strategy is better), the simultaneous"
        f" {_n('study.simconf')}% $t$-interval over seeds its verdict rests on,"
        + (f" {words.ratio_name}," if words.ratio else "")
        + " the Bonferroni-adjusted $p$ of the seed-level $t$-test and the verdict (equivalent: the"
        " interval lies inside $\\pm\\delta$). {#tbl:comparisons}"
    )
    return "\n".join(rows) + "\n\n" + caption + "\n"


VERDICT_TEXT = {"changes": "changes", "same": "same", "unresolved": "unresolved"}


def _interaction_table(facts: PaperFacts, words: PrimaryWords) -> str:
    """Strategy × context: each strategy's difference from the baseline at two levels, and the contrast."""
    rows = [
        "| Strategy | Levels | Seeds | $\\Delta$ first | $\\Delta$ second | Contrast | Interval | Verdict |",
        "|:--|:--|--:|--:|--:|--:|:-:|:-:|",
    ]
    have = {n.key for n in facts.numbers}
    fields = {x.field for x, _ in facts.interaction_keys}
    for x, k in facts.interaction_keys:
        field = "" if len(fields) == 1 else md_escape(x.field) + " "  # one field: the caption names it
        interval = f"[{_n(k + '.lo')}, {_n(k + '.hi')}]" if k + ".lo" in have else "n/a"
        other = f" ({md_escape(', '.join(context_parts(x.context)))})" if x.context else ""
        rows.append(
            f"| {md_escape(x.strategy)} | {field}{md_escape(str(x.level_a))} vs"
            f" {md_escape(str(x.level_b))}{other} | {_n(k + '.seeds')} | {_n(k + '.da')} | {_n(k + '.db')} |"
            f" {_n(k + '.diff')} | {interval} | {VERDICT_TEXT[x.verdict]} |"
        )
    unit = f"percentage points of {words.name}" if words.percent else words.metric.unit
    caption = (
        f": Does the difference from the baseline change with the"
        f" {md_escape(next(iter(fields))) if len(fields) == 1 else 'context'}? Per strategy, its mean paired"
        f" difference $\\Delta$ from the baseline ({unit}) at each level, over the seeds trained in all"
        " four cells, and"
        " the contrast (first minus second) with its simultaneous $t$-interval over seeds (Bonferroni over"
        " the contrasts and the looks). Changes: the interval excludes 0; same: it lies inside"
        " $\\pm\\delta$. {#tbl:interaction}"
    )
    return "\n".join(rows) + "\n\n" + caption + "\n"


# Symbols of the figure captions that pdflatex reads only as math.
_CAPTION_MATH = {"±": "\\pm", "δ": "\\delta", "×": "\\times", "≥": "\\geq", "≤": "\\leq"}


def caption_markdown(caption: str) -> str:
    """A figure caption (plain text) as pandoc Markdown: escaped, its math symbols as inline math."""
    text = md_escape(caption)
    symbols = "".join(_CAPTION_MATH)
    return re.sub(f"[{symbols}]+", lambda m: "$" + " ".join(_CAPTION_MATH[c] for c in m.group()) + "$", text)


def figure_slug(name: str) -> str:
    """The file stem and label of an analysis figure in the paper."""
    return slug(name)


def _figures(inputs: StudyInputs) -> tuple[str, list[tuple[str, str]]]:
    # here, not at the top: drawing needs matplotlib and scipy, the rest of the paper does not
    from loralab.analysis.figures import FIGURES, figure_caption, figure_key

    blocks, labels = [], []
    order = [f.name for f in FIGURES]
    stats = inputs.stats

    def place(item: tuple[str, list[str]]) -> tuple[int, str]:
        key = figure_key(item[0], stats)
        return (order.index(key) if key in order else len(order), item[0])

    figures = sorted(stats.artifacts.figures.items(), key=place)
    for name, files in figures:
        if not any(f.endswith(".pdf") for f in files):
            continue
        s = figure_slug(name)
        caption = caption_markdown(figure_caption(name, inputs.stats))
        blocks.append(f"![{caption}](figures/{s}.pdf){{#fig:{s} width=60%}}\n")
        labels.append((name, f"@fig:{s}"))
    return "\n".join(blocks), labels


# What the results text says about each figure, by name; `{ref}` is its cross-reference.
FIGURE_SENTENCES = {
    "forest": "{ref} shows each paired difference with the interval its verdict rests on, against the"
    " band of $\\pm\\delta$.",
    "eval_loss": "{ref} shows each strategy's mean eval loss; its intervals are much wider than those of"
    " the paired differences because they include the sampling of eval examples, which pairing cancels.",
    "curves": "{ref} shows how each strategy's training loss differs from the baseline's on the same seed.",
    "train_curve": "{ref} shows the baseline's training loss over steps.",
    "eval_curve": "{ref} shows the eval loss at each evaluation during training.",
    "rank_heatmaps": "{ref} shows where each strategy puts its rank, per layer and module.",
    "rank_trajectory": "{ref} shows how the adapter parameters of dynamic strategies change during training.",
    "pareto": "{ref} relates trainable parameters to eval loss across budgets.",
    "example_gain": "{ref} shows how the gain over the base model is spread over the eval examples.",
}


# A study without comparisons (one strategy): the sentences that would speak of pairing or of
# where strategies differ say what the figure shows of the one strategy.
UNCOMPARED_SENTENCES = {
    "eval_loss": "{ref} shows the mean eval loss with its interval.",
    "rank_heatmaps": "{ref} shows the rank per layer and module.",
}


def figure_sentences(words: PrimaryWords, compared: bool) -> dict[str, str]:
    """What the results text says about each figure, in the primary metric's words; the means figure
    is keyed by the primary metric's name (eval_loss by default)."""
    sentences = FIGURE_SENTENCES if compared else {**FIGURE_SENTENCES, **UNCOMPARED_SENTENCES}
    if words.is_loss:
        return sentences
    name = words.metric.name
    out = {k: v for k, v in sentences.items() if k != "eval_loss"}
    out[name] = sentences["eval_loss"].replace("eval loss", words.name)
    out["pareto"] = sentences["pareto"].replace("eval loss", words.name)
    return out


def results_section(inputs: StudyInputs, facts: PaperFacts) -> str:
    """The Results section: the comparisons grouped by verdict, the tables, the figures with a sentence
    each."""
    figures, labels = _figures(inputs)
    refs = []
    words = primary_words(inputs.stats)
    sentences = figure_sentences(words, bool(family(inputs.stats)))
    for name, label in labels:
        default = "{ref} shows " + md_escape(name.replace("_", " ")) + "."
        if name.startswith("forest_") and name != "forest":  # a secondary metric's forest plot
            default = (
                "{ref} shows the paired differences in the secondary outcome (@"
                + section_label(name[7:])
                + ")."
            )
        sentence = sentences.get(name, default)
        refs.append(sentence.format(ref=label))
    pairwise = "\n".join(f"- {{{{claim:{k}}}}}" for c, k in facts.comparison_keys if c.kind == "pairwise")
    out = "# Results {#sec:results}\n\n" + results_prose(inputs, facts) + "\n"
    if pairwise:
        out += f"Further requested comparisons (outside the corrected family):\n\n{pairwise}\n\n"
    if refs:
        out += " ".join(refs) + "\n\n"
    tables = (_comparisons_table(facts, words) + "\n" if family(inputs.stats) else "") + _cells_table(
        facts, words
    )
    if facts.interaction_keys:
        out += "{{claim:interactions}}\n\n"
        tables += "\n" + _interaction_table(facts, words)
    secondary = secondary_sections(inputs.stats, facts)
    return out + tables + "\n" + figures + ("\n" + secondary if secondary else "")


def appendix(inputs: StudyInputs, facts: PaperFacts) -> str:
    """One appendix: every finished run with its seed, primary metric and paired difference."""
    have = {n.key for n in facts.numbers}
    words = primary_words(inputs.stats)
    rows = [f"| Run | Strategy | Seed | {_column(words)} | Difference |", "|:--|:--|--:|--:|--:|"]
    for run in sorted(inputs.done_runs(), key=lambda r: (r.config.lora.strategy, r.config.train.seed)):
        key = run_key(run.run_id)
        if key + ".loss" not in have:
            continue
        diff = _n(key + ".diff") if key + ".diff" in have else "--"
        rows.append(
            f"| {md_code(run.run_id)} | {md_escape(run.config.lora.strategy)} | {run.config.train.seed} |"
            f" {_n(key + '.loss')} | {diff} |"
        )
    if len(rows) == 2:
        return ""
    unit = "%" if words.percent else words.metric.unit
    diff = "" if not words.percent else " in percentage points"
    caption = (
        f": Every finished run: its {words.name} ({unit}) and, for a strategy compared with the baseline,"
        f" its difference{diff} from the baseline run with the same seed ({words.better_sign}: better)."
        " {#tbl:runs}"
    )
    return (
        "# Appendix: runs {#sec:appendix}\n\n"
        "@tbl:runs lists the runs the analysis used, by strategy and seed.\n\n"
        + "\n".join(rows)
        + "\n\n"
        + caption
        + "\n"
    )

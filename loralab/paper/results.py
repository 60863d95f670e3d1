"""The Results section of the draft: the tables of cells and comparisons, the analysis figures and
the claims, all written with placeholders (`{{num:...}}`, `{{claim:...}}`) so that every value comes
from stats.json at build time.
"""

from __future__ import annotations

from loralab.paper.escape import md_escape
from loralab.paper.facts import PaperFacts, context_parts, slug
from loralab.paper.inputs import StudyInputs


def _n(key: str) -> str:
    return f"{{{{num:{key}}}}}"


def _cells_table(facts: PaperFacts) -> str:
    multi = facts.contexts > 1
    head = (
        "| Strategy |" + (" Context |" if multi else "") + " Seeds | Eval loss | CI | Perplexity | Params |"
    )
    rule = "|:--|" + (":--|" if multi else "") + "--:|--:|:-:|--:|--:|"
    rows = [head, rule]
    have = {n.key for n in facts.numbers}
    for c, k in facts.cell_keys:
        ctx = f" {md_escape(', '.join(context_parts(c.cell)))} |" if multi else ""
        params = _n(f"{k}.params") if f"{k}.params" in have else "n/a"
        rows.append(
            f"| {md_escape(c.strategy)} |{ctx} {_n(k + '.seeds')} | {_n(k + '.loss')} |"
            f" [{_n(k + '.lo')}, {_n(k + '.hi')}] | {_n(k + '.ppl')} | {params} |"
        )
    caption = (
        f": Eval loss (nats/token, mean over seeds) per strategy, with its {_n('study.confidence')}%"
        " two-level bootstrap interval, perplexity of the mean loss and trainable parameters."
        " {#tbl:cells}"
    )
    return "\n".join(rows) + "\n\n" + caption + "\n"


def _comparisons_table(facts: PaperFacts) -> str:
    multi = facts.contexts > 1
    rows = [
        "| Strategy | Reference |"
        + (" Context |" if multi else "")
        + " Difference | Interval | Ratio | adj. $p$ | Verdict |",
        "|:--|:--|" + (":--|" if multi else "") + "--:|:-:|--:|--:|:-:|",
    ]
    have = {n.key for n in facts.numbers}
    for c, k in facts.comparison_keys:
        padj = _n(k + ".padj") if k + ".padj" in have else "n/a"
        interval = f"[{_n(k + '.difflo')}, {_n(k + '.diffhi')}]" if k + ".difflo" in have else "n/a"
        ctx = f" {md_escape(', '.join(context_parts(c.context)))} |" if multi else ""
        rows.append(
            f"| {md_escape(c.a)} | {md_escape(c.b)} |{ctx} {_n(k + '.diff')} | {interval} |"
            f" {_n(k + '.ratio')} | {padj} | {_n(k + '.verdict')} |"
        )
    caption = (
        ": Paired comparisons: eval-loss difference (negative: the strategy is better), the simultaneous"
        f" {_n('study.simconf')}% $t$-interval over seeds its verdict rests on, perplexity ratio, the"
        " Bonferroni-adjusted $p$ of the seed-level $t$-test and the verdict (equivalent: the interval"
        " lies inside $\\pm\\delta$). {#tbl:comparisons}"
    )
    return "\n".join(rows) + "\n\n" + caption + "\n"


# Captions of the figures `loralab analyze` writes, in the order the paper shows them; a figure not
# listed here (a newer analysis) still appears, after these, with its name as caption.
FIGURE_CAPTIONS = {
    "eval_loss": "Mean eval loss per strategy with its two-level bootstrap interval.",
    "forest": (
        "Paired eval-loss differences against the baseline (negative: better) with the simultaneous"
        " t-interval over seeds that each verdict rests on; the grey band is $\\pm\\delta$; filled"
        " markers are verdicts of better or worse."
    ),
    "curves": (
        "Training loss over steps (token-weighted trailing rolling mean of each run): mean over seeds and"
        " the min–max band."
    ),
    "eval_curve": (
        "Eval loss at each evaluation, step 0 being the base model without adapters: mean over seeds and"
        " the min–max band."
    ),
    "rank_heatmaps": "Final rank per layer and module kind for each strategy.",
    "rank_trajectory": "Adapter parameters over training for dynamic strategies.",
    "pareto": "Trainable parameters against eval loss across budgets.",
    "example_gain": (
        "Per-example gain over the base model (base minus adapted NLL per token, mean over seeds)."
    ),
}


def figure_slug(name: str) -> str:
    """The file stem and label of an analysis figure in the paper."""
    return slug(name)


def _figures(inputs: StudyInputs) -> tuple[str, list[str]]:
    blocks, labels = [], []
    order = list(FIGURE_CAPTIONS)
    figures = sorted(
        inputs.stats.artifacts.figures.items(),
        key=lambda item: (order.index(item[0]) if item[0] in order else len(order), item[0]),
    )
    for name, files in figures:
        if not any(f.endswith(".pdf") for f in files):
            continue
        s = figure_slug(name)
        caption = FIGURE_CAPTIONS.get(name) or (
            md_escape(name.replace("_", " ").replace("-", " ").strip().capitalize()) + "."
        )
        blocks.append(f"![{caption}](figures/{s}.pdf){{#fig:{s} width=70%}}\n")
        labels.append(f"@fig:{s}")
    return "\n".join(blocks), labels


def results_section(inputs: StudyInputs, facts: PaperFacts) -> str:
    """The Results section: claims against the baseline, tables, figures."""
    figures, labels = _figures(inputs)
    fig_text = (
        f" {', '.join(labels)} show{'s' if len(labels) == 1 else ''} the analysis figures." if labels else ""
    )
    claims = "\n".join(f"- {{{{claim:{k}}}}}" for c, k in facts.comparison_keys if c.kind == "vs_baseline")
    pairwise = "\n".join(f"- {{{{claim:{k}}}}}" for c, k in facts.comparison_keys if c.kind == "pairwise")
    out = (
        "# Results {#sec:results}\n\n"
        f"@tbl:cells lists each strategy's eval loss and @tbl:comparisons the paired comparisons.{fig_text}"
        " Against the baseline:\n\n"
        f"{claims or '- (no comparison with the baseline has finished runs in both arms)'}\n\n"
    )
    if pairwise:
        out += f"Further requested comparisons (outside the corrected family):\n\n{pairwise}\n\n"
    return out + _cells_table(facts) + "\n" + _comparisons_table(facts) + "\n" + figures

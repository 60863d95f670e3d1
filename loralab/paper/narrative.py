"""What the study found, in words chosen by the facts: the abstract's findings, the results grouped by
verdict, the discussion and the conclusion.

Every sentence here is picked by a fact of `stats.json` or the run records (a verdict, a convergence
test, how many budgets or models the study has), and every number in it is a `{{num:...}}`
placeholder. No sentence states a finding the statistics do not hold: the four verdict words come from
the comparisons, "had not converged" from `stats.convergence.still_falling`.
"""

from __future__ import annotations

from loralab.analysis.schema import Comparison
from loralab.paper.escape import md_code, md_escape
from loralab.paper.facts import PaperFacts, family, primary_words, shared_config
from loralab.paper.inputs import StudyInputs
from loralab.paper.secondary import abstract_sentences

SCHEDULES_TO_ZERO = ("cosine", "linear")  # the learning rate reaches zero at the last step


def _n(key: str) -> str:
    return f"{{{{num:{key}}}}}"


def listing(items: list[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _name(c: Comparison, facts: PaperFacts, *, bold: bool = True) -> str:
    name = md_escape(c.a)
    name = f"**{name}**" if bold else name
    return f"{name} ({md_escape(c.context_label)})" if facts.contexts > 1 and c.context_label else name


def _group(facts: PaperFacts, verdict: str) -> list[Comparison]:
    return [c for c, _ in facts.comparison_keys if c.kind == "vs_baseline" and c.verdict == verdict]


def _has(facts: PaperFacts, key: str) -> bool:
    return key in {n.key for n in facts.numbers}


def counted(facts: PaperFacts, key: str, noun: str, plural: str | None = None) -> str:
    """`{{num:key}} nouns`, or "one noun" when the fact is 1 (a one-run or one-seed study)."""
    value = next((n.value for n in facts.numbers if n.key == key), None)
    if value == 1:
        return f"one {noun}"
    return f"{_n(key)} {plural or noun + 's'}"


def margin_words(inputs: StudyInputs) -> str:
    """'$\\delta$ = 0.0100 nats/token (a perplexity ratio within 1 ± 1%)', '$\\delta$ = 2.0 percentage
    points'."""
    spec, words = inputs.stats.margin_spec.strip(), primary_words(inputs.stats)
    ratio = f" (a {words.ratio_name} within 1 $\\pm$ {md_escape(spec)})"
    extra = ratio if spec.endswith("%") and words.ratio else ""
    return f"$\\delta$ = {_n('study.margin')} {words.diff_unit}{extra}"


def _envelope(verdict: str) -> str:
    return f"[{_n(f'study.{verdict}lo')}, {_n(f'study.{verdict}hi')}]"


def verdict_sentences(inputs: StudyInputs, facts: PaperFacts, *, bold: bool = True) -> list[str]:
    """One sentence per verdict that occurs, with the envelope of the intervals it rests on."""
    base = md_escape(inputs.stats.baseline)
    total = len(family(inputs.stats))
    words = primary_words(inputs.stats)
    unit = words.diff_unit
    out = []
    for verdict in ("better", "worse", "equivalent", "unresolved"):
        group = [c for c in _group(facts, verdict) if c.difference_ci is not None]
        if not group:
            continue
        one = len(group) == 1
        names = listing([_name(c, facts, bold=bold) for c in group])
        if total > 1 and len(group) == total:
            names = f"All {total} strategies ({names})"
        elif total > 1:
            names = f"{names} ({len(group)} of {total})"
        interval = "its interval" if one else "their intervals"
        if verdict in ("better", "worse"):
            out.append(
                f"{names} {'is' if one else 'are'} {verdict} than {base}, with a {words.more(verdict)}"
                f" {words.name} ({interval} of the paired difference within {_envelope(verdict)} {unit})."
            )
        elif verdict == "equivalent":
            out.append(
                f"{names} {'is' if one else 'are'} equivalent to {base} within $\\delta$:"
                f" {interval} of the paired difference lie{'s' if one else ''} within {_envelope(verdict)}"
                f" {unit}, inside $\\pm\\delta$."
            )
        else:
            spans = (
                f"its interval {_envelope(verdict)} {unit} neither excludes zero nor lies"
                if one
                else f"their intervals (within {_envelope(verdict)} {unit} overall) neither exclude"
                " zero nor lie"
            )
            out.append(f"{names} {'remains' if one else 'remain'} unresolved: {spans} inside $\\pm\\delta$.")
    lone = [c for c in family(inputs.stats) if c.difference_ci is None]
    if lone:
        out.append(
            f"{listing([_name(c, facts, bold=bold) for c in lone])} {'has' if len(lone) == 1 else 'have'}"
            " a single paired seed and no interval, so no verdict beyond unresolved."
        )
    return out


def main_limitation(inputs: StudyInputs, facts: PaperFacts) -> str:
    """The one limitation the abstract names: unconverged training first, then an unmeasured curve,
    then the scope (one model, one data set, the training length)."""
    conv = inputs.stats.convergence
    if conv is not None and conv.still_falling and not primary_words(inputs.stats).is_loss:
        return (  # the curve is of the eval loss, not of the primary metric: no loss units here
            f"Training had not converged: the baseline's eval loss was still falling over the last"
            f" {_n('conv.window')} steps, so the differences may change with longer training."
        )
    if conv is not None and conv.still_falling:
        return (
            f"Training had not converged: the baseline's eval loss still fell by {_n('conv.drop')}"
            f" nats/token over the last {_n('conv.window')} steps, so the differences may change with"
            " longer training."
        )
    seen = f" after {_n('cfg.seen')} training examples per run" if _has(facts, "cfg.seen") else ""
    scope = f"The study covers one model and one data set{seen}"
    if conv is None:
        return scope + "; no evaluation during training was recorded, so convergence is not measured."
    return scope + "."


def abstract_findings(inputs: StudyInputs, facts: PaperFacts) -> str:
    """The abstract's verdicts (or what a study without comparisons reports) and its main limitation."""
    if not family(inputs.stats):
        found = (
            "The study holds no comparison between strategies (only one strategy has finished runs);"
            f" it reports that strategy's {primary_words(inputs.stats).name}."
        )
    else:
        found = (
            f"Each comparison is judged by a simultaneous {_n('study.simconf')}% interval over training"
            f" seeds against {margin_words(inputs)}. "
            + " ".join(verdict_sentences(inputs, facts, bold=False))
        )
    secondary = abstract_sentences(inputs.stats)
    return f"{found} {secondary + ' ' if secondary else ''}{main_limitation(inputs, facts)}"


def setup_line(inputs: StudyInputs, facts: PaperFacts, model: str | None, data: str | None) -> str:
    """The training setup in one clause: model, data, training length, seeds."""
    parts = []
    if model:
        parts.append(f"fine-tuning {md_escape(model)}")
    if data:
        parts.append(f"on {md_escape(data)}")
    if _has(facts, "cfg.seen"):
        parts.append(f"for {_n('cfg.steps')} steps ({_n('cfg.seen')} training examples)")
    parts.append(f"with {counted(facts, 'study.seeds', 'seed')} each")
    return " ".join(parts)


def results_prose(inputs: StudyInputs, facts: PaperFacts) -> str:
    """The results against the baseline, grouped by verdict (the claims for better and worse)."""
    if not family(inputs.stats):
        return (
            "The study has no comparison with the baseline: only one strategy has finished runs, so it"
            f" reports that strategy's {primary_words(inputs.stats).name} (@tbl:cells) and nothing about"
            " allocation.\n"
        )
    paras = [
        f"@tbl:comparisons lists the {_n('study.family')} comparisons with the"
        f" {md_escape(inputs.stats.baseline)} baseline; each verdict rests on the simultaneous"
        f" {_n('study.simconf')}% interval of the mean paired difference over seeds, judged against"
        f" {margin_words(inputs)}."
    ]
    paras += verdict_sentences(inputs, facts)
    detail = [
        f"{{{{claim:{k}}}}}"
        for c, k in facts.comparison_keys
        if c.kind == "vs_baseline" and c.verdict in ("better", "worse")
    ]
    unresolved = [
        (c, k)
        for c, k in facts.comparison_keys
        if c.kind == "vs_baseline" and c.verdict == "unresolved" and c.seeds_to_resolve is not None
    ]
    if unresolved:
        needs = "; ".join(f"{_name(c, facts)}: about {_n(k + '.toresolve')}" for c, k in unresolved)
        paras.append(
            "If the observed mean and spread of the per-seed differences were the truth, the unresolved"
            f" comparisons would need these numbers of seeds to resolve: {needs} (ranges over the"
            " uncertainty of the spread in @tbl:comparisons)."
        )
    text = " ".join(paras) + "\n"
    if detail:
        text += "\n" + "\n".join(f"- {d}" for d in detail) + "\n"
    return text


def discussion(inputs: StudyInputs, facts: PaperFacts) -> str:
    """Effect bounds against the seed spread, and what the learning curve says about convergence."""
    stats = inputs.stats
    words = primary_words(stats)
    paras = []
    if _has(facts, "study.bound"):
        text = (
            "No interval allows a difference from the baseline larger than"
            f" {_n('study.bound')} {words.diff_unit} in either direction."
        )
        if _has(facts, "study.seedsdlo"):
            text += (
                f" For scale, a single strategy's {words.name} varies over training seeds with a standard"
                f" deviation between {_n('study.seedsdlo')} and {_n('study.seedsdhi')} {words.diff_unit}."
            )
            bound = max(
                abs(e)
                for c in family(stats)
                if c.difference_ci
                for e in (c.difference_ci.low, c.difference_ci.high)
            )
            sds = [c.sd for c in stats.summaries if c.sd is not None]
            if bound < min(sds):
                text += (
                    " Every effect the data still allow is smaller than that seed-to-seed spread: at this"
                    " budget and training length, the choice of allocation matters less than the seed."
                )
            elif bound <= 3 * max(sds):
                text += (
                    " The largest effect the data still allow is of the order of that seed-to-seed spread."
                )
            elif _group(facts, "better") or _group(facts, "worse"):
                text += (
                    " Effects of the size found are comparable to or larger than that spread, so they"
                    " matter in practice as well as statistically."
                )
        paras.append(text)
    paras.append(_convergence_text(inputs))
    if _group(facts, "unresolved"):
        paras.append(
            "An unresolved comparison is not a finding of no difference: only an interval inside"
            " $\\pm\\delta$ shows equivalence."
        )
    return "# Discussion {#sec:discussion}\n\n" + "\n\n".join(paras) + "\n"


def _convergence_text(inputs: StudyInputs) -> str:
    conv = inputs.stats.convergence
    if conv is None:
        return (
            "No evaluation during training was recorded (only the base model and the final adapters were"
            " evaluated), so the study cannot say whether the adapters had converged; an eval every few"
            " steps on one seed (`train.eval_every`) would show it."
        )
    where = (
        f"in the companion run{'s' if len(conv.seeds) > 1 else ''} of study {md_code(conv.study)}, which"
        f" repeat{'s' if len(conv.seeds) == 1 else ''} its training with {_n('conv.evals')} evaluations,"
        if conv.study != inputs.stats.study
        else f"over its {_n('conv.evals')} evaluations,"
    )
    start = f" from {_n('conv.base')} (the base model)" if conv.loss_base is not None else ""
    ci = f" (interval [{_n('conv.droplo')}, {_n('conv.drophi')}] over seeds)" if conv.drop_ci else ""
    text = (
        f"The baseline's eval loss, {where} fell{start} to {_n('conv.end')} nats/token; over the last"
        f" {_n('conv.window')} of {_n('conv.steps')} steps it fell by {_n('conv.drop')}{ci}."
    )
    # the curve is of the eval loss: judged against the eval loss's δ, the study's δ when it is primary
    delta = "$\\delta$" if primary_words(inputs.stats).is_loss else "the eval loss's $\\delta$"
    if conv.still_falling:
        return text + (
            f" That is more than {delta}: training had not converged, and the differences between"
            " strategies may grow or shrink with longer training."
        )
    text += f" That is within {delta}: the curve had flattened."
    schedule = shared_config(inputs, "train.schedule")
    if schedule in SCHEDULES_TO_ZERO:
        text += (
            f" With a {md_escape(str(schedule))} schedule the learning rate falls to zero at the last step,"
            " so a flat end shows that the schedule finished, not that a longer schedule would not lower"
            " the loss further."
        )
    return text


def conclusion(inputs: StudyInputs, facts: PaperFacts) -> str:
    """What the study supports, and which study would settle what it leaves open."""
    stats = inputs.stats
    fam = family(stats)
    base = md_escape(stats.baseline)
    words = primary_words(stats)
    said = []
    if not fam:
        said.append(
            "This study trained a single strategy, so it supports no statement about allocation; it"
            f" records that strategy's {words.name} for later comparison."
        )
    moves = {"lower": "lowers", "higher": "raises"}
    for verdict, phrase in (
        ("better", f"{moves[words.more('better')]} the {words.name} relative to"),
        ("worse", f"{moves[words.more('worse')]} the {words.name} relative to"),
        ("equivalent", f"changes the {words.name} by less than $\\delta$ relative to"),
    ):
        group = [c for c in _group(facts, verdict) if c.difference_ci is not None]
        if group:
            names = listing([_name(c, facts) for c in group])
            verb = (
                phrase
                if len(group) == 1
                else phrase.replace("lowers", "lower").replace("raises", "raise").replace("changes", "change")
            )
            said.append(f"The study supports that {names} {verb} {base} in its setting.")
    open_items = []
    unresolved = _group(facts, "unresolved")
    if unresolved:
        open_items.append(f"more seeds for {listing([_name(c, facts) for c in unresolved])}")
    conv = stats.convergence
    if conv is None or conv.still_falling or shared_config(inputs, "train.schedule") in SCHEDULES_TO_ZERO:
        open_items.append("longer training, with evaluations during training")
    if shared_config(inputs, "lora.budget") is not None:
        open_items.append("other budgets (a scarce one in particular)")
    if shared_config(inputs, "model.name") is not None:
        open_items.append("other base models")
    if shared_config(inputs, "data.source") is not None:
        open_items.append(f"other data sets and task metrics beside {words.name}")
    if open_items:
        said.append(f"What it leaves open needs {listing(open_items)}.")
    return "# Conclusion {#sec:conclusion}\n\n" + " ".join(said) + "\n"

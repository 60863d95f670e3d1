"""From the study's inputs to the paper's facts: its numbers (with keys) and its claims.

Nothing here computes a statistic: every value is a field of `stats.json` or of a run's spec.yaml,
given a key and a printed form. A claim is a sentence chosen by the comparison's own verdict
(better, worse, equivalent, unresolved: the seed-level policy of `analysis/compare.py`) and
written with `{{num:...}}` placeholders, so the draft
refers to it as `{{claim:KEY}}` and it is re-derived from the statistics at every build.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from loralab.analysis.labels import natural_key
from loralab.analysis.schema import CellSummary, Comparison, Interaction, MetricStats, StudyStats
from loralab.paper.escape import md_escape
from loralab.paper.inputs import StudyInputs
from loralab.paper.numbers import Number, NumberKind, NumberTable
from loralab.record import RunRecord
from loralab.results import EVAL_LOSS, Metric, get_metric

CLAIM_PLACEHOLDER = re.compile(r"\{\{claim:([^{}\s]+)\}\}")

TEST_WORDS = {
    "seed_t": "paired t-test over seeds",
    "seed_sign_flip": "exact sign-flip test over seeds",
    "example_permutation": "paired permutation test over eval examples",
}
VERDICT_WORDS = ("better", "worse", "equivalent", "unresolved")


@dataclass(frozen=True)
class PrimaryWords:
    """The paper's words for the study's primary metric, from its `Metric`: for the eval loss the words
    the paper always used (nats/token, perplexity ratio, lower is better), for exact match percentages,
    percentage points and "higher"."""

    metric: Metric

    @property
    def name(self) -> str:
        """'eval loss', 'exact-match accuracy'."""
        return self.metric.paper_name

    @property
    def short(self) -> str:
        """'loss' for the eval loss, else its name: 'its loss is the mean over seeds'."""
        return "loss" if self.metric == EVAL_LOSS else self.name

    @property
    def is_loss(self) -> bool:
        """Whether the primary is the eval loss, the metric of the learning curve (convergence)."""
        return self.metric == EVAL_LOSS

    @property
    def percent(self) -> bool:
        return self.metric.transform == "percent"

    @property
    def ratio(self) -> bool:
        """Whether comparisons have a ratio of shown values (perplexity ratio) beside the difference."""
        return self.metric.transform == "exp"

    @property
    def ratio_name(self) -> str:
        return self.metric.effect_name  # 'perplexity ratio'

    @property
    def diff_unit(self) -> str:
        """The unit of a printed difference, margin or spread: 'nats/token', 'percentage points'."""
        return "percentage points" if self.percent else self.metric.unit

    @property
    def value_unit(self) -> str:
        """What follows a printed value: ' nats/token', '%'."""
        return "%" if self.percent else f" {self.metric.unit}"

    @property
    def lower_better(self) -> bool:
        return self.metric.direction == "lower"

    def more(self, verdict: str) -> str:
        """'lower' for a better eval loss, 'higher' for a better accuracy (and the other way for worse)."""
        return "lower" if (verdict == "better") == self.lower_better else "higher"

    @property
    def better_sign(self) -> str:
        """'negative' when lower is better, 'positive' when higher is."""
        return "negative" if self.lower_better else "positive"


def primary_words(stats: StudyStats) -> PrimaryWords:
    """The words of `stats`' primary metric."""
    return PrimaryWords(get_metric(stats.metric))


def scaled(words: PrimaryWords, key: str, value: float, source: str, decimals: int = 3) -> Number:
    """A number of the primary metric: as it is for the eval loss, a fraction in % (differences in
    percentage points) to 1 decimal for a percent metric."""
    if words.percent:
        return Number(key, 100 * float(value), "float", source + " (× 100)", decimals=1)
    return Number(key, value, "float", source, decimals=decimals)


def slug(text: str) -> str:
    """Lowercase letters, digits and single dashes: a key part from any user text."""
    s = re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-")
    return s or "x"


class _Slugs:
    """Unique slugs: the same text always gets the same slug, different texts never share one."""

    def __init__(self) -> None:
        self._by_text: dict[str, str] = {}
        self._used: set[str] = set()

    def __call__(self, text: str) -> str:
        if text not in self._by_text:
            base = s = slug(text)
            i = 2
            while s in self._used:
                s, i = f"{base}-{i}", i + 1
            self._by_text[text] = s
            self._used.add(s)
        return self._by_text[text]


def context_parts(cell: dict) -> list[str]:
    """The values of a cell or context other than the strategy, in field order."""
    return [f"{k}={v}" for k, v in sorted(cell.items()) if not k.endswith("strategy")]


@dataclass
class PaperFacts:
    """Numbers, claims and the keys that link them to cells and comparisons."""

    numbers: NumberTable
    claims: dict[str, str] = field(default_factory=dict)  # claim key -> Markdown with placeholders
    cell_keys: list[tuple[CellSummary, str]] = field(default_factory=list)
    comparison_keys: list[tuple[Comparison, str]] = field(default_factory=list)
    interaction_keys: list[tuple[Interaction, str]] = field(default_factory=list)
    contexts: int = 1  # distinct contexts (1: every comparison shares model, budget, ...)

    def resolve_claims(self, text: str) -> str:
        """Replace `{{claim:KEY}}` by the claim's current sentence."""

        def sub(m: re.Match[str]) -> str:
            key = m.group(1)
            if key not in self.claims:
                from loralab.errors import PaperError

                raise PaperError(
                    f"the draft refers to {{{{claim:{key}}}}}, a comparison that stats.json does not hold;"
                    " rerun `loralab paper draft --force` or remove it"
                )
            return self.claims[key]

        return CLAIM_PLACEHOLDER.sub(sub, text)


def _study_numbers(stats: StudyStats) -> list[Number]:
    s, words = stats.settings, primary_words(stats)
    src = "stats.json: "
    out = [
        Number("study.runs", stats.n_runs, "int", src + "n_runs"),
        Number("study.done", stats.n_done, "int", src + "n_done"),
        Number("study.family", stats.family_size, "int", src + "family_size"),
        Number("study.confidence", s.confidence, "percent", src + "settings.confidence", decimals=1),
        Number("study.alpha", s.alpha, "float", src + "settings.alpha", decimals=2),
        Number("study.resamples", s.n_resamples, "int", src + "settings.n_resamples"),
        scaled(words, "study.margin", stats.margin, src + "margin", decimals=4),
        Number("study.marginspec", stats.margin_spec, "text", src + "margin_spec"),
        Number(
            "study.simconf",
            stats.simultaneous_confidence,
            "percent",
            src + "simultaneous_confidence",
            decimals=0,
        ),
        Number("study.looks", s.looks, "int", src + "settings.looks"),
        Number("study.power", s.power, "percent", src + "settings.power", decimals=0),
        Number(
            "study.strategies",
            len({c.strategy for c in stats.summaries}),
            "int",
            src + "summaries[].strategy (count)",
        ),
    ]
    family = [c for c in stats.comparisons if c.kind == "vs_baseline"]
    for verdict in VERDICT_WORDS:
        out.append(
            Number(
                f"study.n{verdict}",
                sum(c.verdict == verdict for c in family),
                "int",
                src + f"comparisons[kind=vs_baseline].verdict == {verdict} (count)",
            )
        )
    by_context: dict[tuple[str, ...], list[float]] = {}
    for c in stats.summaries:
        if c.trainable_params:
            by_context.setdefault(tuple(context_parts(c.cell)), []).append(c.trainable_params)
    spreads = [(max(p) - min(p)) / max(p) for p in by_context.values() if len(p) > 1]
    if spreads:  # within a context (budget): across budgets the counts differ by design
        out.append(
            Number(
                "study.budgetspread",
                100 * max(spreads),
                "float",
                src
                + "summaries[].trainable_params ((max - min) / max within each context, largest, percent)",
                decimals=3,
            )
        )
    out.append(
        Number(
            "study.planned",
            sum(len(r.expected_seeds) for r in stats.coverage),
            "int",
            src + "coverage[].expected_seeds (count)",
        )
    )
    seeds = sorted({n for c in stats.summaries for n in c.seeds})
    out.append(Number("study.seeds", len(seeds), "int", src + "summaries[].seeds (count)"))
    return out


def _cell_numbers(c: CellSummary, key: str, i: int, words: PrimaryWords) -> list[Number]:
    src = f"stats.json: summaries[{i}]."
    out = [
        scaled(words, f"{key}.loss", c.mean, src + "mean"),
        scaled(words, f"{key}.lo", c.bootstrap_ci.low, src + "bootstrap_ci.low"),
        scaled(words, f"{key}.hi", c.bootstrap_ci.high, src + "bootstrap_ci.high"),
        Number(f"{key}.ppl", c.shown, "float", src + "shown", decimals=2),
        Number(f"{key}.seeds", c.n_seeds, "int", src + "n_seeds"),
        Number(f"{key}.examples", c.n_examples, "int", src + "n_examples"),
    ]
    if c.sd is not None:
        out.append(scaled(words, f"{key}.sd", c.sd, src + "sd", decimals=4))
    if c.trainable_params is not None:
        out.append(Number(f"{key}.params", round(c.trainable_params), "int", src + "trainable_params"))
    if c.peak_trainable_params is not None:
        out.append(
            Number(f"{key}.peak", round(c.peak_trainable_params), "int", src + "peak_trainable_params")
        )
    if c.base is not None:
        out.append(scaled(words, f"{key}.base", c.base, src + "base"))
    return out


def _comparison_numbers(c: Comparison, key: str, i: int, words: PrimaryWords) -> list[Number]:
    src = f"stats.json: comparisons[{i}]."
    out = [
        scaled(words, f"{key}.diff", c.difference, src + "difference", decimals=4),
        Number(f"{key}.ratio", c.effect, "float", src + "effect"),
        Number(f"{key}.seeds", c.n_seeds, "int", src + "n_seeds"),
        Number(f"{key}.examples", c.n_examples, "int", src + "n_examples"),
        Number(f"{key}.winrate", c.win_rate, "percent", src + "win_rate", decimals=1),
        Number(f"{key}.verdict", c.verdict, "text", src + "verdict"),
    ]
    if c.difference_ci is not None and c.effect_ci is not None:
        out += [
            scaled(words, f"{key}.difflo", c.difference_ci.low, src + "difference_ci.low", decimals=4),
            scaled(words, f"{key}.diffhi", c.difference_ci.high, src + "difference_ci.high", decimals=4),
            Number(f"{key}.ratiolo", c.effect_ci.low, "float", src + "effect_ci.low"),
            Number(f"{key}.ratiohi", c.effect_ci.high, "float", src + "effect_ci.high"),
        ]
    if c.p_primary is not None:
        out.append(Number(f"{key}.p", c.p_primary, "p", src + "p_primary"))
    if c.p_adjusted is not None:
        out.append(Number(f"{key}.padj", c.p_adjusted, "p", src + "p_adjusted"))
        out.append(Number(f"{key}.padjrel", c.p_adjusted, "prel", src + "p_adjusted"))
    if c.g_z is not None:
        out.append(Number(f"{key}.gz", c.g_z, "float", src + "g_z", decimals=2))
    if c.seeds_to_resolve is not None:
        out.append(Number(f"{key}.toresolve", c.seeds_to_resolve, "int", src + "seeds_to_resolve"))
    if c.seeds_to_resolve_range is not None:
        for i_end, (end, value) in enumerate(zip(("lo", "hi"), c.seeds_to_resolve_range, strict=True)):
            if value is not None:
                out.append(
                    Number(f"{key}.toresolve{end}", value, "int", src + f"seeds_to_resolve_range[{i_end}]")
                )
    return out


def interaction_sentence(facts: PaperFacts) -> str:
    """What the contrasts found, counted by verdict (the table gives each): the `interactions` claim."""
    counts: dict[str, int] = {}
    for x, _ in facts.interaction_keys:
        counts[x.verdict] = counts.get(x.verdict, 0) + 1
    found = {
        "changes": "changes between the levels for {}",
        "same": "changes by less than $\\delta$ for {}",
        "unresolved": "is unresolved for {}",
    }
    parts = [found[v].format(counts[v]) for v in ("changes", "same", "unresolved") if v in counts]
    listed = join_and(parts)
    return (
        "@tbl:interaction asks whether a strategy's difference from the baseline depends on the context:"
        f" of its {len(facts.interaction_keys)} contrasts, the difference {listed}."
    )


def _interaction_numbers(x: Interaction, key: str, i: int, words: PrimaryWords) -> list[Number]:
    src = f"stats.json: interactions[{i}]."
    out = [
        scaled(words, f"{key}.da", x.difference_a, src + "difference_a", decimals=4),
        scaled(words, f"{key}.db", x.difference_b, src + "difference_b", decimals=4),
        scaled(words, f"{key}.diff", x.difference, src + "difference", decimals=4),
        Number(f"{key}.seeds", x.n_seeds, "int", src + "n_seeds"),
        Number(f"{key}.verdict", x.verdict, "text", src + "verdict"),
    ]
    if x.difference_ci is not None:
        out += [
            scaled(words, f"{key}.lo", x.difference_ci.low, src + "difference_ci.low", decimals=4),
            scaled(words, f"{key}.hi", x.difference_ci.high, src + "difference_ci.high", decimals=4),
            Number(
                f"{key}.conf",
                x.difference_ci.confidence,
                "percent",
                src + "difference_ci.confidence",
                decimals=2,
            ),
        ]
    if x.p_adjusted is not None:
        out.append(Number(f"{key}.padj", x.p_adjusted, "p", src + "p_adjusted"))
    return out


def claim_sentence(c: Comparison, key: str, stats: StudyStats, *, with_context: bool = True) -> str:
    """The verdict on comparison `c` with the interval it rests on (Markdown with placeholders)."""
    a, b = md_escape(c.a), md_escape(c.b)
    words = primary_words(stats)
    unit = words.diff_unit
    where = f" ({md_escape(c.context_label)})" if c.context_label and with_context else ""
    if c.difference_ci is None:
        return (
            f"**{a}** against **{b}**{where}: unresolved; with {{{{num:{key}.seeds}}}} paired seed there is"
            f" no seed-level interval (difference {{{{num:{key}.diff}}}} {unit} on these runs)."
        )
    effect = (
        f"difference {{{{num:{key}.diff}}}} {unit}, simultaneous {{{{num:study.simconf}}}}% interval"
        f" [{{{{num:{key}.difflo}}}}, {{{{num:{key}.diffhi}}}}] over {{{{num:{key}.seeds}}}} seeds"
    )
    if words.ratio:
        effect += f"; {words.ratio_name} {{{{num:{key}.ratio}}}}"
    if c.g_z is not None:
        effect += f"; Hedges' $g_z$ = {{{{num:{key}.gz}}}}"
    if c.verdict == "better":
        text = f"**{a}** is better than **{b}**{where}: {words.more('better')} {words.name} ({effect})."
    elif c.verdict == "worse":
        text = f"**{a}** is worse than **{b}**{where}: {words.more('worse')} {words.name} ({effect})."
    elif c.verdict == "equivalent":
        text = (
            f"**{a}** is equivalent to **{b}**{where} within $\\delta$ = {{{{num:study.margin}}}} ({effect})."
        )
    else:
        text = f"**{a}** against **{b}**{where} is unresolved ({effect})"
        if c.seeds_to_resolve is not None:
            text += (
                f"; the observed spread suggests about {{{{num:{key}.toresolve}}}} seeds would resolve it"
                + (
                    f" (between {{{{num:{key}.toresolvelo}}}} and {{{{num:{key}.toresolvehi}}}} over the"
                    " uncertainty of that spread)"
                    if c.seeds_to_resolve_range and None not in c.seeds_to_resolve_range
                    else ", an estimate that is itself uncertain with few seeds"
                )
            )
        text += "."
    if c.caveat:
        text += f" Caveat: {md_escape(c.caveat)}."
    return text


def collect_facts(inputs: StudyInputs) -> PaperFacts:
    """Every number and claim the paper may use, from the study's stats.json and run specs."""
    stats = inputs.stats
    words = primary_words(stats)
    slugs = _Slugs()
    numbers = _study_numbers(stats)
    contexts = {tuple(context_parts(c.cell)) for c in stats.summaries}
    multi = len(contexts) > 1
    cell_keys = []
    for i, c in enumerate(stats.summaries):
        parts = [c.strategy, *context_parts(c.cell)] if multi else [c.strategy]
        key = "cell." + slugs("cell|" + "|".join(parts))
        cell_keys.append((c, key))
        numbers += _cell_numbers(c, key, i, words)
    facts = PaperFacts(numbers=NumberTable([]), cell_keys=cell_keys, contexts=len(contexts))
    cmp_keys = []
    for i, c in enumerate(stats.comparisons):
        parts = [c.a, c.b, *context_parts(c.context)] if multi else [c.a, c.b]
        key = "cmp." + slugs("cmp|" + "|".join(parts))
        cmp_keys.append((c, key))
        numbers += _comparison_numbers(c, key, i, words)
        facts.claims[key] = claim_sentence(c, key, stats, with_context=multi)
    for i, x in enumerate(stats.interactions):
        parts = [x.strategy, x.field, str(x.level_a), str(x.level_b), *context_parts(x.context)]
        key = "int." + slugs("int|" + "|".join(parts))
        facts.interaction_keys.append((x, key))
        numbers += _interaction_numbers(x, key, i, words)
    if facts.interaction_keys:
        facts.claims["interactions"] = interaction_sentence(facts)
    numbers += _config_numbers(inputs)
    numbers += _group_numbers(stats) + _convergence_numbers(stats) + _record_numbers(inputs)
    numbers += _run_numbers(inputs) + _scaling_numbers(inputs)
    for section in stats.secondary:
        numbers += secondary_numbers(section, stats, multi)
    facts.numbers = NumberTable(numbers)
    facts.comparison_keys = cmp_keys
    return facts


def secondary_key(metric: str, *parts: str) -> str:
    """The key of a secondary metric's number: 'sec.exact-match.cell.uniform.value'."""
    return ".".join(["sec", slug(metric), *parts])


def cell_slug(strategy: str, cell: dict, multi: bool) -> str:
    return slug("|".join([strategy, *context_parts(cell)] if multi else [strategy]))


def comparison_slug(c: Comparison, multi: bool) -> str:
    return slug("|".join([c.a, c.b, *context_parts(c.context)] if multi else [c.a, c.b]))


def secondary_numbers(section: MetricStats, stats: StudyStats, multi: bool) -> list[Number]:
    """A secondary metric's numbers: a percent metric (accuracy) printed in % and its differences in
    percentage points, any other in its own unit."""
    metric = get_metric(section.metric)
    percent = metric.transform == "percent"
    decimals = 1 if percent else 4
    j = stats.secondary.index(section)
    src = f"stats.json: secondary[{j}]."

    def num(key: str, value: float | int | str, path: str, kind: NumberKind = "float") -> Number:
        if kind == "float" and percent:  # a fraction shown in % (differences in percentage points)
            return Number(key, 100 * float(value), kind, src + path + " (× 100)", decimals=decimals)
        return Number(key, value, kind, src + path, decimals=decimals)

    def k(*parts: str) -> str:
        return secondary_key(section.metric, *parts)

    out = [
        num(k("family"), section.family_size, "family_size", "int"),
        num(k("margin"), section.margin, "margin"),
    ]
    with_base = [(i, c.base) for i, c in enumerate(section.summaries) if c.base is not None]
    if with_base and len({b for _, b in with_base}) == 1:  # the same base model under every cell
        out.append(num(k("base"), with_base[0][1], f"summaries[{with_base[0][0]}].base"))
    for i, c in enumerate(section.summaries):
        key = k("cell", cell_slug(c.strategy, c.cell, multi))
        out += [
            num(key + ".value", c.mean, f"summaries[{i}].mean"),
            num(key + ".lo", c.bootstrap_ci.low, f"summaries[{i}].bootstrap_ci.low"),
            num(key + ".hi", c.bootstrap_ci.high, f"summaries[{i}].bootstrap_ci.high"),
            num(key + ".seeds", c.n_seeds, f"summaries[{i}].n_seeds", "int"),
        ]
    for i, c in enumerate(section.comparisons):
        key = k("cmp", comparison_slug(c, multi))
        out += [
            num(key + ".diff", c.difference, f"comparisons[{i}].difference"),
            num(key + ".verdict", c.verdict, f"comparisons[{i}].verdict", "text"),
        ]
        if c.difference_ci is not None:
            out += [
                num(key + ".difflo", c.difference_ci.low, f"comparisons[{i}].difference_ci.low"),
                num(key + ".diffhi", c.difference_ci.high, f"comparisons[{i}].difference_ci.high"),
            ]
        if c.p_adjusted is not None:
            out.append(num(key + ".padj", c.p_adjusted, f"comparisons[{i}].p_adjusted", "p"))
    return out


# Numeric hyper-parameters the method section quotes, when every finished run shares them.
CONFIG_NUMBERS: tuple[tuple[str, str, str], ...] = (
    ("cfg.lr", "train.lr", "g"),
    ("cfg.steps", "train.max_steps", "int"),
    ("cfg.epochs", "train.epochs", "g"),
    ("cfg.batch", "train.batch_size", "int"),
    ("cfg.gradaccum", "train.grad_accum", "int"),
    ("cfg.warmup", "train.warmup_steps", "int"),
    ("cfg.warmupratio", "train.warmup_ratio", "g"),
    ("cfg.weightdecay", "train.weight_decay", "g"),
    ("cfg.gradnorm", "train.max_grad_norm", "g"),
    ("cfg.cutoff", "data.cutoff_len", "int"),
    ("cfg.valsize", "data.val_set_size", "int"),
    ("cfg.alpha", "lora.alpha", "g"),
    ("cfg.dropout", "lora.dropout", "g"),
    ("cfg.refrank", "lora.reference_rank", "int"),
)


def config_value(config: object, dotted: str) -> object:
    """`train.lr` of a RunConfig."""
    value = config
    for part in dotted.split("."):
        value = getattr(value, part)
    return value


def shared_config(inputs: StudyInputs, dotted: str) -> object | None:
    """The value of `dotted` if every finished run has the same one, else None."""
    values = {repr(config_value(r.config, dotted)) for r in inputs.done_runs()}
    if len(values) != 1:
        return None
    return config_value(inputs.done_runs()[0].config, dotted)


OPTION_SOURCE = "spec.yaml: config.lora.strategy_options.{opt} (runs of {strategy}; its default when absent)"


def strategy_options(inputs: StudyInputs) -> dict[str, dict[str, object]]:
    """Each finished strategy's options as its runs used them: the run spec's
    `lora.strategy_options` over the registered strategy's defaults (only the spec's for one that is not
    registered here)."""
    from loralab.strategies import available, strategy_class

    registered = set(available())
    out: dict[str, dict[str, object]] = {}
    for run in inputs.done_runs():
        name = run.config.lora.strategy
        if name in out:
            continue
        given = dict(run.config.lora.strategy_options)
        defaults: dict[str, object] = {}
        if name in registered:
            try:
                defaults = strategy_class(name).Options().model_dump(mode="json")
            except Exception:  # an Options class with required fields has no defaults to show
                defaults = {}
        out[name] = {**defaults, **given}
    return out


def option_key(strategy: str, option: str) -> str:
    return f"opt.{slug(strategy)}.{slug(option)}"


def _option_numbers(inputs: StudyInputs) -> list[Number]:
    out, seen = [], set()
    for strategy, options in sorted(strategy_options(inputs).items()):
        for opt, value in sorted(options.items()):
            key = option_key(strategy, opt)
            if isinstance(value, bool) or not isinstance(value, int | float) or key in seen:
                continue
            seen.add(key)
            source = OPTION_SOURCE.format(opt=opt, strategy=strategy)
            out.append(Number(key, value, "g", source))
    return out


def _config_numbers(inputs: StudyInputs) -> list[Number]:
    out = _option_numbers(inputs)
    for key, dotted, kind in CONFIG_NUMBERS:
        value = shared_config(inputs, dotted)
        if value is None or isinstance(value, bool):
            continue
        out.append(Number(key, value, kind, f"spec.yaml: config.{dotted} (all finished runs)"))
    factors = [shared_config(inputs, d) for d in SEEN_FACTORS]
    if all(isinstance(f, int) and not isinstance(f, bool) for f in factors):
        seen = factors[0] * factors[1] * factors[2]  # type: ignore[operator]
        source = " × ".join(f"config.{d}" for d in SEEN_FACTORS)
        out.append(Number("cfg.seen", seen, "int", f"spec.yaml: {source} (all finished runs)"))
    return out


# Training examples each run sees: optimizer steps × batch size × gradient accumulation.
SEEN_FACTORS = ("train.max_steps", "train.batch_size", "train.grad_accum")


def family(stats: StudyStats) -> list[Comparison]:
    """The comparisons with the baseline: the corrected family the verdicts are counted over."""
    return [c for c in stats.comparisons if c.kind == "vs_baseline"]


def _group_numbers(stats: StudyStats) -> list[Number]:
    """Per verdict, the envelope of its comparisons' intervals; the largest difference any interval
    allows; the spread of eval loss over seeds within a cell."""
    src = "stats.json: "
    out, words = [], primary_words(stats)
    with_ci = [c for c in family(stats) if c.difference_ci is not None]
    for verdict in VERDICT_WORDS:
        group = [c for c in with_ci if c.verdict == verdict]
        if group:
            what = f"comparisons[kind=vs_baseline, verdict={verdict}].difference_ci"
            low = min(c.difference_ci.low for c in group)  # type: ignore[union-attr]
            high = max(c.difference_ci.high for c in group)  # type: ignore[union-attr]
            out.append(scaled(words, f"study.{verdict}lo", low, src + what + ".low (min)", decimals=4))
            out.append(scaled(words, f"study.{verdict}hi", high, src + what + ".high (max)", decimals=4))
    if with_ci:
        bound = max(max(abs(c.difference_ci.low), abs(c.difference_ci.high)) for c in with_ci)  # type: ignore[union-attr]
        what = "comparisons[kind=vs_baseline].difference_ci (largest |end|)"
        out.append(scaled(words, "study.bound", bound, src + what, decimals=4))
    sds = [c.sd for c in stats.summaries if c.sd is not None]
    if sds:
        out.append(scaled(words, "study.seedsdlo", min(sds), src + "summaries[].sd (min)", decimals=4))
        out.append(scaled(words, "study.seedsdhi", max(sds), src + "summaries[].sd (max)", decimals=4))
    return out


def _convergence_numbers(stats: StudyStats) -> list[Number]:
    c = stats.convergence
    if c is None:
        return []
    src = "stats.json: convergence."
    out = [
        Number("conv.start", c.loss_start, "float", src + "loss_start", decimals=4),
        Number("conv.end", c.loss_end, "float", src + "loss_end", decimals=4),
        Number("conv.drop", c.drop, "float", src + "drop", decimals=4),
        Number("conv.startstep", c.start_step, "int", src + "start_step"),
        Number("conv.steps", c.total_steps, "int", src + "total_steps"),
        Number("conv.window", c.total_steps - c.start_step, "int", src + "total_steps - start_step"),
        Number("conv.seeds", len(c.seeds), "int", src + "seeds (count)"),
        Number("conv.evals", len(c.eval_steps), "int", src + "eval_steps (count)"),
    ]
    if c.loss_base is not None:
        out.append(Number("conv.base", c.loss_base, "float", src + "loss_base", decimals=4))
    if c.drop_ci is not None:
        out.append(Number("conv.droplo", c.drop_ci.low, "float", src + "drop_ci.low", decimals=4))
        out.append(Number("conv.drophi", c.drop_ci.high, "float", src + "drop_ci.high", decimals=4))
    return out


# What every finished run's eval.json says alike: (key, how to read it from a record, kind, source).
RECORD_NUMBERS: tuple[tuple[str, Callable[[RunRecord], object], NumberKind, str], ...] = (
    (
        "rec.baseparams",
        lambda r: round((r.total_params - r.trainable_params) / 1e6, 1),
        "g",
        "(total_params - trainable_params) / 1e6, rounded to 0.1",
    ),
    ("rec.records", lambda r: r.data.n_records, "int", "data.n_records"),
    ("rec.train", lambda r: r.data.n_train, "int", "data.n_train"),
    ("rec.eval", lambda r: r.data.n_eval, "int", "data.n_eval"),
    ("rec.precision", lambda r: r.precision, "text", "precision"),
    ("rec.evalprecision", lambda r: r.eval_precision, "text", "eval_precision"),
    ("rec.device", lambda r: r.device, "text", "device"),
)


def shared_record(inputs: StudyInputs, read: Callable[[RunRecord], object]) -> object | None:
    """`read(record)` if every finished run has a record and they all agree, else None."""
    records = [r.record for r in inputs.done_runs()]
    if not records or any(r is None for r in records):
        return None
    values = {repr(read(r)) for r in records}  # type: ignore[arg-type]
    return read(records[0]) if len(values) == 1 else None  # type: ignore[arg-type]


def _record_numbers(inputs: StudyInputs) -> list[Number]:
    out = []
    for key, read, kind, field_name in RECORD_NUMBERS:
        value = shared_record(inputs, read)
        if value is not None:
            out.append(Number(key, value, kind, f"eval.json: {field_name} (all finished runs)"))  # type: ignore[arg-type]
    return out


def run_key(run_id: str) -> str:
    return f"run.{slug(run_id)}"


def budgets(inputs: StudyInputs) -> list[str]:
    """The budgets of the finished runs, in natural order (r2 before r16)."""
    return sorted({r.config.lora.budget for r in inputs.done_runs()}, key=lambda b: natural_key([b]))


def join_and(items: Iterable[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    items = list(items)
    return ", ".join(items[:-1]) + (" and " if len(items) > 1 else "") + items[-1]


def budget_scalings(inputs: StudyInputs) -> list[tuple[str, float]]:
    """(budget, α / r_ref) of each budget of the finished runs under the `ratio` α policy, in natural
    order; [] when the study has one budget or another policy (`loralab/strategies/alpha.py`)."""
    from loralab.budget_spec import parse_budget

    lora = {r.config.lora.budget: r.config.lora for r in inputs.done_runs()}
    if len(lora) < 2 or {c.alpha_policy for c in lora.values()} != {"ratio"}:
        return []
    out = []
    for budget in budgets(inputs):
        spec, cfg = parse_budget(budget), lora[budget]
        ref = int(spec.value) if spec.kind == "rank" else cfg.reference_rank
        out.append((budget, cfg.alpha / ref))
    return out


def budget_key(budget: str) -> str:
    return "budget." + slug(budget)


def _scaling_numbers(inputs: StudyInputs) -> list[Number]:
    src = "spec.yaml: config.lora.alpha / r_ref (r_ref: the budget's uniform rank) of the runs at budget "
    return [Number(budget_key(b) + ".scaling", s, "g", src + b) for b, s in budget_scalings(inputs)]


def _run_numbers(inputs: StudyInputs) -> list[Number]:
    """Each finished run's primary metric (eval.json) and its paired difference from the baseline run
    with the same seed (stats.json)."""
    out, words = [], primary_words(inputs.stats)
    name = words.metric.name
    for run in inputs.done_runs():
        value, field = run.record.final_value(name) if run.record is not None else (None, "")
        if value is not None:
            key = run_key(run.run_id)
            out.append(scaled(words, key + ".loss", value, f"{run.run_id}/eval.json: {field}"))
    runs = {r.run_id for r in inputs.done_runs()}
    seen: set[str] = set()
    for i, c in enumerate(inputs.stats.comparisons):
        if c.kind != "vs_baseline":
            continue
        for j, d in enumerate(c.per_seed):
            if d.run_a not in runs or d.run_a in seen:  # a run is in one comparison with its baseline
                continue
            seen.add(d.run_a)
            src = f"stats.json: comparisons[{i}].per_seed[{j}].difference"
            out.append(scaled(words, run_key(d.run_a) + ".diff", d.difference, src, decimals=4))
    return out

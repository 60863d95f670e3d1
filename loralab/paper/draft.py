"""The editable Markdown draft (`<study>/paper/draft.md`), written from the study's facts.

The draft is prose around placeholders: `{{num:KEY}}` (a number from stats.json or the run specs),
`{{claim:KEY}}` (a sentence stating the comparison's verdict with the interval it rests on), `@fig:`/`@tbl:`/
`@sec:` cross-references and `[@key]` citations. `loralab paper build` resolves them; the draft never
holds a typed number, so editing prose cannot desynchronise one. User text (strategy, study and
model names) is Markdown-escaped here, so any character survives into LaTeX and Markdown.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from loralab.analysis.setup import data_name, is_quantised, model_name
from loralab.errors import PaperError
from loralab.paper.escape import md_code, md_escape
from loralab.paper.facts import (
    PaperFacts,
    budget_key,
    budget_scalings,
    budgets,
    family,
    join_and,
    option_key,
    primary_words,
    shared_config,
    shared_record,
    strategy_options,
)
from loralab.paper.inputs import StudyInputs
from loralab.paper.narrative import (
    SCHEDULES_TO_ZERO,
    abstract_findings,
    conclusion,
    counted,
    discussion,
    setup_line,
)
from loralab.paper.results import appendix, results_section
from loralab.results.allocation import StrategyRecord
from loralab.store import atomic_write_text

DRAFT_NAME = "draft.md"
STAMP_NAME = ".draft.sha256"  # hash of the draft as generated: a different file was edited

# Strategy names whose paper the related work already cites, to cite them again in the method.
STRATEGY_CITES = {"uniform": "hu2022lora", "adalora": "zhang2023adalora"}
MODEL_CITES = {"dialogpt": "zhang2020dialogpt", "smollm2": "benallal2025smollm2"}


def _n(key: str) -> str:
    return f"{{{{num:{key}}}}}"


_POWER = re.compile(r"\^([A-Za-z0-9_.]+|\{[^{}]*\})")
_PROPTO = re.compile(r"(?<=\s)~(?=\s)")


def _formula_text(text: str) -> str:
    """Escape prose but typeset a formula's marks as math: `x^temperature` -> `x$^{\\mathrm{temperature}}$`
    and a spaced `~` ('proportional to') -> `$\\propto$`, instead of a literal circumflex or tilde."""
    out, pos = [], 0
    marks = sorted([*_POWER.finditer(text), *_PROPTO.finditer(text)], key=lambda m: m.start())
    for m in marks:
        out.append(md_escape(text[pos : m.start()]))
        if m.group(0) == "~":
            out.append("$\\propto$")
        else:
            exp = m.group(1).strip("{}")
            word = exp.replace("_", "\\_")
            out.append(f"$^{{{word}}}$" if len(exp) == 1 else f"$^{{\\mathrm{{{word}}}}}$")
        pos = m.end()
    out.append(md_escape(text[pos:]))
    return "".join(out)


def _md_code_aware(text: str, *, formulas: bool = False) -> str:
    """Escape registry text but keep its `code` spans (descriptions use them for option names);
    `formulas`: typeset a description's powers and '~' as math (never for user names)."""
    esc = _formula_text if formulas else md_escape
    parts = text.split("`")
    if len(parts) % 2 == 0:  # unbalanced backticks: escape everything
        return esc(text)
    return "".join(esc(p) if i % 2 == 0 else f"`{p}`" for i, p in enumerate(parts))


def _yaml_str(text: str) -> str:
    """A YAML single-quoted scalar (backslashes are literal there; quotes are doubled)."""
    return "'" + text.replace("'", "''") + "'"


def _model_cite(name: str) -> str:
    low = name.lower()
    keys = [v for k, v in MODEL_CITES.items() if k in low]
    return f" [@{keys[0]}]" if keys else ""


PLACEHOLDER_AUTHOR = "Anonymous"  # printed while the study file names no author; build and check warn


def paper_authors(inputs: StudyInputs) -> list[tuple[str, str | None]]:
    """(name, affiliation) of each author from the study file's `paper.authors`; the placeholder when none."""
    out = []
    for a in inputs.paper_meta.get("authors") or []:
        if isinstance(a, dict) and str(a.get("name") or "").strip():
            aff = a.get("affiliation")
            out.append((str(a["name"]).strip(), str(aff).strip() if aff else None))
    return out or [(PLACEHOLDER_AUTHOR, None)]


def placeholder_warning(inputs: StudyInputs) -> str | None:
    """A one-line warning while the paper's author is still the placeholder, else None."""
    if paper_authors(inputs) != [(PLACEHOLDER_AUTHOR, None)]:
        return None
    return (
        f"warning: the author is the placeholder {PLACEHOLDER_AUTHOR!r}; set paper.authors"
        " ({name, affiliation}) in the study file"
    )


def _front_matter(inputs: StudyInputs, facts: PaperFacts) -> str:
    stats = inputs.stats
    given = inputs.paper_meta.get("title")
    title = md_escape(
        str(given).strip()
        if given and str(given).strip()
        else f"Where should the rank go? An equal-budget study of LoRA rank allocation ({stats.study})"
    )
    authors = paper_authors(inputs)
    author_yaml = "".join(
        f"  - name: {_yaml_str(md_escape(n))}\n"
        + (f"    affiliation: {_yaml_str(md_escape(a))}\n" if a else "")
        for n, a in authors
    )
    pdfauthor = md_escape(", ".join(n for n, _ in authors))
    base = md_escape(stats.baseline)
    model = _shared_text(inputs, "model.name")
    model = model_name(model) if model else None
    source = _shared_text(inputs, "data.source")
    line = setup_line(inputs, facts, model, data_name(source) if source else None)
    names = sorted({c.strategy for c in stats.summaries})
    budget = _shared_text(inputs, "lora.budget")
    spread = _budget_words(facts)
    study_budgets = budgets(inputs)
    if budget:
        at_budget = f"an equal trainable-parameter budget ({md_code(budget)}{spread})"
    elif len(study_budgets) > 1:
        each = (
            f"; within each, recorded counts within {_n('study.budgetspread')}% of each other"
            if spread
            else ""
        )
        at_budget = f"equal trainable-parameter budgets ({join_and(md_code(b) for b in study_budgets)}{each})"
    else:
        at_budget = "an equal trainable-parameter budget" + (f" ({spread[2:]})" if spread else "")
    if len(names) > 1:
        compared = (
            f"We compare {_n('study.strategies')} rank-allocation strategies at {at_budget}, {line}; every"
            f" strategy is paired by seed with the {base} baseline."
        )
    else:
        compared = f"We train one rank-allocation strategy ({md_escape(names[0])}), {line}."
    abstract = (
        "How should a fixed budget of trainable LoRA parameters be spread over the layers and modules of"
        f" a language model? {compared} {abstract_findings(inputs, facts)} All numbers, tables and"
        " figures are generated from the results store."
    )
    return (
        "---\n"
        f"title: {_yaml_str(title)}\n"
        "author:\n"
        f"{author_yaml}"
        f"pdfauthor: {_yaml_str(pdfauthor)}\n"
        "abstract: |\n"
        f"  {abstract}\n"
        "---\n\n"
        "<!-- Written by `loralab paper draft`; edit freely. The double-brace placeholders (num: a\n"
        "     number, claim: a verdict sentence) are filled in from the study's stats.json by\n"
        "     `loralab paper build`: never type a number here. -->\n"
    )


def _shared_text(inputs: StudyInputs, dotted: str) -> str | None:
    value = shared_config(inputs, dotted)
    return None if value is None else str(value)


def _mask_kind(inputs: StudyInputs) -> str | None:
    """'fast' or 'torch': the dropout masks every run's record says ran (`setup`, read back from the
    model), else, for runs recorded before `setup` existed, `lora.dropout_rng`; None where they differ."""
    records = [r.record for r in inputs.done_runs()]
    recorded = [r is not None and r.setup is not None for r in records]
    if records and all(recorded):
        kind = shared_record(inputs, lambda r: "fast" if r.setup.fast_mask_modules else "torch")  # type: ignore[union-attr]
        return None if kind is None else str(kind)
    return None if any(recorded) else _shared_text(inputs, "lora.dropout_rng")


def _introduction(inputs: StudyInputs) -> str:
    return (
        "# Introduction {#sec:intro}\n\n"
        "Low-rank adaptation (LoRA) [@hu2022lora] fine-tunes a frozen language model through small"
        " low-rank updates of its linear maps, usually with the same rank everywhere. Whether that"
        " uniform allocation is a good use of a fixed parameter budget is an open question: methods such"
        " as AdaLoRA [@zhang2023adalora] move rank during training, and simple static rules (more rank"
        " to attention, to MLPs, to early or late layers) are easy to try but rarely compared fairly."
        " This paper compares such strategies at an *equal* budget, with several seeds per strategy and"
        " statistics that say what they can and cannot support. @sec:method describes the strategies"
        " and the training procedure, @sec:setup the statistical protocol, and @sec:results the results;"
        " @sec:limitations lists what the study cannot tell.\n"
    )


def _related_work(inputs: StudyInputs) -> str:
    """Adapters, the rank-allocation literature placed against this study, and the statistics it follows."""
    baseline = inputs.stats.baseline
    reference = "the uniform one" if baseline == "uniform" else f"the baseline, **{md_escape(baseline)}**"
    if "adalora" in {c.strategy for c in inputs.stats.summaries}:
        adaptive_here = " Of the adaptive methods, only AdaLoRA is among the strategies compared here."
    else:
        adaptive_here = (
            " None of the adaptive methods is among the strategies compared here, so the results say"
            " nothing about how they would fare at the same budget."
        )
    return (
        "# Related work {#sec:related}\n\n"
        "**Low-rank adapters.** LoRA [@hu2022lora] adds trainable rank-$r$ products, scaled by"
        " $\\alpha/r$, to frozen weights; QLoRA [@dettmers2023qlora] trains them on a quantised base"
        " model. We use the PEFT library [@mangrulkar2022peft] on top of Transformers"
        " [@wolf2020transformers].\n\n"
        "**Rank allocation.** Several methods let the rank differ between modules and decide it during"
        " training. AdaLoRA [@zhang2023adalora] writes each update in a singular-value form and, under a"
        " global budget, prunes the singular values with the lowest importance scores (a smoothed"
        " sensitivity of the loss), so that the budget ends up in the weight matrices whose updates matter"
        " most. ALoRA [@liu2024alora] starts from equal ranks that already meet the budget, scores each"
        " rank by the effect of ablating it, and prunes redundant or harmful ranks to give their budget to"
        " modules that kept all of theirs. SoRA [@ding2023sora] starts every module at a larger rank with"
        " a gate per rank, trained with a sparsity-inducing proximal-gradient step; ranks whose gates"
        " reach zero are removed after training. IncreLoRA [@zhang2023increlora] goes the other way: it"
        " adds rank during training to the modules with the highest importance scores, so a module's final"
        " rank is not capped by its initial one. AutoLoRA [@zhang2024autolora] attaches a selection"
        " variable to each rank-one component, learns these variables by meta-learning on validation data,"
        " thresholds them to obtain each layer's rank and then retrains with those ranks. DyLoRA"
        " [@valipour2023dylora] addresses the choice of a single rank instead: it trains an adapter over a"
        " range of ranks at once, so that it works at any rank in the range without a search. rsLoRA"
        " [@kalajdzievski2023rslora] allocates nothing but shows that the $1/r$ scaling slows learning at"
        " large ranks and replaces it by $1/\\sqrt{r}$; once ranks differ between modules, this choice of"
        " scaling (the runs' $\\alpha$ policy) changes how strongly each module's update acts. The study"
        " here asks a narrower question than these methods: whether a static allocation, fixed for every"
        f" module before training begins, does better than {reference} at the same"
        " trainable-parameter budget." + adaptive_here + "\n\n"
        "**Comparing methods honestly.** Training seeds are a large source of variance in deep-learning"
        " benchmarks [@bouthillier2021variance]; few-run results call for interval estimates rather than"
        " point scores [@agarwal2021precipice] and for tests suited to the data"
        " [@dror2018hitchhiker]. We report bootstrap intervals [@efron1979bootstrap] for each strategy's"
        f" {primary_words(inputs.stats).short}, resampled hierarchically over seeds and then examples"
        " [@saravanan2020hierarchical];"
        " intervals over seeds for the paired differences, Bonferroni-adjusted so that they hold"
        " together [@dunn1961multiple]; and effect sizes for paired designs [@lakens2013effect].\n"
    )


def _option_value(strategy: str, option: str, value: object, have: set[str]) -> str:
    """An option's value: a number through its macro, other values as code."""
    key = option_key(strategy, option)
    if key in have:
        return _n(key)
    return md_code("none" if value is None else str(value).lower() if isinstance(value, bool) else str(value))


def _described_strategies(inputs: StudyInputs) -> dict[str, StrategyRecord | None]:
    """Each strategy of the study as its finished runs recorded it (allocation.json; the first run by
    id that did); one whose runs were recorded before that as the installed code describes it; None
    where it is not registered here either."""
    from loralab.strategies import available, strategy_class

    described: dict[str, StrategyRecord | None] = {}
    for run in inputs.done_runs():
        if run.strategy is not None:
            described.setdefault(run.config.lora.strategy, run.strategy)
    registered = set(available())
    for name in {c.strategy for c in inputs.stats.summaries} - set(described):
        cls = strategy_class(name) if name in registered else None
        described[name] = cls and StrategyRecord(
            name=name,
            description=cls.description,
            kind="dynamic" if cls.dynamic else "static",
            needs=tuple(sorted(cls.needs)),
        )
    return described


def _strategy_list(inputs: StudyInputs, facts: PaperFacts) -> str:
    described = _described_strategies(inputs)
    used = strategy_options(inputs)
    have = {n.key for n in facts.numbers}
    lines = []
    for name in sorted({c.strategy for c in inputs.stats.summaries}):
        strategy = described[name]
        if strategy is not None:
            desc = _md_code_aware(strategy.description, formulas=True)
        else:
            desc = "(not registered in this installation; see the run specs)"
        cite = f" [@{STRATEGY_CITES[name]}]" if name in STRATEGY_CITES else ""
        options = used.get(name, {})
        opts = ", ".join(
            f"{md_code(k)} = {_option_value(name, k, v, have)}" for k, v in sorted(options.items())
        )
        opt_text = f" Options: {opts}." if opts else ""
        base = " (baseline)" if name == inputs.stats.baseline else ""
        if strategy is not None and strategy.needs:
            needs = " and ".join(sorted(strategy.needs))
            opt_text += f" Its signals ({needs}) are measured once and shared by every seed."
        lines.append(f"- **{md_escape(name)}**{base}: {desc.rstrip('.')}{cite}.{opt_text}")
    return "\n".join(lines)


def _method(inputs: StudyInputs, facts: PaperFacts) -> str:
    have = {n.key for n in facts.numbers}
    model = model_name(_shared_text(inputs, "model.name") or "the models listed in the run specs")
    data = _shared_text(inputs, "data.source") or "the data sources listed in the run specs"
    budget = _shared_text(inputs, "lora.budget")
    sched = _shared_text(inputs, "train.schedule")

    def hp(key: str, words: str) -> str:
        return f"{words} {_n(key)}" if key in have else ""

    hps = [
        hp("cfg.steps", "optimizer steps"),
        hp("cfg.lr", "peak learning rate"),
        hp("cfg.batch", "batch size"),
        hp("cfg.gradaccum", "gradient accumulation"),
        hp("cfg.warmup", "warm-up steps"),
        hp("cfg.weightdecay", "weight decay"),
        hp("cfg.gradnorm", "gradient clipping at norm"),
        hp("cfg.cutoff", "maximum sequence length"),
        hp("cfg.alpha", "LoRA alpha"),
        hp("cfg.dropout", "LoRA dropout"),
    ]
    if hps[-1] and shared_config(inputs, "lora.dropout") and _mask_kind(inputs) == "fast":
        hps[-1] += " (masks from 16 random bits per element, so $p$ is rounded to a multiple of $2^{-16}$)"
    hp_text = "; ".join(h for h in hps if h)
    budget_text = (
        f"The budget is {md_code(budget)}"
        if budget
        else "The budget varies across the study (see the tables)"
    )
    sched_text = f" with a {md_escape(sched)} schedule" if sched else ""
    setup = _setup_paragraph(inputs, facts)
    setup_text = f"\n{setup}\n" if setup else ""
    return (
        "# Method {#sec:method}\n\n"
        "## Rank-allocation strategies {#sec:strategies}\n\n"
        "A strategy decides the LoRA rank of every adapted linear map of the model. The study compares:\n\n"
        f"{_strategy_list(inputs, facts)}\n\n"
        "## Equal budgets {#sec:budget}\n\n"
        "Every strategy receives the same budget of trainable parameters: the cost of the uniform"
        " allocation at the reference rank, $\\sum_m r\\,(d_\\mathrm{in}^{(m)} + d_\\mathrm{out}^{(m)})$"
        f" over the adapted modules $m$. {budget_text}; a strategy's integer ranks never cost more than"
        " the budget and stay close to it, and each run records its exact trainable-parameter count"
        " (@tbl:cells).\n\n"
        "## Training procedure {#sec:training}\n\n"
        f"All runs fine-tune {md_escape(model)}{_model_cite(model)} on {md_escape(data_name(data))}"
        " (instruction data in the Alpaca format [@taori2023alpaca]) with one training procedure, AdamW"
        f"{sched_text}, the loss on response tokens only."
        f" Shared hyper-parameters: {hp_text or 'see the run specs'}."
        f" Each strategy is trained with {counted(facts, 'study.seeds', 'seed')}; a seed fixes data order,"
        " adapter initialisation and dropout, and runs with the same seed see the same examples in the same"
        " order.\n"
        f"{setup_text}"
    )


ALPHA_POLICY_WORDS = {
    "ratio": "every module's $\\alpha$ grows with its rank, so that each keeps the baseline's scaling"
    " $\\alpha/r$ at the reference rank",
    "constant": "every module has the same $\\alpha$, so a module's scaling $\\alpha/r$ falls as its"
    " rank grows",
    "rslora": "every module has the same $\\alpha$ and the rank-stabilised scaling $\\alpha/\\sqrt{r}$"
    " [@kalajdzievski2023rslora]",
}


def _setup_paragraph(inputs: StudyInputs, facts: PaperFacts) -> str:
    """Model, data, training examples seen, eval set size, the base model's loss and the α policy."""
    have = {n.key for n in facts.numbers}
    sentences = []
    model = _shared_text(inputs, "model.name")
    model = model_name(model) if model else None
    source = _shared_text(inputs, "data.source")
    if model:
        quant = (
            ", loaded from a quantised GGUF file (Q4_1) and de-quantised to full precision for training"
            if is_quantised(model)
            else ""
        )
        params = f" with {_n('rec.baseparams')} million parameters" if "rec.baseparams" in have else ""
        sentences.append(f"The base model is {md_code(model)}{params}{quant}.")
    if source:
        sizes = (
            f": {_n('rec.records')} records, of which {_n('rec.train')} are for training and"
            f" {_n('rec.eval')} held out for evaluation"
            if {"rec.records", "rec.train", "rec.eval"} <= have
            else ""
        )
        cut = (
            f"; prompts use the Alpaca template and examples are cut at {_n('cfg.cutoff')} tokens"
            if "cfg.cutoff" in have
            else ""
        )
        sentences.append(f"The data come from {md_code(data_name(source))}{sizes}{cut}.")
    if {"cfg.seen", "cfg.steps", "cfg.batch", "cfg.gradaccum"} <= have:
        sentences.append(
            f"Each run sees {_n('cfg.seen')} training examples: {_n('cfg.steps')} optimizer steps"
            f" $\\times$ batch size {_n('cfg.batch')} $\\times$ gradient accumulation {_n('cfg.gradaccum')}."
        )
    cells = facts.cell_keys
    if cells and len({c.n_examples for c, _ in cells}) == 1:
        c0, k0 = cells[0]
        sentences.append(f"The eval set holds {_n(k0 + '.examples')} examples.")
        if c0.base is not None and len({c.base for c, _ in cells}) == 1:
            words = primary_words(inputs.stats)
            sentences.append(
                f"On it the base model without adapters has an {words.name} of {_n(k0 + '.base')}"
                f"{words.value_unit}."
            )
    precision = _precision_words(inputs, have)
    if precision:
        sentences.append(precision)
    targets = shared_config(inputs, "lora.targets")
    if targets:
        words = [TARGET_WORDS.get(str(t), md_code(str(t))) for t in targets]
        sentences.append(f"Adapters sit on the {' and the '.join(words)} of every layer.")
    policy = _shared_text(inputs, "lora.alpha_policy")
    if policy in ALPHA_POLICY_WORDS:
        sentences.append(f"LoRA $\\alpha$ policy {md_code(policy)}: {ALPHA_POLICY_WORDS[policy]}.")
    return " ".join(sentences)


TARGET_WORDS = {
    "attn": "attention projections (query, key, value and output)",
    "mlp": "MLP projections",
}
PRECISION_WORDS = {"fp32": "32-bit floats", "bf16": "bfloat16", "fp16": "16-bit floats"}


def _precision_words(inputs: StudyInputs, have: set[str]) -> str:
    """Training and eval precision as the records say they ran, and the dropout masks."""
    if "rec.precision" not in have:
        return ""

    def words(read) -> str:
        return PRECISION_WORDS.get(str(shared_record(inputs, read)), "the recorded precision")

    train, evaluation = words(lambda r: r.precision), words(lambda r: r.eval_precision)
    if "rec.evalprecision" in have and evaluation == train:
        text = f"Training and evaluation ran in {train}"
    elif "rec.evalprecision" in have:
        text = f"Training ran in {train} and evaluation in {evaluation}"
    else:
        text = f"Training ran in {train}"
    device = shared_record(inputs, lambda r: r.device)
    if device is not None:
        text += f", on the {'CPU' if str(device) == 'cpu' else md_code(str(device))}"
    masks = _mask_kind(inputs)
    if masks and shared_config(inputs, "lora.dropout"):
        text += (
            "; dropout masks came from torch's generator"
            if masks == "torch"
            else "; dropout masks came from 16 random bits per element"
        )
    return text + "."


def _budget_words(facts: PaperFacts) -> str:
    """'; recorded counts within 0.016 % of each other' where the study records them."""
    if "study.budgetspread" not in {n.key for n in facts.numbers}:
        return ""
    return f"; recorded counts within {_n('study.budgetspread')}% of each other"


def _outcome(inputs: StudyInputs) -> tuple[str, str]:
    """The first sentence of the setup (what each run is measured by) and the sentence on effects, in
    the primary metric's words."""
    words = primary_words(inputs.stats)
    if words.is_loss:
        return (
            "The outcome is each run's token-weighted eval loss (nats per token) on a held-out split shared"
            " by all runs.",
            " Effects are reported as the mean paired loss difference with its"
            " interval, the perplexity ratio and, with three or more seeds, Hedges' $g_z$",
        )
    metric = words.metric
    what = metric.description[:1].lower() + metric.description[1:].rstrip(".")
    unit = "as a percentage" if words.percent else f"in {metric.unit}"
    ratio = f", the {words.ratio_name}" if words.ratio else ""
    return (
        f"The outcome is each run's {words.name} ({md_escape(what)}; {metric.direction} is better),"
        f" shown {unit}, on a held-out split shared by all runs.",
        f" Effects are reported as the mean paired difference in {words.diff_unit} with its"
        f" interval{ratio} and, with three or more seeds, Hedges' $g_z$",
    )


def _setup(inputs: StudyInputs) -> str:
    s = inputs.stats.settings
    words = primary_words(inputs.stats)
    outcome, effects = _outcome(inputs)
    looks = f" and over the {_n('study.looks')} looks of the sequential design" if s.looks > 1 else ""
    return (
        "# Experimental setup {#sec:setup}\n\n"
        f"{outcome} A cell is one strategy in one context (model, budget and any other varied field);"
        f" its {words.short} is the mean over seeds, with a two-level bootstrap interval"
        f" ({_n('study.resamples')} resamples over seeds, then examples) at {_n('study.confidence')}%"
        " confidence. Every strategy is compared with the baseline in its context, paired by seed. The"
        " unit of inference is the training seed: each comparison rests on the per-seed differences of"
        f" {words.name}, and its interval is a $t$-interval of their mean that covers a new training seed on"
        f" this eval set. The {_n('study.family')} comparisons with the baseline form one family; each"
        f" interval has confidence $1-\\alpha/m$ (Bonferroni over the $m$ comparisons{looks}), so that"
        f" all of them hold together at {_n('study.simconf')}% [@dunn1961multiple]. Each comparison gets one"
        " of four verdicts read off its interval: *better* or *worse* when it excludes zero, *equivalent*"
        f" when it lies inside $\\pm\\delta$ with $\\delta$ = {_n('study.margin')} {words.diff_unit} (two"
        " one-sided tests [@lakens2018equivalence]), and *unresolved* otherwise. An example-level"
        " permutation test over the eval examples is reported as a description of these trained adapters"
        f" and never decides a verdict.{effects}"
        " [@lakens2013effect].\n"
    )


def _limitations(inputs: StudyInputs, facts: PaperFacts) -> str:
    stats = inputs.stats
    items = []
    n_seeds = len({n for c in stats.summaries for n in c.seeds})
    if any(c.verdict == "unresolved" for c in family(stats)):
        items.append(
            f"Each strategy has {_n('study.seeds')} seeds; with few seeds the $t$-intervals over seeds are"
            " wide, and some comparisons stay unresolved."
        )
    elif 1 < n_seeds < 5:
        items.append(
            f"Each strategy has {_n('study.seeds')} seeds: the intervals rest on few degrees of freedom,"
            " and the seed spread they use is itself uncertain."
        )
    conv = stats.convergence
    if conv is not None and conv.still_falling:
        delta = "$\\delta$" if primary_words(stats).is_loss else "the eval loss's $\\delta$"
        items.append(
            f"Training had not converged: the baseline's eval loss still fell by more than {delta} over"
            " the last quarter of training (@sec:discussion), so the verdicts hold for this training"
            " length only."
        )
    elif conv is None:
        items.append(
            "Convergence was not measured: no run evaluated during training, so the verdicts hold for"
            " this training length only."
        )
    elif shared_config(inputs, "train.schedule") in SCHEDULES_TO_ZERO:
        items.append(
            "The study trains with one schedule length; its eval curve flattened as the learning rate"
            " decayed to zero, which does not show that longer training would leave the differences"
            " unchanged."
        )
    for cell, key in facts.cell_keys:  # dynamic strategies: more parameters during training than at the end
        peak, final = cell.peak_trainable_params, cell.trainable_params
        if peak is not None and final is not None and peak > final * 1.001:
            items.append(
                f"{_md_code_aware(cell.label)} changes its ranks during training: its trainable parameters"
                f" peak at {_n(key + '.peak')} before they are cut to {_n(key + '.params')}; only the"
                " final ranks are held to the budget."
            )
    models = {r.config.model.name for r in inputs.done_runs()}
    quantised = sorted(m for m in models if is_quantised(m))
    if quantised:
        names = ", ".join(md_code(model_name(m)) for m in quantised)
        items.append(
            f"The base model ({names}) is loaded from a quantised GGUF file"
            + (" (Q4_1)" if any(m.lower() == "smollm2-135m" for m in quantised) else "")
            + " and de-quantised for training: its weights are not the original full-precision ones,"
            " and results may differ for the unquantised model."
        )
    shared = _signal_strategies(inputs)
    if shared:
        names = ", ".join(f"**{md_escape(n)}**" for n in shared)
        items.append(
            f"The data-driven strategies ({names}) allocate from signals measured once on the base model"
            " and shared by every seed (gradient importance from the first training batches in their"
            " fixed order, weight spectra from the pretrained weights; neither depends on the seed): the"
            " seeds vary the training, not the allocation, so the intervals over seeds do not cover how"
            " the allocation would vary with the batches the signals are measured on."
        )
    if len({r.config.model.name for r in inputs.done_runs()}) <= 1:
        items.append("The study uses a single base model; the results may not transfer to other models.")
    if len({r.config.data.source for r in inputs.done_runs()}) <= 1:
        items.append(
            "The study uses a single data set and reports eval loss only, not downstream tasks."
            if primary_words(stats).is_loss
            else "The study uses a single data set; the results may not transfer to other data or tasks."
        )
    items += _scaling_limitation(inputs)
    if not stats.complete:
        items.append(
            "Not every planned run finished: the analysis used"
            f" {_n('study.done')} of {_n('study.planned')} planned runs."
        )
    return "# Limitations {#sec:limitations}\n\n" + "\n".join(f"- {i}" for i in items) + "\n"


def _scaling_limitation(inputs: StudyInputs) -> list[str]:
    """Across budgets under the `ratio` α policy, the scaling α/r_ref differs too: say by how much."""
    scalings = budget_scalings(inputs)
    if not scalings:
        return []
    per = join_and(f"{{{{num:{budget_key(b)}.scaling}}}} at {md_code(b)}" for b, _ in scalings)
    pareto = " (@fig:pareto)" if "pareto" in inputs.stats.artifacts.figures else ""
    return [
        "Budgets differ in more than their parameter count: under the `ratio` $\\alpha$ policy every"
        f" module's update is scaled by $\\alpha/r_\\mathrm{{ref}}$, with $r_\\mathrm{{ref}}$ the"
        f" budget's uniform rank, which is {per}. A comparison of budgets{pareto} confounds the number of"
        " trainable parameters with the adapters' effective step size; the strategies are compared"
        " within a budget, where it is the same for all of them."
    ]


def _signal_strategies(inputs: StudyInputs) -> list[str]:
    """Finished strategies that allocate from measured signals (gradient importance, spectra), as their
    runs recorded them (the installed code only for runs recorded before strategies were)."""
    described = _described_strategies(inputs)
    names = sorted({r.config.lora.strategy for r in inputs.done_runs()})
    return [n for n in names if (d := described.get(n)) is not None and d.needs]


_HASH = re.compile(r"^([0-9a-f]{7})[0-9a-f]{33}\b")


def short_commit(commit: str) -> str:
    """A full commit hash shortened to 7 characters, keeping any suffix (`382d6e4+dirty`), so that a
    list of them breaks between lines instead of running into the margin."""
    return _HASH.sub(r"\1", commit)


def _reproducibility(inputs: StudyInputs, facts: PaperFacts) -> str:
    runs = inputs.done_runs()
    commits = sorted(
        {short_commit(str(r.provenance.get("git_commit"))) for r in runs if r.provenance.get("git_commit")}
    )
    versions: dict[str, set[str]] = {}
    hardware: set[str] = set()
    for r in runs:
        for pkg, v in (r.provenance.get("packages") or {}).items():
            if v:
                versions.setdefault(pkg, set()).add(str(v))
        hw = r.provenance.get("hardware") or {}
        hardware.add(str(hw.get("gpu") or hw.get("cpu") or "unknown hardware"))
    ver = ", ".join(f"{md_escape(p)} {md_escape('/'.join(sorted(v)))}" for p, v in sorted(versions.items()))
    runs_ref = " (@tbl:runs lists them)" if any(r.record is not None for r in runs) else ""
    return (
        "# Reproducibility {#sec:reproducibility}\n\n"
        f"The study {md_code(inputs.stats.study)} holds {counted(facts, 'study.runs', 'run')}, of which"
        f" {_n('study.done')} finished and {'was' if inputs.stats.n_done == 1 else 'were'}"
        f" analysed{runs_ref}. Each run directory keeps its"
        " resolved config (spec.yaml), metrics, allocation and per-example eval losses; `loralab analyze`"
        " recomputes every statistic from them with a fixed seed, and `loralab paper build` regenerates"
        " this paper. "
        + (
            f"Code: loralab commit {', '.join('`' + md_escape(c) + '`' for c in commits)}. "
            if commits
            else ""
        )
        + (f"Packages: {ver}. " if ver else "")
        + (f"Hardware: {md_escape('; '.join(sorted(hardware)))}." if hardware else "")
        + "\n"
    )


def render_draft(inputs: StudyInputs, facts: PaperFacts) -> str:
    """The full draft Markdown for a study."""
    parts = [
        _front_matter(inputs, facts),
        _introduction(inputs),
        _related_work(inputs),
        _method(inputs, facts),
        _setup(inputs),
        results_section(inputs, facts),
        discussion(inputs, facts),
        _limitations(inputs, facts),
        conclusion(inputs, facts),
        _reproducibility(inputs, facts),
        appendix(inputs, facts),
    ]
    return "\n".join(parts)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def write_draft(inputs: StudyInputs, facts: PaperFacts, *, force: bool = False) -> Path:
    """Write `paper/draft.md`; an edited draft is refused (PaperError) unless `force`."""
    path = inputs.paper_dir / DRAFT_NAME
    stamp = inputs.paper_dir / STAMP_NAME
    text = render_draft(inputs, facts)
    if path.exists() and not force:
        current = path.read_text()
        generated = stamp.read_text().strip() if stamp.exists() else None
        if _digest(current) != generated:
            raise PaperError(
                f"{path} has been edited since it was generated; keep it, or rerun with --force to"
                " overwrite it"
            )
    atomic_write_text(path, text)
    atomic_write_text(stamp, _digest(text) + "\n")
    return path


def draft_edited(inputs: StudyInputs) -> bool:
    """True if draft.md exists and differs from what loralab last generated."""
    path = inputs.paper_dir / DRAFT_NAME
    stamp = inputs.paper_dir / STAMP_NAME
    if not path.exists():
        return False
    generated = stamp.read_text().strip() if stamp.exists() else None
    return _digest(path.read_text()) != generated

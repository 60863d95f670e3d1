"""The typed `stats.json` that `loralab analyze` writes and the paper reads: what a study showed.

Conventions used by every field:
- a *metric* (`loralab/results/metric.py`) is aggregated per run over the eval examples: Σ value /
  Σ weight. The primary metric (default `eval_loss`, a run's token-weighted eval loss, Σ NLL / Σ
  tokens in nats/token) fills the top-level `summaries` and `comparisons`; every other metric the
  study analyses (e.g. `exact_match`, a fraction) has the same fields in `secondary`, as its own
  family. A cell's *value* is the mean of its seeds' values; *shown* is that value as the metric
  displays it (perplexity, a percentage).
- a *difference* is `value(a) - value(b)` in the metric's unit, with `b` the baseline (or the second
  strategy named in `loralab compare`): for a lower-is-better metric (loss) **negative means `a` is
  better**, for a higher-is-better one (accuracy) positive does. The *effect* is the difference as
  shown: the perplexity ratio `exp(difference)` for the loss, percentage points for accuracy.
- a *cell* is one value of every varied config field except the seed; a comparison's *context* is
  a cell without the strategy (same model, budget and other fields for both arms).
- a *verdict* (better, worse, equivalent, unresolved) rests on one interval only: the simultaneous
  t-interval of the mean per-seed difference (`difference_ci`), at `settings.confidence` for the
  whole family and every look of the design (Bonferroni; docs/analysis.md, "Verdicts"). Its
  population is new training seeds on this eval set.
- other intervals (per-cell loss) are two-sided at `settings.confidence`.

`schema_version` increases when a field changes meaning or is removed; additions keep the version.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

SCHEMA_VERSION = 3  # 3: metric-generic field names, `metric` and `secondary`; 2 is read

Scalar = str | int | float | bool | None
TestName = Literal["seed_t", "seed_sign_flip", "example_permutation"]
Correction = Literal["bonferroni"]
Verdict = Literal["better", "worse", "equivalent", "unresolved"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Interval(_Frozen):
    """A two-sided interval."""

    low: float = Field(description="Lower end.")
    high: float = Field(description="Upper end.")
    method: str = Field(description="How it was computed, e.g. 't over seeds' or 'two-level bootstrap'.")
    confidence: float | None = Field(None, description="Its own coverage level (None: settings.confidence).")


class Settings(_Frozen):
    """Everything that fixes the numbers: a re-run with the same settings gives the same bytes."""

    confidence: float = Field(0.95, gt=0, lt=1, description="Confidence level of every interval.")
    n_resamples: int = Field(10_000, ge=100, description="Bootstrap replicates (and example permutations).")
    seed: int = Field(0, description="Seed of every resampling; the same seed gives identical output.")
    correction: Correction = Field(
        "bonferroni",
        description="Multiplicity correction of the verdicts: Bonferroni over the family and the looks, the"
        " one correction whose simultaneous intervals agree with its tests (docs/analysis.md).",
    )
    alpha: float = Field(
        0.05, gt=0, lt=1, description="Family-wise error of the verdicts, over every comparison and look."
    )
    equivalence_margin: str | None = Field(
        None,
        description="Smallest effect of interest δ: 'P%' (a perplexity ratio within 1 ± P%) or nats/token"
        " ('0.01'). None: the study file's analysis.equivalence_margin, else 1%.",
    )
    looks: int = Field(
        1, ge=1, description="Looks of the design at the data (an adaptive study's; 1 for a fixed one)."
    )
    power: float = Field(
        0.8, gt=0, lt=1, description="Power that a comparison's `seeds_for_power` plans a next study for."
    )


class TestResult(_Frozen):
    """One hypothesis test of 'no difference' between two arms, labelled with what it answers."""

    name: TestName = Field(description="seed_t | seed_sign_flip | example_permutation.")
    level: Literal["seed", "example"] = Field(
        description="Unit of inference: training seeds or eval examples."
    )
    answers: str = Field(description="The question this p-value answers, in words.")
    statistic: float | None = Field(description="Test statistic (t, or the mean difference); None if n/a.")
    p_value: float | None = Field(
        description="Two-sided p-value; None when the test cannot run (n too small)."
    )
    n: int = Field(description="Units the test used (seeds or eval examples).")
    exact: bool = Field(description="True if every permutation was enumerated (else Monte Carlo).")


class SeedDifference(_Frozen):
    """One seed's paired result: both arms trained with this seed, evaluated on the same examples."""

    seed: int = Field(description="train.seed of both runs.")
    run_a: str = Field(description="Run id of arm a.")
    run_b: str = Field(description="Run id of arm b.")
    value_a: float = Field(description="The metric of arm a's run (token-weighted eval loss, accuracy).")
    value_b: float = Field(description="The metric of arm b's run.")
    difference: float = Field(description="value_a - value_b (in the metric's direction: see `verdict`).")


class CellSummary(_Frozen):
    """One cell (strategy in a context) over its finished seeds."""

    cell: dict[str, Scalar] = Field(description="Varied field -> value (without the seed), incl. strategy.")
    label: str = Field(description="Short human-readable name of the cell.")
    strategy: str = Field(description="lora.strategy of the cell.")
    n_seeds: int = Field(description="Finished seeds used.")
    seeds: list[int] = Field(description="Those seeds.")
    n_examples: int = Field(description="Eval examples per run.")
    mean: float = Field(
        description="Mean over seeds of the runs' metric (token-weighted eval loss, accuracy)."
    )
    sd: float | None = Field(description="Standard deviation over seeds (ddof=1); None for one seed.")
    shown: float = Field(description="`mean` as the metric shows it: exp (perplexity), percent, or itself.")
    t_ci: Interval | None = Field(description="t-interval of mean over seeds; None for one seed.")
    bootstrap_ci: Interval = Field(description="Two-level bootstrap interval (seeds, then examples).")
    shown_ci: Interval = Field(description="bootstrap_ci as shown (exp, percent).")
    trainable_params: float | None = Field(description="Mean recorded trainable parameters of its runs.")
    peak_trainable_params: float | None = Field(
        None,
        description="Mean recorded peak of trainable parameters during training: above trainable_params"
        " for dynamic strategies, whose budget holds on their final ranks.",
    )
    base: float | None = Field(description="The base model's metric (no adapter), mean over its runs' evals.")
    by_task: dict[str, float] | None = Field(
        None, description="The metric per task (where eval records name tasks), mean over seeds; descriptive."
    )
    base_by_task: dict[str, float] | None = Field(None, description="The base model's metric per task.")


class Comparison(_Frozen):
    """Arm a against arm b in one context, paired by seed and by eval example."""

    id: str = Field(description="Stable identifier: '<a> vs <b> | <context label>'.")
    kind: Literal["vs_baseline", "pairwise"] = Field(
        description="Against the study's baseline, or requested."
    )
    context: dict[str, Scalar] = Field(description="Fields shared by both arms (cell without the strategy).")
    context_label: str = Field(description="Short label of the context, e.g. 'budget=r8'.")
    a: str = Field(description="Strategy (or run id) of arm a.")
    b: str = Field(description="Strategy (or run id) of arm b, the reference.")
    n_seeds: int = Field(description="Seeds finished in both arms (the pairs).")
    seeds: list[int] = Field(description="Those seeds.")
    n_examples: int = Field(description="Eval examples shared by both arms.")
    value_a: float = Field(description="Mean over paired seeds of arm a's metric.")
    value_b: float = Field(description="Mean over paired seeds of arm b's metric.")
    difference: float = Field(
        description="value_a - value_b, the mean paired difference (a loss: negative is a better; an"
        " accuracy: positive is)."
    )
    difference_ci: Interval | None = Field(
        description="The interval every verdict rests on: simultaneous t-interval of the mean per-seed"
        " difference (confidence 1 − alpha/(family · looks) each, so the family holds at 1 − alpha); None"
        " with fewer than 2 seeds."
    )
    difference_t_ci: Interval | None = Field(
        description="Unadjusted t-interval of the difference over seeds at settings.confidence (n ≥ 2)."
    )
    example_ci: Interval = Field(
        description="Secondary, descriptive: two-level paired bootstrap (seeds, then examples), percentile;"
        " for these trained adapters on this eval distribution. Never the basis of a verdict."
    )
    effect: float = Field(
        description="The difference as shown: exp(difference) = ppl_a / ppl_b for the loss (below 1: a"
        " better), percentage points for accuracy."
    )
    effect_ci: Interval | None = Field(description="difference_ci as shown (exp, percentage points).")
    seed_t: TestResult | None = Field(description="Paired t-test over per-seed differences (n ≥ 2).")
    seed_sign_flip: TestResult = Field(description="Exact sign-flip permutation test over seeds.")
    example_permutation: TestResult = Field(
        description="Secondary: paired permutation over eval examples with the seeds held fixed."
    )
    min_sign_flip_p: float = Field(description="Smallest two-sided p the sign-flip test can reach: 2/2^n.")
    primary_test: TestName = Field(description="The test verdicts rest on: always seed_t.")
    p_primary: float | None = Field(description="p of the seed-level t-test, before correction.")
    p_adjusted: float | None = Field(
        description="Bonferroni-adjusted p (× family × looks, capped at 1): below alpha exactly when"
        " difference_ci excludes 0."
    )
    p_equivalence: float | None = Field(
        description="Two one-sided t-tests against ±margin over seeds (larger one-sided p), Bonferroni"
        " adjusted like p_adjusted (× 2 for the interval's halves)."
    )
    margin: float = Field(description="δ, the smallest effect of interest, in the metric's unit.")
    verdict: Verdict = Field(
        description="better / worse: difference_ci excludes 0 (and is not inside ±margin); equivalent:"
        " difference_ci inside ±margin; unresolved: neither (or fewer than 2 seeds)."
    )
    caveat: str | None = Field(description="Printed wherever the verdict appears, e.g. unequal budgets.")
    seeds_to_resolve: int | None = Field(
        None,
        description="Seeds whose interval would resolve this comparison if the observed mean and spread"
        " were the truth (at the same interval confidence); None: resolved, under 2 seeds, or over 1000.",
    )
    seeds_to_resolve_range: tuple[int | None, int | None] | None = Field(
        None,
        description="The same at the ends of the 80 % chi-square interval of the spread (None: over 1000).",
    )
    seeds_for_power: int | None = Field(
        None,
        description="Seeds a paired t-test at the interval's level would need for `settings.power` if the"
        " true effect were the observed mean/sd of the per-seed differences: a planning figure. None:"
        " fewer than 2 seeds, no spread, or over 1000.",
    )
    g_z: float | None = Field(
        description="Hedges' g_z of the per-seed differences (Lakens 2013), signed like `difference`; n ≥ 3."
    )
    share_seeds_better: float = Field(description="Share of paired seeds with a better than b (ties half).")
    prob_improvement: float = Field(
        description="P(X_a better than X_b), Agarwal et al. (2021): share of all (run of a, run of b) pairs"
        " where a's metric is better (ties half); descriptive."
    )
    win_rate: float = Field(
        description="Share of eval examples where a's value (NLL, score) averaged over seeds is better"
        " (ties half)."
    )
    params_a: float | None = Field(description="Mean trainable parameters of arm a.")
    params_b: float | None = Field(description="Mean trainable parameters of arm b.")
    per_seed: list[SeedDifference] = Field(description="The paired per-seed results.")


class Interaction(_Frozen):
    """How a strategy's difference from the baseline changes between two levels of a context field
    (strategy × budget): the per-seed contrast Δ(level_a) − Δ(level_b) (`loralab/analysis/interaction.py`)."""

    id: str = Field(
        description="'<strategy> vs <baseline> | <field>: <level_a> vs <level_b>[ | other fields]'."
    )
    strategy: str = Field(description="The strategy whose difference from the baseline is contrasted.")
    baseline: str = Field(description="The baseline of both comparisons.")
    field: str = Field(description="The context field whose levels are contrasted, e.g. 'budget'.")
    level_a: Scalar = Field(description="The first level in natural order (e.g. the scarce budget).")
    level_b: Scalar = Field(description="The other level.")
    context: dict[str, Scalar] = Field(description="The other context fields, the same for all four cells.")
    n_seeds: int = Field(description="Seeds trained in all four cells (the contrast's pairs).")
    seeds: list[int] = Field(description="Those seeds.")
    difference_a: float = Field(description="Mean over those seeds of the paired difference at level_a.")
    difference_b: float = Field(description="Mean over those seeds of the paired difference at level_b.")
    difference: float = Field(description="difference_a − difference_b: the mean per-seed contrast.")
    difference_ci: Interval | None = Field(
        description="Simultaneous t-interval of the mean contrast over seeds (Bonferroni over the contrasts"
        " and the looks); None with fewer than 2 seeds."
    )
    p_adjusted: float | None = Field(description="Seed-level t-test of contrast = 0, Bonferroni-adjusted.")
    margin: float = Field(description="δ of the primary metric, the same as the comparisons'.")
    verdict: Literal["changes", "same", "unresolved"] = Field(
        description="changes: difference_ci excludes 0 (not inside ±δ); same: inside ±δ; unresolved: neither."
    )


class Convergence(_Frozen):
    """Whether the baseline's eval loss was still falling when training stopped (analysis/convergence.py)."""

    study: str = Field(description="The study whose runs the curve comes from (this one or a companion).")
    strategy: str = Field(description="The strategy of those runs (the baseline).")
    seeds: list[int] = Field(description="Seeds whose curve reaches the final step.")
    eval_steps: list[int] = Field(description="Steps at which the eval loss was measured (0: base model).")
    total_steps: int = Field(description="Optimizer steps of training.")
    start_step: int = Field(description="The last evaluation at or before 75 % of training.")
    loss_base: float | None = Field(description="Mean eval loss at step 0 (the base model), if measured.")
    loss_start: float = Field(description="Mean eval loss at start_step.")
    loss_end: float = Field(description="Mean eval loss at the final step.")
    drop: float = Field(description="loss_start - loss_end (positive: still falling), mean over seeds.")
    drop_ci: Interval | None = Field(description="t-interval of drop over seeds; None for one seed.")
    still_falling: bool = Field(
        description="drop > δ and, with two or more seeds, drop_ci excludes zero: training had not converged."
    )


class CoverageRow(_Frozen):
    """Which seeds a cell was expected to have and which it has, by state."""

    cell: dict[str, Scalar] = Field(description="The cell (varied fields without the seed).")
    label: str = Field(description="Short label of the cell.")
    strategy: str = Field(description="lora.strategy of the cell.")
    expected_seeds: list[int] = Field(description="Seeds the study grid asks for (or seen in the store).")
    done: list[int] = Field(description="Seeds whose run is done with its eval files.")
    failed: list[int] = Field(description="Seeds whose run failed.")
    running: list[int] = Field(description="Seeds whose run is running or interrupted.")
    pending: list[int] = Field(description="Seeds whose run directory exists but never started.")
    missing: list[int] = Field(description="Expected seeds with no run directory at all.")
    complete: bool = Field(description="Every expected seed is done.")


class Artifacts(_Frozen):
    """Files written next to stats.json, as paths relative to the analysis directory."""

    runs: str = Field("runs.parquet", description="One row per run.")
    examples: str = Field("examples.parquet", description="One row per run × eval example.")
    figures: dict[str, list[str]] = Field(default_factory=dict, description="Figure name -> its files.")
    tables: dict[str, list[str]] = Field(default_factory=dict, description="Table name -> its files.")
    report: str = Field("report.html", description="The self-contained HTML report.")


class MetricStats(_Frozen):
    """One secondary metric's cells and comparisons: a family of its own, judged like the primary's."""

    metric: str = Field(description="Registered metric name (exact_match).")
    summaries: list[CellSummary] = Field(description="One per cell whose runs recorded the metric.")
    comparisons: list[Comparison] = Field(description="vs-baseline comparisons on this metric.")
    family_size: int = Field(description="Comparisons its correction was applied over.")
    margin: float = Field(description="δ in the metric's unit.")
    margin_spec: str = Field(description="δ as declared (for accuracy 'P%' is P percentage points).")


# v2 field -> v3 field, per model (the reader of stats.json files written before version 3)
_RENAMED = {
    "summaries": {
        "mean_loss": "mean",
        "sd_loss": "sd",
        "ppl": "shown",
        "ppl_ci": "shown_ci",
        "base_loss": "base",
    },
    "comparisons": {
        "loss_a": "value_a",
        "loss_b": "value_b",
        "ppl_ratio": "effect",
        "ppl_ratio_ci": "effect_ci",
    },
    "per_seed": {"loss_a": "value_a", "loss_b": "value_b"},
}


def _renamed(row: dict, names: dict[str, str]) -> dict:
    return {names.get(k, k): v for k, v in row.items()}


def upgrade_v2(data: dict) -> dict:
    """A version-2 stats.json mapping in version 3's names (eval loss was its only metric)."""
    comparisons = [
        {
            **_renamed(c, _RENAMED["comparisons"]),
            "per_seed": [_renamed(x, _RENAMED["per_seed"]) for x in c["per_seed"]],
        }
        for c in data.get("comparisons", [])
    ]
    summaries = [_renamed(c, _RENAMED["summaries"]) for c in data.get("summaries", [])]
    return {**data, "schema_version": SCHEMA_VERSION, "summaries": summaries, "comparisons": comparisons}


class StudyStats(_Frozen):
    """Everything `loralab analyze` concluded about one study (stats.json)."""

    schema_version: int = Field(SCHEMA_VERSION, description="Version of this schema.")
    study: str = Field(description="Study name.")
    metric: str = Field(
        "eval_loss", description="The primary metric: `summaries`, `comparisons` and the verdicts are its."
    )
    settings: Settings = Field(description="Statistical settings used.")
    varied: list[str] = Field(description="Config fields that vary across the study's runs (incl. seed).")
    cell_fields: list[str] = Field(description="varied without the seed: what defines a cell.")
    baseline: str = Field(description="The strategy every other one is compared against.")
    n_runs: int = Field(description="Run directories found (any state).")
    n_done: int = Field(description="Runs analysed (done, with eval files).")
    summaries: list[CellSummary] = Field(description="One per cell with at least one finished run.")
    comparisons: list[Comparison] = Field(description="vs-baseline comparisons (the family), then pairwise.")
    family_size: int = Field(description="Comparisons the correction was applied over.")
    margin: float = Field(
        description="δ of the primary metric in its unit (nats/token), the smallest effect of interest."
    )
    margin_spec: str = Field(description="δ as declared ('1%' of perplexity, or nats/token).")
    simultaneous_confidence: float = Field(
        description="1 − alpha: the joint coverage of every comparison's interval over the family and looks."
    )
    coverage: list[CoverageRow] = Field(description="One row per expected cell, complete or not.")
    convergence: Convergence | None = Field(
        None, description="The baseline's eval curve over the last quarter of training; None without one."
    )
    complete: bool = Field(description="Every expected run is done.")
    artifacts: Artifacts = Field(default_factory=Artifacts, description="Files of the analysis.")
    secondary: list[MetricStats] = Field(
        default_factory=list,
        description="Every other metric the study analyses, each a family of its own at 1 − alpha.",
    )
    interactions: list[Interaction] = Field(
        default_factory=list,
        description="Strategy × context contrasts of the primary metric (a field such as the budget with"
        " two or more levels), a family of their own at 1 − alpha; empty when no context field varies.",
    )

    @model_validator(mode="before")
    @classmethod
    def _read_v2(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("schema_version") == 2:
            return upgrade_v2(data)
        return data

    def metric_sections(self) -> list[MetricStats]:
        """The primary metric's section first (as a MetricStats), then the secondary ones."""
        primary = MetricStats(
            metric=self.metric,
            summaries=self.summaries,
            comparisons=self.comparisons,
            family_size=self.family_size,
            margin=self.margin,
            margin_spec=self.margin_spec,
        )
        return [primary, *self.secondary]

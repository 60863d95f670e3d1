"""Paired comparisons of two arms (strategies, or single runs) and the family's multiplicity correction.

An `Arm` is what a comparison needs of one side on one metric: its seeds, and per seed the metric's
per-example values and weights on the shared eval examples (NLL sums and token counts for the eval
loss; 0/1 scores and ones for exact match), so a run's metric is Σ values / Σ weights. Both arms must
have been evaluated on the same examples (the eval split is fixed across seeds); seeds pair the runs.
Differences are a − b in the metric's unit; what "better" means comes from the metric's direction.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from loralab.analysis import stats as S
from loralab.analysis.schema import Comparison, Interval, SeedDifference, Settings, TestName, TestResult
from loralab.results import EVAL_LOSS, Metric

ANSWERS = {
    "seed_t": "Does the training procedure make a difference for a new seed? (paired t over seeds,"
    " assumes normal differences)",
    "seed_sign_flip": "Does the training procedure make a difference for a new seed? (exact sign-flip"
    " over seeds, no distributional assumption)",
    "example_permutation": "For these trained adapters (seeds fixed), is there a difference on this eval"
    " distribution?",
}
PARAMS_RTOL = 0.02  # recorded trainable parameters this far apart are not an equal-budget comparison


@dataclass(frozen=True)
class Arm:
    """One side of a comparison: `(seeds, examples)` arrays on the shared, sorted example ids."""

    label: str
    seeds: tuple[int, ...]
    run_ids: tuple[str, ...]
    value: np.ndarray  # per-example values (NLL sums, 0/1 scores)
    weight: np.ndarray  # per-example weights (token counts, ones)
    params: float | None = None
    boot: np.ndarray | None = None  # `(seeds, R)` the runs' metric under the shared example resamples
    metric: Metric = EVAL_LOSS

    def take(self, seeds: list[int]) -> Arm:
        """The arm restricted to `seeds` (in that order)."""
        idx = [self.seeds.index(s) for s in seeds]
        return replace(
            self,
            seeds=tuple(seeds),
            run_ids=tuple(self.run_ids[i] for i in idx),
            value=self.value[idx],
            weight=self.weight[idx],
            boot=None if self.boot is None else self.boot[idx],
        )


def example_contributions(a: Arm, b: Arm) -> np.ndarray | None:
    """Per-example terms x_e of the example-level statistic when both arms share weights, else None."""
    if not np.array_equal(a.weight, b.weight):
        return None
    return ((a.value - b.value) / a.weight.sum(1, keepdims=True)).mean(0)


def compare_arms(
    a: Arm,
    b: Arm,
    *,
    settings: Settings,
    context: dict,
    context_label: str,
    kind: str = "vs_baseline",
    example_p: float | None = None,
) -> Comparison:
    """Compare arm a with arm b (the reference) on their common seeds; the verdict is set by `correct`."""
    seeds = sorted(set(a.seeds) & set(b.seeds))
    a, b = a.take(seeds), b.take(seeds)
    n, conf, seed, sign = len(seeds), settings.confidence, settings.seed, a.metric.sign
    value_a, value_b = S.token_loss(a.value, a.weight), S.token_loss(b.value, b.weight)
    d = value_a - value_b
    diff = float(d.mean())

    if a.boot is not None and b.boot is not None:
        reps = S.seed_resample_mean(a.boot - b.boot, seed)
    else:
        reps = S.two_level_bootstrap(
            a.value, a.weight, b.value, b.weight, n_resamples=settings.n_resamples, seed=seed
        )
    lo, hi = S.percentile_interval(reps, conf)
    t_lo, t_hi = S.t_interval(d, conf)
    tests = _tests(a, b, d, settings, example_p)
    p_primary = tests["seed_t"].p_value if tests["seed_t"] is not None else None
    return Comparison(
        id=f"{a.label} vs {b.label} | {context_label}",
        kind=kind,
        context=context,
        context_label=context_label,
        a=a.label,
        b=b.label,
        n_seeds=n,
        seeds=seeds,
        n_examples=int(a.value.shape[1]),
        value_a=float(value_a.mean()),
        value_b=float(value_b.mean()),
        difference=diff,
        difference_ci=None,
        difference_t_ci=None
        if n < 2
        else Interval(
            low=float(t_lo), high=float(t_hi), method="t over per-seed differences", confidence=conf
        ),
        example_ci=Interval(
            low=lo,
            high=hi,
            method="two-level paired bootstrap (seeds, then examples), percentile; these adapters only",
            confidence=conf,
        ),
        effect=a.metric.effect(diff),
        effect_ci=None,
        seed_t=tests["seed_t"],
        seed_sign_flip=tests["seed_sign_flip"],
        example_permutation=tests["example_permutation"],
        min_sign_flip_p=S.min_sign_flip_p(n),
        primary_test="seed_t",
        p_primary=_num(p_primary),
        p_adjusted=None,
        p_equivalence=None,
        margin=0.0,
        verdict="unresolved",
        caveat=_budget_note(a, b),
        g_z=_num(S.hedges_gz(d)),
        share_seeds_better=float(S.share_better(sign * d)),
        prob_improvement=S.prob_improvement_runs(sign * value_a, sign * value_b),
        win_rate=S.win_rate(sign * a.value, sign * b.value),
        params_a=a.params,
        params_b=b.params,
        per_seed=[
            SeedDifference(
                seed=s, run_a=ra, run_b=rb, value_a=float(la), value_b=float(lb), difference=float(x)
            )
            for s, ra, rb, la, lb, x in zip(seeds, a.run_ids, b.run_ids, value_a, value_b, d, strict=True)
        ],
    )


def _tests(
    a: Arm, b: Arm, d: np.ndarray, settings: Settings, example_p: float | None
) -> dict[str, TestResult | None]:
    """The three tests of a comparison: over seeds (t, exact sign flip) and over examples."""
    n, diff = len(d), float(d.mean())
    t, p_t = S.paired_t(d)
    p_sf, sf_exact = S.sign_flip_test(d, settings.n_resamples, settings.seed)
    if example_p is None:
        _, example_p, ex_exact = S.example_permutation_test(
            a.value, a.weight, b.value, b.weight, settings.n_resamples, settings.seed
        )
    else:
        ex_exact = (1 << a.value.shape[1]) <= settings.n_resamples

    def result(
        name: TestName, level: str, statistic: object, p: object, units: int, exact: bool
    ) -> TestResult:
        return TestResult(
            name=name,
            level=level,
            answers=ANSWERS[name],
            statistic=_num(statistic),
            p_value=_num(p),
            n=units,
            exact=exact,
        )

    return {
        "seed_t": None if n < 2 else result("seed_t", "seed", t, p_t, n, False),
        "seed_sign_flip": result("seed_sign_flip", "seed", diff, p_sf, n, sf_exact),
        "example_permutation": result(
            "example_permutation", "example", diff, example_p, int(a.value.shape[1]), ex_exact
        ),
    }


def _budget_note(a: Arm, b: Arm) -> str | None:
    """The caveat of arms whose recorded trainable parameters differ by more than PARAMS_RTOL."""
    if a.params and b.params and abs(a.params - b.params) > PARAMS_RTOL * max(a.params, b.params):
        return f"unequal trainable parameters ({a.params:,.0f} vs {b.params:,.0f})"
    return None


def correct(
    comparisons: list[Comparison], settings: Settings, margin: float, metric: Metric = EVAL_LOSS
) -> list[Comparison]:
    """The family's verdicts: simultaneous intervals (Bonferroni over comparisons and looks) and δ.

    Every comparison with at least 2 seeds is one member of the family. Its interval has confidence
    1 − alpha / (family · looks), so all of them hold together at 1 − alpha in every look; the verdict
    is read off that interval alone (`stats.verdict_of`), and the adjusted p-values say the same.
    """
    family = sum(c.n_seeds >= 2 for c in comparisons)
    factor = max(family, 1) * settings.looks
    level = S.interval_confidence(settings.alpha, family, settings.looks)
    out = []
    for c in comparisons:
        d = np.array([x.difference for x in c.per_seed])
        update: dict = {"margin": margin}
        if c.n_seeds >= 2:
            lo, hi = S.t_interval(d, level)
            method = (
                f"t over per-seed differences, simultaneous: {level:.4g} each"
                f" (Bonferroni over {family} comparison{'s' if family != 1 else ''}"
                f"{f' and {settings.looks} looks' if settings.looks > 1 else ''})"
            )
            ci = Interval(low=float(lo), high=float(hi), method=method, confidence=level)
            p_eq = _num(S.tost_p(d, margin))
            estimate, low, high = S.seeds_to_resolve(metric.sign * d, level, margin)
            ends = sorted((metric.sign * ci.low, metric.sign * ci.high))  # oriented: negative is better
            verdict = S.verdict_of(ends[0], ends[1], margin)
            update |= {
                "difference_ci": ci,
                "effect_ci": Interval(
                    low=metric.effect(ci.low),
                    high=metric.effect(ci.high),
                    method="exp of difference_ci"
                    if metric.transform == "exp"
                    else f"difference_ci in {metric.effect_name}",
                    confidence=level,
                ),
                "p_adjusted": None if c.p_primary is None else min(1.0, c.p_primary * factor),
                "p_equivalence": None if p_eq is None else min(1.0, 2 * p_eq * factor),
                "verdict": verdict,
                "seeds_to_resolve": estimate if verdict == "unresolved" else None,
                "seeds_to_resolve_range": (low, high) if verdict == "unresolved" else None,
                "seeds_for_power": S.seeds_for_power(d, 1 - level, settings.power),
            }
        out.append(c.model_copy(update=update))
    return out


def _num(x: object) -> float | None:
    """A finite float, or None (JSON has no NaN)."""
    if x is None:
        return None
    v = float(x)  # type: ignore[arg-type]
    return v if np.isfinite(v) else None

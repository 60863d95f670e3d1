"""Paired comparisons of two arms (strategies, or single runs) and the family's multiplicity correction.

An `Arm` is what a comparison needs of one side: its seeds, and per seed the per-example NLL sums and
token counts on the shared eval examples. Both arms must have been evaluated on the same examples
(the eval split is fixed across seeds); seeds pair the runs.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from loralab.analysis import stats as S
from loralab.analysis.schema import Comparison, Interval, SeedDifference, Settings, TestName, TestResult

SEED_CAVEAT = "seed variance not covered"
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
    nll: np.ndarray
    tokens: np.ndarray
    params: float | None = None
    boot: np.ndarray | None = None  # `(seeds, R)` token-weighted losses under the shared example resamples

    def take(self, seeds: list[int]) -> Arm:
        """The arm restricted to `seeds` (in that order)."""
        idx = [self.seeds.index(s) for s in seeds]
        return replace(
            self,
            seeds=tuple(seeds),
            run_ids=tuple(self.run_ids[i] for i in idx),
            nll=self.nll[idx],
            tokens=self.tokens[idx],
            boot=None if self.boot is None else self.boot[idx],
        )


def choose_primary(n_seeds: int, settings: Settings) -> tuple[TestName, str | None]:
    """The primary test for a comparison with `n_seeds` pairs, and the caveat its claims carry."""
    policy = settings.primary
    if policy == "auto":
        policy = "seed_t" if n_seeds >= settings.min_seeds_seed_level else "example_permutation"
    if policy in ("seed_t", "seed_sign_flip") and n_seeds < 2:
        policy = "example_permutation"  # nothing to test over seeds with one pair
    return policy, SEED_CAVEAT if policy == "example_permutation" else None


def example_contributions(a: Arm, b: Arm) -> np.ndarray | None:
    """Per-example terms x_e of the example-level statistic when both arms share token counts, else None."""
    if not np.array_equal(a.tokens, b.tokens):
        return None
    return ((a.nll - b.nll) / a.tokens.sum(1, keepdims=True)).mean(0)


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
    """Compare arm a with arm b (the reference) on their common seeds; p_adjusted is left unset."""
    seeds = sorted(set(a.seeds) & set(b.seeds))
    a, b = a.take(seeds), b.take(seeds)
    n, conf, seed = len(seeds), settings.confidence, settings.seed
    loss_a, loss_b = S.token_loss(a.nll, a.tokens), S.token_loss(b.nll, b.tokens)
    d = loss_a - loss_b
    diff = float(d.mean())

    if a.boot is not None and b.boot is not None:
        reps = S.seed_resample_mean(a.boot - b.boot, seed)
    else:
        reps = S.two_level_bootstrap(
            a.nll, a.tokens, b.nll, b.tokens, n_resamples=settings.n_resamples, seed=seed
        )
    lo, hi = S.percentile_interval(reps, conf)
    boot_ci = Interval(
        low=lo, high=hi, method="two-level paired bootstrap (seeds, then examples), percentile"
    )
    t_lo, t_hi = S.t_interval(d, conf)
    tests = _tests(a, b, d, settings, example_p)
    primary, caveat = choose_primary(n, settings)
    budget_note = _budget_note(a, b)
    if budget_note:
        caveat = f"{caveat}; {budget_note}" if caveat else budget_note
    p_primary = tests[primary].p_value if tests[primary] is not None else None
    return Comparison(
        id=f"{a.label} vs {b.label} | {context_label}",
        kind=kind,
        context=context,
        context_label=context_label,
        a=a.label,
        b=b.label,
        n_seeds=n,
        seeds=seeds,
        n_examples=int(a.nll.shape[1]),
        loss_a=float(loss_a.mean()),
        loss_b=float(loss_b.mean()),
        difference=diff,
        difference_ci=boot_ci,
        difference_t_ci=None
        if n < 2
        else Interval(low=float(t_lo), high=float(t_hi), method="t over per-seed differences"),
        ppl_ratio=float(np.exp(diff)),
        ppl_ratio_ci=Interval(low=float(np.exp(lo)), high=float(np.exp(hi)), method="exp of difference_ci"),
        seed_t=tests["seed_t"],
        seed_sign_flip=tests["seed_sign_flip"],
        example_permutation=tests["example_permutation"],
        min_sign_flip_p=S.min_sign_flip_p(n),
        primary_test=primary,
        p_primary=_num(p_primary),
        p_adjusted=None,
        significant=False,
        caveat=caveat,
        g_z=_num(S.hedges_gz(d)),
        p_improve_seeds=float(S.prob_improvement(d)),
        p_improve_bootstrap=float(S.prob_improvement(reps)),
        win_rate=S.win_rate(a.nll, b.nll),
        params_a=a.params,
        params_b=b.params,
        per_seed=[
            SeedDifference(
                seed=s, run_a=ra, run_b=rb, loss_a=float(la), loss_b=float(lb), difference=float(x)
            )
            for s, ra, rb, la, lb, x in zip(seeds, a.run_ids, b.run_ids, loss_a, loss_b, d, strict=True)
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
            a.nll, a.tokens, b.nll, b.tokens, settings.n_resamples, settings.seed
        )
    else:
        ex_exact = (1 << a.nll.shape[1]) <= settings.n_resamples

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
            "example_permutation", "example", diff, example_p, int(a.nll.shape[1]), ex_exact
        ),
    }


def _budget_note(a: Arm, b: Arm) -> str | None:
    """The caveat of arms whose recorded trainable parameters differ by more than PARAMS_RTOL."""
    if a.params and b.params and abs(a.params - b.params) > PARAMS_RTOL * max(a.params, b.params):
        return f"unequal trainable parameters ({a.params:,.0f} vs {b.params:,.0f})"
    return None


def correct(comparisons: list[Comparison], settings: Settings) -> list[Comparison]:
    """Adjust the primary p-values over `comparisons` (one family), mark significance at alpha, plan seeds."""
    p = np.array([np.nan if c.p_primary is None else c.p_primary for c in comparisons], float)
    adj = S.adjust(p, settings.correction) if len(p) else p
    plan_alpha = settings.alpha / max(len(comparisons), 1)  # Holm's first step; BH's strictest too
    out = []
    for c, q in zip(comparisons, adj, strict=True):
        q = _num(q)
        needed = S.seeds_for_power(np.array([x.difference for x in c.per_seed]), plan_alpha, settings.power)
        out.append(
            c.model_copy(
                update={
                    "p_adjusted": q,
                    "significant": q is not None and q < settings.alpha,
                    "seeds_for_power": needed,
                }
            )
        )
    return out


def _num(x: object) -> float | None:
    """A finite float, or None (JSON has no NaN)."""
    if x is None:
        return None
    v = float(x)  # type: ignore[arg-type]
    return v if np.isfinite(v) else None

"""Statistics for paired LoRA comparisons: pure numpy functions, seeded, vectorised over a leading axis.

Shapes name their axes: `(seeds, examples)` for one arm's per-example NLL sums and token counts,
`(..., seeds)` for per-seed values batched over anything in front. The loss of a run is always
token-weighted, Σ NLL / Σ tokens, and every resample recomputes that ratio (STATISTICS.md, traps).

References
- Paired t-test and t-intervals: Student (1908); `scipy.stats.ttest_rel` is the reference in tests.
- Exact sign-flip (paired permutation) test: Fisher (1935); Good, *Permutation Tests* (2000);
  Dror et al. (ACL 2018) on paired tests over the same test examples.
- Two-level bootstrap: Saravanan, Berman & Sober (2020), resample the top level (seeds), then the
  level below (examples). Here examples are *crossed* with seeds (every seed is evaluated on the same
  eval split), so one example resample per replicate is applied to every seed and both arms.
- Percentile bootstrap interval: Efron & Tibshirani (1993), ch. 13.
- Holm (1979) step-down; Benjamini & Hochberg (1995) step-up FDR.
- Hedges' g_z for paired designs: Lakens (2013), eq. 5 and the small-sample correction J.
- Probability of improvement: Agarwal et al. (NeurIPS 2021); Bouthillier et al. (MLSys 2021).
- Equivalence by two one-sided tests (TOST): Schuirmann (1987); Lakens, Scheel & Isager (2018).
- Simultaneous intervals by Bonferroni over comparisons and looks: Dunn (1961); sequential looks
  as in Jennison & Turnbull (2000), ch. 2 (the Bonferroni split of alpha over K looks).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

import numpy as np
from scipy import stats as _st

# Ties between a permuted statistic and the observed one are decided with this relative tolerance,
# so that float noise in a sum of the same numbers in another order does not change a p-value.
_TIE_RTOL = 1e-12
EXACT_SIGN_FLIP_MAX_N = 16  # 2^16 sign patterns; beyond it the sign-flip test is Monte Carlo
_CHUNK = 1000  # bootstrap replicates / permutations materialised at once (memory ~ chunk × examples)


def rng_for(seed: int, *stream: int) -> np.random.Generator:
    """A generator for one named random stream under the analysis seed (order-independent)."""
    return np.random.default_rng([int(seed), *(int(s) for s in stream)])


# --- losses --------------------------------------------------------------------------------------


def token_loss(nll: np.ndarray, tokens: np.ndarray) -> np.ndarray:
    """Token-weighted loss Σ nll / Σ tokens over the last axis: `(..., examples) -> (...)`."""
    return np.asarray(nll, float).sum(-1) / np.asarray(tokens, float).sum(-1)


# --- seed level ----------------------------------------------------------------------------------


def t_interval(x: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """t-interval of the mean over the last axis `(..., n) -> (low, high)`; NaN for n < 2."""
    x = np.asarray(x, float)
    n = x.shape[-1]
    mean = x.mean(-1)
    if n < 2:
        nan = np.full(mean.shape, np.nan)
        return nan, nan
    half = _st.t.ppf(0.5 + confidence / 2, n - 1) * x.std(-1, ddof=1) / np.sqrt(n)
    return mean - half, mean + half


def paired_t(d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Paired t-test of mean(d) = 0 over the last axis: `(..., n) -> (t, two-sided p)`; NaN for n < 2."""
    d = np.asarray(d, float)
    n = d.shape[-1]
    if n < 2:
        nan = np.full(d.shape[:-1], np.nan)
        return nan, nan
    with np.errstate(divide="ignore", invalid="ignore"):
        t = d.mean(-1) / (d.std(-1, ddof=1) / np.sqrt(n))
    p = 2 * _st.t.sf(np.abs(t), n - 1)
    return t, p


def _sign_patterns(n: int) -> np.ndarray:
    """All 2^n sign vectors, `(2^n, n)`, the identity (all +1) first."""
    return np.array(list(itertools.product((1.0, -1.0), repeat=n)))


def sign_flip_test(d: np.ndarray, n_resamples: int = 10_000, seed: int = 0) -> tuple[np.ndarray, bool]:
    """Sign-flip permutation test of mean(d) = 0 over the last axis: `(..., n) -> (two-sided p, exact)`.

    Exact over all 2^n sign patterns for n ≤ 16 (then p ≥ 2/2^n); Monte Carlo beyond, with
    p = (1 + #{|T*| ≥ |T|}) / (1 + n_resamples).
    """
    d = np.asarray(d, float)
    n = d.shape[-1]
    obs = np.abs(d.mean(-1))
    if n <= EXACT_SIGN_FLIP_MAX_N:
        null = np.abs(d @ _sign_patterns(n).T / n)  # (..., 2^n)
        hits = (null >= obs[..., None] * (1 - _TIE_RTOL)).sum(-1)
        return hits / 2.0**n, True
    signs = rng_for(seed, 11, n).choice([-1.0, 1.0], size=(n_resamples, n))
    null = np.abs(d @ signs.T / n)
    hits = (null >= obs[..., None] * (1 - _TIE_RTOL)).sum(-1)
    return (1 + hits) / (1 + n_resamples), False


def min_sign_flip_p(n: int) -> float:
    """Smallest two-sided p the exact sign-flip test can attain with n pairs: 2 / 2^n (capped at 1)."""
    return min(1.0, 0.5 ** (n - 1))


def hedges_gz(d: np.ndarray) -> np.ndarray:
    """Hedges' g_z = J · mean(d) / sd(d) over the last axis, J = 1 − 3 / (4(n−1) − 1); NaN for n < 3.

    With two pairs J is 0 (one degree of freedom): no small-sample-corrected effect size exists.
    """
    d = np.asarray(d, float)
    n = d.shape[-1]
    if n < 3:
        return np.full(d.shape[:-1], np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        dz = d.mean(-1) / d.std(-1, ddof=1)
    return dz * (1 - 3 / (4 * (n - 1) - 1))


def paired_t_power(effect: float, n: int, alpha: float) -> float:
    """Power of a two-sided paired t-test with `n` pairs at `alpha` when the true mean/sd is `effect`."""
    df = n - 1
    crit = _st.t.ppf(1 - alpha / 2, df)
    nc = abs(effect) * np.sqrt(n)
    upper = _st.nct.sf(crit, df, nc)
    lower = _st.nct.cdf(-crit, df, nc)  # the wrong-sign tail; scipy returns NaN where it underflows
    return float(min(1.0, upper + (0.0 if np.isnan(lower) else lower)))


def seeds_for_power(d: np.ndarray, alpha: float, power: float = 0.8, max_n: int = 1000) -> int | None:
    """Seeds a paired t-test at `alpha` needs to reach `power` if the true effect were the observed one.

    The effect is mean(d) / sd(d) (ddof=1) of the per-seed differences `d`. A planning figure for the
    next study, not a statement about this one: with few seeds the sd, hence the answer, is uncertain.
    None when it is undefined (fewer than 2 seeds, no spread, no difference) or above `max_n`.
    """
    d = np.asarray(d, float)
    if d.size < 2:
        return None
    sd = float(d.std(ddof=1))
    mean = float(d.mean())
    if not (np.isfinite(sd) and sd > 0 and mean != 0):
        return None
    effect = mean / sd
    lo, hi = 2, max_n
    if paired_t_power(effect, hi, alpha) < power:
        return None
    while lo < hi:  # power grows with n: the smallest n that reaches it
        mid = (lo + hi) // 2
        if paired_t_power(effect, mid, alpha) >= power:
            hi = mid
        else:
            lo = mid + 1
    return lo


# --- verdicts (the seed-level policy: docs/analysis.md, "Verdicts") -----------------------------

VERDICTS = ("better", "worse", "equivalent", "unresolved")


def interval_confidence(alpha: float, family: int, looks: int = 1) -> float:
    """Confidence of each shown interval so that all of them, over every look, hold at 1 − alpha.

    Bonferroni over the family and over the looks of a sequential design: each interval is a
    two-sided t-interval at 1 − alpha / (family · looks). The verdicts read off these intervals keep
    the family-wise error at alpha under any dependence between comparisons and looks.
    """
    return 1.0 - alpha / (max(int(family), 1) * max(int(looks), 1))


def verdict_of(low: float, high: float, margin: float) -> str:
    """better | worse | equivalent | unresolved from an interval of Δ = a − b (negative: a better).

    Equivalent when the whole interval lies inside ±margin (two one-sided tests, each at half the
    interval's error), whatever its sign; better or worse when it excludes 0 and is not inside the
    margin; unresolved otherwise (and when the interval is undefined).
    """
    if not (np.isfinite(low) and np.isfinite(high)):
        return "unresolved"
    if -margin < low and high < margin:
        return "equivalent"
    if high < 0:
        return "better"
    if low > 0:
        return "worse"
    return "unresolved"


def verdicts(d: np.ndarray, confidence: float, margin: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vectorised verdicts over per-seed differences `(..., n)`: (verdict strings, low, high)."""
    low, high = t_interval(d, confidence)
    low, high = np.atleast_1d(low), np.atleast_1d(high)
    out = np.array([verdict_of(lo, hi, margin) for lo, hi in zip(low.ravel(), high.ravel(), strict=True)])
    return out.reshape(low.shape), low, high


def tost_p(d: np.ndarray, margin: float) -> np.ndarray:
    """Two one-sided t-tests of |mean(d)| ≥ margin over the last axis: the larger one-sided p; NaN n < 2."""
    d = np.asarray(d, float)
    n = d.shape[-1]
    if n < 2:
        return np.full(d.shape[:-1], np.nan)
    se = d.std(-1, ddof=1) / np.sqrt(n)
    with np.errstate(divide="ignore", invalid="ignore"):
        p_low = _st.t.sf((d.mean(-1) + margin) / se, n - 1)  # H0: mean <= -margin
        p_high = _st.t.cdf((d.mean(-1) - margin) / se, n - 1)  # H0: mean >= +margin
    return np.maximum(p_low, p_high)


def _half_width(sd: float, n: int, confidence: float) -> float:
    return float(_st.t.ppf(0.5 + confidence / 2, n - 1) * sd / np.sqrt(n))


def _seeds_needed(mean: float, sd: float, confidence: float, margin: float, max_n: int) -> int | None:
    """Smallest n whose interval, centred on `mean` with spread `sd`, would resolve; None above max_n."""
    room = max(abs(mean), margin - abs(mean))  # excluding 0, or fitting inside ±margin
    if sd == 0:
        return 2
    for n in range(2, max_n + 1):
        if _half_width(sd, n, confidence) < room:
            return n
    return None


def seeds_to_resolve(
    d: np.ndarray, confidence: float, margin: float, level: float = 0.8, max_n: int = 1000
) -> tuple[int | None, int | None, int | None]:
    """Seeds that would resolve a comparison if the observed mean and spread were the truth.

    Returns (estimate, low, high): the estimate uses the observed sd of the per-seed differences `d`;
    low and high use the ends of the `level` chi-square interval of that sd (the planning figure's own
    uncertainty, which is large with few seeds). None: undefined (fewer than 2 seeds) or above max_n.
    """
    d = np.asarray(d, float)
    n = d.size
    if n < 2:
        return None, None, None
    mean, sd = float(d.mean()), float(d.std(ddof=1))
    q = (1 - level) / 2
    sd_lo = sd * np.sqrt((n - 1) / _st.chi2.ppf(1 - q, n - 1))
    sd_hi = sd * np.sqrt((n - 1) / _st.chi2.ppf(q, n - 1))
    return tuple(_seeds_needed(mean, s, confidence, margin, max_n) for s in (sd, sd_lo, sd_hi))  # type: ignore[return-value]


def prob_improvement_runs(loss_a: np.ndarray, loss_b: np.ndarray) -> float:
    """P(X_a < X_b) of Agarwal et al. (2021): a random run of a has a lower loss than one of b (ties half).

    Over every pair of runs (unpaired, the Mann–Whitney U / (n_a n_b) of the run losses); a
    description of these runs, not a test.
    """
    a = np.asarray(loss_a, float)[:, None]
    b = np.asarray(loss_b, float)[None, :]
    return float((a < b).mean() + 0.5 * (a == b).mean())


def share_better(d: np.ndarray) -> np.ndarray:
    """Share of paired seeds with a better (d = a − b < 0) over the last axis, ties half."""
    d = np.asarray(d, float)
    return (d < 0).mean(-1) + 0.5 * (d == 0).mean(-1)


# --- example level -------------------------------------------------------------------------------


def example_permutation_test(
    nll_a: np.ndarray,
    tok_a: np.ndarray,
    nll_b: np.ndarray,
    tok_b: np.ndarray,
    n_resamples: int = 10_000,
    seed: int = 0,
) -> tuple[float, float, bool]:
    """Paired permutation over eval examples with the seeds fixed: `(seeds, examples)` per arm.

    Statistic: mean over seeds of token_loss(a) − token_loss(b). Under H0 the two arms' results on
    an example are exchangeable, so a permutation swaps them for that example (in every seed at once:
    the example is the unit). Exact when 2^examples ≤ n_resamples. Returns (statistic, p, exact).
    """
    nll_a, tok_a, nll_b, tok_b = (np.atleast_2d(np.asarray(x, float)) for x in (nll_a, tok_a, nll_b, tok_b))
    n_ex = nll_a.shape[-1]
    sums = [x.sum(-1) for x in (nll_a, tok_a, nll_b, tok_b)]  # (seeds,)
    dn, dt = (nll_b - nll_a).T, (tok_b - tok_a).T  # (examples, seeds): what a swap moves from b to a
    obs = float(np.mean(sums[0] / sums[1] - sums[2] / sums[3]))
    exact = (1 << n_ex) <= n_resamples
    hits, total = 0, 0
    for swaps in _swap_chunks(n_ex, n_resamples, seed, exact):
        moved_n, moved_t = swaps @ dn, swaps @ dt  # (chunk, seeds)
        stat = ((sums[0] + moved_n) / (sums[1] + moved_t) - (sums[2] - moved_n) / (sums[3] - moved_t)).mean(
            -1
        )
        hits += int((np.abs(stat) >= abs(obs) * (1 - _TIE_RTOL)).sum())
        total += len(swaps)
    p = hits / total if exact else (1 + hits) / (1 + total)
    return obs, float(p), exact


def _swap_chunks(n_ex: int, n_resamples: int, seed: int, exact: bool) -> Iterator[np.ndarray]:
    """0/1 swap matrices `(chunk, examples)`: all 2^n patterns, or n_resamples random ones (seeded)."""
    if exact:
        yield (_sign_patterns(n_ex) < 0).astype(float)
        return
    rng = rng_for(seed, 13, n_ex)
    for start in range(0, n_resamples, _CHUNK):
        yield rng.integers(0, 2, size=(min(_CHUNK, n_resamples - start), n_ex)).astype(float)


def example_sign_flip_batch(x: np.ndarray, n_resamples: int = 10_000, seed: int = 0) -> np.ndarray:
    """Example-level permutation p for many comparisons at once when both arms share token counts.

    With equal tokens, swapping the arms on example e flips the sign of its contribution
    x_e = mean over seeds of (nll_a − nll_b)[s, e] / Σ tokens[s], and the statistic is Σ_e x_e; so
    one matrix of random signs `(permutations, examples)` serves every row of `x` `(comparisons,
    examples)`. Gives the same p as `example_permutation_test` with the same seed.
    """
    x = np.atleast_2d(np.asarray(x, float))
    n_ex = x.shape[-1]
    obs = np.abs(x.sum(-1))
    exact = (1 << n_ex) <= n_resamples
    hits = np.zeros(len(x))
    total = 0
    for swaps in _swap_chunks(n_ex, n_resamples, seed, exact):
        stat = np.abs((1 - 2 * swaps) @ x.T)  # (chunk, comparisons)
        hits += (stat >= obs * (1 - _TIE_RTOL)).sum(0)
        total += len(swaps)
    return hits / total if exact else (1 + hits) / (1 + total)


def win_rate(nll_a: np.ndarray, nll_b: np.ndarray) -> float:
    """Share of examples where a's NLL, averaged over seeds, is below b's: `(seeds, examples)`, ties half."""
    return float(share_better(np.mean(nll_a, 0) - np.mean(nll_b, 0)))


# --- bootstrap -----------------------------------------------------------------------------------


def example_weights(n_examples: int, n_resamples: int, seed: int) -> Iterator[np.ndarray]:
    """Bootstrap resamples of the examples as multiplicity counts, in chunks `(chunk, examples)`."""
    rng = rng_for(seed, 21, n_examples)
    for start in range(0, n_resamples, _CHUNK):
        k = min(_CHUNK, n_resamples - start)
        idx = rng.integers(0, n_examples, size=(k, n_examples))
        flat = (idx + n_examples * np.arange(k)[:, None]).ravel()
        yield np.bincount(flat, minlength=k * n_examples).reshape(k, n_examples).astype(float)


def resampled_losses(nll: np.ndarray, tokens: np.ndarray, n_resamples: int, seed: int) -> np.ndarray:
    """Token-weighted loss of every run under each example resample: `(runs, examples) -> (runs, R)`.

    The same resamples (a function of `seed` and the number of examples only) serve every run, which
    is what pairs the arms of a comparison at the example level.
    """
    nll, tokens = np.atleast_2d(np.asarray(nll, float)), np.atleast_2d(np.asarray(tokens, float))
    out = [(nll @ w.T) / (tokens @ w.T) for w in example_weights(nll.shape[-1], n_resamples, seed)]
    return np.concatenate(out, axis=1)


def seed_counts(n_seeds: int, n_resamples: int, seed: int) -> np.ndarray:
    """Bootstrap resamples of the seeds as multiplicity counts `(R, seeds)`."""
    idx = rng_for(seed, 31, n_seeds).integers(0, n_seeds, size=(n_resamples, n_seeds))
    flat = (idx + n_seeds * np.arange(n_resamples)[:, None]).ravel()
    return np.bincount(flat, minlength=n_resamples * n_seeds).reshape(n_resamples, n_seeds).astype(float)


def seed_resample_mean(per_seed: np.ndarray, seed: int) -> np.ndarray:
    """Mean over a bootstrap resample of seeds, for each replicate: `(seeds, R) -> (R,)`.

    `per_seed[s, r]` is seed s's value under example resample r (or the same value in every column
    for a seed-only bootstrap); replicate r draws its own seeds with replacement.
    """
    n_seeds, n_rep = per_seed.shape
    counts = seed_counts(n_seeds, n_rep, seed)
    return (counts * per_seed.T).sum(1) / n_seeds


def two_level_bootstrap(
    nll_a: np.ndarray,
    tok_a: np.ndarray,
    nll_b: np.ndarray | None = None,
    tok_b: np.ndarray | None = None,
    *,
    n_resamples: int = 10_000,
    seed: int = 0,
    resample_seeds: bool = True,
    resample_examples: bool = True,
) -> np.ndarray:
    """Bootstrap replicates `(R,)` of the mean over seeds of token_loss(a) [− token_loss(b)].

    Arms are `(seeds, examples)`, paired by row (seed) and column (example). Each replicate resamples
    the seeds (pairs), then the examples, shared by both arms and every seed.
    """
    arms = [(nll_a, tok_a)] + ([(nll_b, tok_b)] if nll_b is not None else [])
    per_seed = []
    for nll, tok in arms:
        nll, tok = np.atleast_2d(np.asarray(nll, float)), np.atleast_2d(np.asarray(tok, float))
        if resample_examples:
            per_seed.append(resampled_losses(nll, tok, n_resamples, seed))
        else:
            per_seed.append(np.repeat(token_loss(nll, tok)[:, None], n_resamples, axis=1))
    values = per_seed[0] - per_seed[1] if len(per_seed) == 2 else per_seed[0]
    if not resample_seeds:
        return values.mean(0)
    return seed_resample_mean(values, seed)


def percentile_interval(replicates: np.ndarray, confidence: float) -> tuple[float, float]:
    """Percentile interval of bootstrap replicates (Efron & Tibshirani 1993, ch. 13)."""
    tail = (1 - confidence) / 2
    low, high = np.quantile(np.asarray(replicates, float), [tail, 1 - tail])
    return float(low), float(high)


# --- multiplicity --------------------------------------------------------------------------------


def _on_finite(p: np.ndarray, step: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Apply an adjustment `step` (sorted finite p-values -> adjusted, same order) to the non-NaN
    entries of `p`, capped at 1; NaN entries stay NaN and are not counted in the family."""
    p = np.asarray(p, float)
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    q = p[ok]
    if len(q):
        order = np.argsort(q, kind="stable")
        res = np.empty(len(q))
        res[order] = np.minimum(step(q[order]), 1.0)
        out[ok] = res
    return out


def holm(p: np.ndarray) -> np.ndarray:
    """Holm (1979) step-down adjusted p-values (FWER); NaN entries stay NaN and are not counted."""

    def step(q: np.ndarray) -> np.ndarray:  # q ascending
        m = len(q)
        return np.maximum.accumulate((m - np.arange(m)) * q)

    return _on_finite(p, step)


def benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg (1995) step-up adjusted p-values (FDR); NaN entries stay NaN."""

    def step(q: np.ndarray) -> np.ndarray:  # q ascending; step up from the largest
        m = len(q)
        return np.minimum.accumulate((q * m / np.arange(1, m + 1))[::-1])[::-1]

    return _on_finite(p, step)


def adjust(p: np.ndarray, method: str) -> np.ndarray:
    """Adjusted p-values by `method`: 'holm' or 'fdr_bh'."""
    if method == "holm":
        return holm(p)
    if method == "fdr_bh":
        return benjamini_hochberg(p)
    raise ValueError(f"unknown correction {method!r}; use 'holm' or 'fdr_bh'")

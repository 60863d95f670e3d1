"""loralab.analysis.stats against scipy / statsmodels reference values and cases computable by hand."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as st
from statsmodels.stats.multitest import multipletests

from loralab.analysis import stats as S

RNG = np.random.default_rng(20261128)
D = RNG.normal(0.2, 1.0, size=(7, 6))  # 7 comparisons x 6 seeds of paired differences


def test_token_loss_weights_by_tokens_not_by_example():
    # one long example (10 tokens, NLL 10) and one short one (1 token, NLL 3): 13/11, not (1 + 3)/2
    assert S.token_loss(np.array([10.0, 3.0]), np.array([10.0, 1.0])) == pytest.approx(13 / 11)


def test_paired_t_matches_scipy_ttest_rel():
    a = RNG.normal(3, 0.1, size=(7, 6))
    b = a - D
    t, p = S.paired_t(a - b)
    ref = st.ttest_rel(a, b, axis=-1)
    np.testing.assert_allclose(t, ref.statistic, rtol=1e-10)
    np.testing.assert_allclose(p, ref.pvalue, rtol=1e-10)


def test_t_interval_matches_scipy():
    low, high = S.t_interval(D, 0.9)
    for row, lo, hi in zip(D, low, high, strict=True):
        ref = st.t.interval(0.9, len(row) - 1, loc=row.mean(), scale=st.sem(row))
        assert (lo, hi) == pytest.approx(ref, rel=1e-10)
    assert np.isnan(S.t_interval(np.array([1.0]), 0.95)[0])


def test_sign_flip_is_exact_and_matches_scipy_permutation_test():
    p, exact = S.sign_flip_test(D)
    assert exact
    for row, pv in zip(D, p, strict=True):
        ref = st.permutation_test(
            (row,), lambda x, axis: x.mean(axis), permutation_type="samples", n_resamples=np.inf
        )
        assert pv == pytest.approx(ref.pvalue, abs=1e-12)


def test_sign_flip_floor_by_hand():
    # all three differences positive: only the identity and the all-flipped pattern are as extreme
    p, _ = S.sign_flip_test(np.array([1.0, 2.0, 3.0]))
    assert p == 0.25 == S.min_sign_flip_p(3)
    assert S.min_sign_flip_p(5) == 0.0625 and S.min_sign_flip_p(6) == pytest.approx(0.03125)
    assert S.min_sign_flip_p(1) == 1.0


def test_sign_flip_monte_carlo_beyond_16_seeds_is_seeded():
    d = RNG.normal(0.5, 1, 20)
    p1, exact = S.sign_flip_test(d, n_resamples=4000, seed=3)
    p2, _ = S.sign_flip_test(d, n_resamples=4000, seed=3)
    assert not exact and p1 == p2
    assert p1 == pytest.approx(st.ttest_1samp(d, 0).pvalue, abs=0.03)


def test_example_permutation_matches_scipy_exactly_on_small_sets():
    tok = RNG.integers(1, 30, 11).astype(float)
    nll_a = tok * RNG.normal(2.0, 0.3, 11)
    nll_b = nll_a + tok * RNG.normal(0.1, 0.3, 11)
    obs, p, exact = S.example_permutation_test(nll_a, tok, nll_b, tok, n_resamples=10_000)
    ref = st.permutation_test(
        (nll_a, nll_b),
        lambda x, y, axis: x.sum(axis) / tok.sum() - y.sum(axis) / tok.sum(),
        permutation_type="samples",
        n_resamples=np.inf,
    )
    assert exact
    assert obs == pytest.approx(ref.statistic, rel=1e-12)
    assert p == pytest.approx(ref.pvalue, abs=1e-12)


def test_example_permutation_batch_equals_general_form_with_shared_tokens():
    tok = np.tile(RNG.integers(5, 40, 300).astype(float), (4, 1))  # 4 seeds, same examples
    nll_a = tok * RNG.normal(2.0, 0.3, tok.shape)
    nll_b = nll_a + tok * RNG.normal(0.01, 0.3, tok.shape)
    _, p, exact = S.example_permutation_test(nll_a, tok, nll_b, tok, n_resamples=2000, seed=5)
    x = ((nll_a - nll_b) / tok.sum(1, keepdims=True)).mean(0)
    (p_batch,) = S.example_sign_flip_batch(x[None], n_resamples=2000, seed=5)
    assert not exact and p == pytest.approx(p_batch, abs=1e-12)


def test_one_level_example_bootstrap_agrees_with_scipy_paired_bootstrap():
    n = 400
    tok = RNG.integers(5, 60, n).astype(float)
    nll_a = tok * RNG.normal(2.0, 0.4, n)
    nll_b = nll_a + tok * RNG.normal(-0.02, 0.2, n)
    reps = S.two_level_bootstrap(nll_a, tok, nll_b, tok, n_resamples=20_000, seed=1, resample_seeds=False)
    ours = S.percentile_interval(reps, 0.95)
    ref = st.bootstrap(
        (nll_a, nll_b, tok),
        lambda a, b, t, axis: (a.sum(axis) - b.sum(axis)) / t.sum(axis),
        paired=True,
        vectorized=True,
        n_resamples=20_000,
        method="percentile",
        rng=np.random.default_rng(2),
    ).confidence_interval
    width = ref.high - ref.low
    assert ours == pytest.approx((ref.low, ref.high), abs=0.03 * width)  # Monte Carlo error of both


def test_seed_only_bootstrap_agrees_with_scipy_bootstrap_of_the_mean():
    d = RNG.normal(0.1, 0.2, 8)
    nll_a = np.column_stack([d + 3, np.full(8, 3.0)])  # two examples of one token each per seed
    nll_b = np.full((8, 2), 3.0)
    tok = np.ones((8, 2))
    reps = S.two_level_bootstrap(nll_a, tok, nll_b, tok, n_resamples=20_000, seed=4, resample_examples=False)
    ours = S.percentile_interval(reps, 0.9)
    ref = st.bootstrap(
        (d / 2,), np.mean, n_resamples=20_000, method="percentile", confidence_level=0.9, rng=1
    ).confidence_interval
    assert ours == pytest.approx((ref.low, ref.high), abs=0.03 * (ref.high - ref.low))


def test_two_level_bootstrap_is_seeded_and_pairs_the_arms():
    tok = np.ones((3, 50))
    nll = RNG.normal(2, 0.5, (3, 50))
    r1 = S.two_level_bootstrap(nll, tok, nll + 0.1, tok, n_resamples=500, seed=9)
    r2 = S.two_level_bootstrap(nll, tok, nll + 0.1, tok, n_resamples=500, seed=9)
    assert r1.tobytes() == r2.tobytes()
    # a constant shift on every example is recovered exactly by every paired replicate
    np.testing.assert_allclose(r1, -0.1, atol=1e-12)


@pytest.mark.parametrize("method", ["holm", "fdr_bh"])
def test_corrections_match_statsmodels(method):
    p = np.array([0.01, 0.04, 0.03, 0.2, 0.04, 0.5, 0.001, 0.049])
    ours = S.adjust(p, method)
    ref = multipletests(p, method=method)[1]
    np.testing.assert_allclose(ours, ref, rtol=1e-12)
    with_nan = S.adjust(np.array([0.01, np.nan, 0.03]), method)
    assert np.isnan(with_nan[1])
    np.testing.assert_allclose(with_nan[[0, 2]], multipletests([0.01, 0.03], method=method)[1])


def test_holm_by_hand():
    np.testing.assert_allclose(S.holm(np.array([0.01, 0.02, 0.03])), [0.03, 0.04, 0.04])


def test_effect_sizes_by_hand():
    d = np.array([1.0, 2.0, 3.0])  # mean 2, sd 1: d_z = 2, J = 1 - 3/7
    assert S.hedges_gz(d) == pytest.approx(2 * 4 / 7)
    assert S.share_better(np.array([-1.0, 0.0, 1.0, -2.0])) == 0.625
    nll_a = np.array([[1.0, 5.0, 2.0], [1.0, 3.0, 2.0]])
    nll_b = np.array([[2.0, 3.0, 2.0], [2.0, 3.0, 2.0]])
    assert S.win_rate(nll_a, nll_b) == pytest.approx((1 + 0 + 0.5) / 3)


@pytest.mark.parametrize("effect,alpha", [(0.5, 0.05), (1.2, 0.01), (-2.0, 0.05 / 5), (0.3, 0.05)])
def test_paired_t_power_matches_statsmodels(effect, alpha):
    from statsmodels.stats.power import TTestPower

    for n in (3, 8, 20):
        ref = TTestPower().power(effect_size=abs(effect), nobs=n, alpha=alpha, alternative="two-sided")
        assert S.paired_t_power(effect, n, alpha) == pytest.approx(ref, rel=1e-6, abs=1e-9)
    # where scipy's far tail underflows to NaN (statsmodels then answers NaN), the power is still defined
    assert 0.999 < S.paired_t_power(effect, 1000, alpha) <= 1.0


def test_seeds_for_power_is_the_smallest_n_statsmodels_solves_for():
    from statsmodels.stats.power import TTestPower

    d = np.array([-0.010, -0.004, -0.007, -0.012])
    effect = d.mean() / d.std(ddof=1)
    n = S.seeds_for_power(d, alpha=0.01, power=0.8)
    solved = TTestPower().solve_power(effect_size=abs(effect), alpha=0.01, power=0.8, alternative="two-sided")
    assert n == int(np.ceil(solved))
    assert S.paired_t_power(effect, n, 0.01) >= 0.8 > S.paired_t_power(effect, n - 1, 0.01)


def test_seeds_for_power_undefined_cases():
    assert S.seeds_for_power(np.array([-0.01]), 0.05) is None  # one seed: no spread estimate
    assert S.seeds_for_power(np.array([0.01, 0.01, 0.01]), 0.05) is None  # no spread
    assert S.seeds_for_power(np.array([0.01, -0.01]), 0.05) is None  # no difference
    assert S.seeds_for_power(np.array([0.001, -0.0009, 0.0012, -0.0011]), 0.05, max_n=50) is None
    # a larger spread for the same mean needs more seeds
    small = S.seeds_for_power(np.array([-0.010, -0.008, -0.012]), 0.05)
    large = S.seeds_for_power(np.array([-0.010, -0.000, -0.020]), 0.05)
    assert small is not None and large is not None and small < large

"""Calibration of the verdict policy on simulated studies: error rates, coverage and power.

A study of `J` strategies (the baseline first) × `n` seeds on a fixed eval set of `E` examples
with token counts t_e. For strategy j, seed s, example e the NLL sum is

    nll[j, s, e] = t_e · (μ_e + Δ_j + a_s + u_{j,s}) + sqrt(c · t_e^γ) · ε[j, s, e]

- a_s, the seed effect shared by every strategy (sd `sigma_shared`): it cancels in paired differences;
- u_{j,s}, the strategy-specific seed effect (sd `sigma_strategy`): it does not;
- ε, per-run, per-example noise whose variance grows with the example's token count (c, γ).

`fit_components` decomposes a real study into these components; `simulate_differences` draws the
per-seed paired differences (strategy − baseline) of many studies, and `rates` pushes them through
the same verdict functions `analysis.compare.correct` uses (`stats.interval_confidence`,
`stats.verdicts`). `benchmarks/calibration.py` prints the tables; tests run a smaller version.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from loralab.analysis import stats as S
from loralab.analysis.load import StudyData


@dataclass(frozen=True)
class Components:
    """Variance components of a study (nats/token), and the per-example noise law var = c · t^γ."""

    sigma_shared: float
    sigma_strategy: float
    noise_c: float
    noise_gamma: float
    tokens: tuple[float, ...]  # the eval set's supervised tokens per example

    def run_noise_sd(self) -> float:
        """sd of a run's token-weighted loss that the per-example noise alone causes."""
        t = np.asarray(self.tokens)
        return float(np.sqrt((self.noise_c * t**self.noise_gamma).sum()) / t.sum())

    def scaled(self, strategy_factor: float) -> Components:
        """The same study with the strategy-specific seed effect multiplied by `strategy_factor`."""
        return replace(self, sigma_strategy=self.sigma_strategy * strategy_factor)


def fit_components(data: StudyData) -> Components:
    """Decompose a finished study (one context, every strategy with the same seeds) into components."""
    done = data.done
    strategies = sorted(done["strategy"].unique())
    seeds = sorted(set.intersection(*(set(done[done.strategy == s].seed) for s in strategies)))
    rid = {(r.strategy, int(r.seed)): r.run_id for r in done.itertuples()}
    nll = np.stack(
        [[data.examples[rid[(j, s)]]["nll_sum"].to_numpy(float) for s in seeds] for j in strategies]
    )
    tok = data.examples[rid[(strategies[0], seeds[0])]]["tokens"].to_numpy(float)
    loss = nll.sum(-1) / tok.sum()  # (J, n)
    J, n = loss.shape
    resid = loss - loss.mean(1, keepdims=True) - loss.mean(0, keepdims=True) + loss.mean()
    var_resid = float((resid**2).sum() / ((J - 1) * (n - 1)))
    var_seed_means = float(loss.mean(0).var(ddof=1))
    keep = tok > 0
    per_token = nll[..., keep] / tok[keep]
    dev = per_token - per_token.mean(0, keepdims=True)  # across strategies, per seed and example
    var_sum = (dev**2).sum(0).mean(0) / (J - 1) * tok[keep] ** 2  # var of an example's NLL sum
    gamma, log_c = np.polyfit(np.log(tok[keep]), np.log(np.maximum(var_sum, 1e-300)), 1)
    comp = Components(0.0, 0.0, float(np.exp(log_c)), float(gamma), tuple(tok[keep]))
    noise = comp.run_noise_sd() ** 2
    return replace(
        comp,
        sigma_shared=float(np.sqrt(max(var_seed_means - var_resid / J, 0.0))),
        sigma_strategy=float(np.sqrt(max(var_resid - noise, 0.0))),
    )


def simulate_differences(
    comp: Components, effects: np.ndarray, n_seeds: int, n_studies: int, seed: int
) -> np.ndarray:
    """Per-seed differences strategy − baseline `(studies, J-1, n_seeds)` for true `effects` `(J-1,)`.

    Drawn from the per-example model exactly: a run's loss is μ + Δ_j + a_s + u_{j,s} + Σ_e noise / T,
    and the noise sum is normal with variance Σ_e c · t_e^γ, so it is drawn once per run. μ and a_s
    cancel in the differences; they are drawn anyway so that the model reads as written.
    """
    rng = S.rng_for(seed, n_seeds, n_studies)
    effects = np.asarray(effects, float)
    J = len(effects) + 1
    shape = (n_studies, J, n_seeds)
    shared = comp.sigma_shared * rng.standard_normal((n_studies, 1, n_seeds))
    specific = comp.sigma_strategy * rng.standard_normal(shape)
    noise = comp.run_noise_sd() * rng.standard_normal(shape)
    loss = np.concatenate([[0.0], effects])[None, :, None] + shared + specific + noise
    return loss[:, 1:, :] - loss[:, :1, :]


@dataclass(frozen=True)
class Rates:
    """What the verdict policy did over simulated studies (one row of the calibration table)."""

    studies: int
    family_wrong: float  # share of studies with any wrong better/worse (or wrong equivalent) verdict
    coverage: float  # share of studies whose intervals all cover their true differences
    interval_coverage: float  # share of single intervals covering the truth
    verdicts: dict[str, float]  # share of comparisons per verdict

    def mc_error(self, rate: float) -> float:
        """Binomial standard error of a rate over the studies."""
        return float(np.sqrt(max(rate * (1 - rate), 1e-12) / self.studies))


def rates(d: np.ndarray, effects: np.ndarray, margin: float, alpha: float = 0.05, looks: int = 1) -> Rates:
    """Verdicts of the family in each study `(studies, m, n)` against the true `effects` `(m,)`."""
    studies, m, _ = d.shape
    level = S.interval_confidence(alpha, m, looks)
    verdict, low, high = S.verdicts(d, level, margin)
    truth = np.asarray(effects, float)[None, :]
    wrong = (
        ((verdict == "better") & (truth >= 0))
        | ((verdict == "worse") & (truth <= 0))
        | ((verdict == "equivalent") & (np.abs(truth) >= margin))
    )
    covers = (low <= truth) & (truth <= high)
    return Rates(
        studies=studies,
        family_wrong=float(wrong.any(1).mean()),
        coverage=float(covers.all(1).mean()),
        interval_coverage=float(covers.mean()),
        verdicts={v: float((verdict == v).mean()) for v in S.VERDICTS},
    )


@dataclass(frozen=True)
class AdaptiveRates:
    """What the adaptive design did over simulated studies, beside a fixed design at its cap."""

    studies: int
    family_wrong: float  # any wrong verdict, at any look, among the verdicts the design reports
    verdicts: dict[str, float]  # share of comparisons per final verdict
    mean_runs: float  # runs per study, the baseline included
    fixed_runs: int  # runs of the fixed design with every strategy at the cap
    fixed_verdicts: dict[str, float]  # the fixed design's verdict shares (K = 1)


def adaptive_rates(
    comp: Components,
    effects: np.ndarray,
    looks: tuple[int, ...],
    margin: float,
    n_studies: int,
    seed: int,
    alpha: float = 0.05,
) -> AdaptiveRates:
    """Simulate `loralab.adaptive`: looks at `looks` seeds, more seeds only to unresolved comparisons.

    A comparison's verdict is the one at the look where it resolved (or the last look); the baseline
    gets seeds while any comparison is unresolved. Runs count every strategy's seeds, baseline included.
    """
    effects = np.asarray(effects, float)
    m, K = len(effects), len(looks)
    d = simulate_differences(comp, effects, looks[-1], n_studies, seed)
    level = S.interval_confidence(alpha, m, K)
    final = np.full((n_studies, m), "unresolved", dtype=object)
    active = np.ones((n_studies, m), bool)
    seeds_of = np.zeros((n_studies, m), int)
    base_seeds = np.zeros(n_studies, int)
    for n in looks:
        idx = active.any(1)
        base_seeds[idx] = n
        seeds_of[active] = n
        v, _, _ = S.verdicts(d[:, :, :n], level, margin)
        final[active] = v[active]
        active &= v == "unresolved"
    truth = effects[None, :]
    wrong = (
        ((final == "better") & (truth >= 0))
        | ((final == "worse") & (truth <= 0))
        | ((final == "equivalent") & (np.abs(truth) >= margin))
    )
    fixed, _, _ = S.verdicts(d, S.interval_confidence(alpha, m), margin)
    return AdaptiveRates(
        studies=n_studies,
        family_wrong=float(wrong.any(1).mean()),
        verdicts={v: float((final == v).mean()) for v in S.VERDICTS},
        mean_runs=float((seeds_of.sum(1) + base_seeds).mean()),
        fixed_runs=(m + 1) * looks[-1],
        fixed_verdicts={v: float((fixed == v).mean()) for v in S.VERDICTS},
    )

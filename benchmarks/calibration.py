"""Calibration of the verdict policy by simulation: family-wise error, coverage, power (issue 24).

Variance components are decomposed from the committed worked example (examples/alpaca-smollm2:
6 strategies x 3 seeds x 500 eval examples): the seed effect shared by strategies, the
strategy-specific seed effect, and the per-example noise with its dependence on token count.
Scenarios: that fit, and the same with a six-times-larger strategy-specific seed effect. Each row
simulates `--studies` studies of 6 strategies (5 comparisons with the baseline) through the same
verdict functions `loralab analyze` uses, at alpha = 0.05 and delta = 1 % of perplexity.

    python benchmarks/calibration.py [--studies 4000] [--seed 0]

Truths: null (every Δ = 0), 2δ (Δ = -2δ, -2δ, 0, +2δ, +2δ: power is the share of the four non-zero
comparisons called better/worse in the right direction), and equivalence (every Δ = 0: power is the
share called equivalent). Asserts nothing.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np

from loralab.analysis.calibration import adaptive_rates, fit_components, rates, simulate_differences
from loralab.analysis.load import load_study_dir

STORE = Path(__file__).resolve().parents[1] / "examples/alpaca-smollm2/store/alpaca-smollm2"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--studies", type=int, default=4000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--alpha", type=float, default=0.05)
    args = ap.parse_args()
    margin = math.log1p(0.01)
    fitted = fit_components(load_study_dir(STORE))
    print(
        f"fitted to {STORE.name}: shared seed sd {fitted.sigma_shared:.5f}, strategy-specific seed sd"
        f" {fitted.sigma_strategy:.5f}, per-example noise var = {fitted.noise_c:.4g} * tokens^"
        f"{fitted.noise_gamma:.3f} (run-level sd {fitted.run_noise_sd():.5f});"
        f" delta = {margin:.5f} nats/token"
    )
    print(f"alpha {args.alpha}, {args.studies} studies per row, simulation seed {args.seed}\n")
    print(
        "| scenario | seeds | truth | wrong verdict (family) | MC se | family coverage | interval coverage"
        " | better/worse | equivalent | unresolved |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    truths = {
        "null": np.zeros(5),
        "2δ": np.array([-2, -2, 0, 2, 2]) * margin,
    }
    for name, comp in (("fitted", fitted), ("6x strategy sd", fitted.scaled(6))):
        for n in (3, 5, 10):
            for truth_name, effects in truths.items():
                d = simulate_differences(comp, effects, n, args.studies, args.seed)
                r = rates(d, effects, margin, args.alpha)
                if truth_name == "2δ":
                    from loralab.analysis import stats as S

                    v, _, _ = S.verdicts(d, S.interval_confidence(args.alpha, 5), margin)
                    right = np.where(effects < 0, "better", np.where(effects > 0, "worse", ""))
                    power = float((v[:, effects != 0] == right[effects != 0]).mean())
                    directional = f"power {power:.3f}"
                else:
                    directional = f"{r.verdicts['better'] + r.verdicts['worse']:.4f}"
                print(
                    f"| {name} | {n} | {truth_name} | {r.family_wrong:.4f} | {r.mc_error(args.alpha):.4f} |"
                    f" {r.coverage:.4f} | {r.interval_coverage:.4f} | {directional} |"
                    f" {r.verdicts['equivalent']:.3f} | {r.verdicts['unresolved']:.3f} |"
                )
    adaptive_table(fitted, margin, args.studies, args.seed, args.alpha)


def adaptive_table(fitted, margin: float, studies: int, seed: int, alpha: float) -> None:
    """The adaptive design (pilot 3, looks at 3, 6, 10 seeds) beside a fixed 10-seed design."""
    print("\nadaptive design, looks at 3, 6, 10 seeds (Bonferroni over 5 comparisons x 3 looks), beside a")
    print("fixed design with every strategy at 10 seeds (Bonferroni over 5 comparisons):\n")
    print(
        "| scenario | truth | wrong verdict (family) | better/worse | equivalent | unresolved | mean runs |"
        " fixed: runs | fixed: better/worse | fixed: equivalent | fixed: unresolved |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    truths = {"null": np.zeros(5), "2δ": np.array([-2, -2, 0, 2, 2]) * margin}
    for name, comp in (
        ("fitted", fitted),
        ("6x strategy sd", fitted.scaled(6)),
        ("24x strategy sd", fitted.scaled(24)),
    ):
        for truth_name, effects in truths.items():
            r = adaptive_rates(comp, effects, (3, 6, 10), margin, studies, seed, alpha)
            v, f = r.verdicts, r.fixed_verdicts
            print(
                f"| {name} | {truth_name} | {r.family_wrong:.4f} | {v['better'] + v['worse']:.3f} |"
                f" {v['equivalent']:.3f} | {v['unresolved']:.3f} | {r.mean_runs:.1f} | {r.fixed_runs} |"
                f" {f['better'] + f['worse']:.3f} | {f['equivalent']:.3f} | {f['unresolved']:.3f} |"
            )


if __name__ == "__main__":
    main()

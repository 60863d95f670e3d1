"""A generative model of paired LoRA studies with seed-level and example-level noise (for calibration).

For arm k ∈ {a, b}, seed s and eval example e (tokens t_e, difficulty μ_e shared by every run):

    nll[k, s, e] = t_e · (μ_e + effect·[k = a] + σ_seed · z[k, s] + σ_example · ε[k, s, e])

z is the training-seed effect of a run (one number per trained adapter, shared by all its examples);
ε is per-run, per-example noise. The eval split is fixed, so examples are crossed with seeds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Design:
    n_studies: int = 2000
    n_seeds: int = 6
    n_examples: int = 200
    sigma_seed: float = 0.01  # nats/token: sd of a trained adapter's overall offset
    sigma_example: float = 0.05  # nats/token: sd of a run's per-example deviation


def simulate(design: Design, effect: float, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """NLL sums of arms a and b `(studies, seeds, examples)` and tokens `(studies, examples)`."""
    rng = np.random.default_rng(seed)
    n, s, e = design.n_studies, design.n_seeds, design.n_examples
    tokens = rng.integers(5, 60, size=(n, e)).astype(float)
    mu = rng.normal(2.0, 0.5, size=(n, 1, e))

    def arm(shift: float) -> np.ndarray:
        z = rng.normal(size=(n, s, 1))
        eps = rng.normal(size=(n, s, e))
        return tokens[:, None, :] * (mu + shift + design.sigma_seed * z + design.sigma_example * eps)

    return arm(effect), arm(0.0), tokens

"""Had training converged? What the baseline's eval curve says over the last quarter of training.

The verdicts compare strategies after a fixed number of steps; a reader needs to know whether the
adapters were still improving when training stopped, since differences between strategies can grow
or shrink with longer training. The evidence is the eval loss on the study's fixed eval set at
evaluations during training (`train.eval_every`), from the study's own baseline runs or from a
companion study that repeats the baseline with frequent evaluations (`analysis.learning_curve`).

The rule, stated in the paper with its numbers: the drop of the eval loss from the last evaluation at
or before 75 % of training to the final one, mean over seeds. Training counts as *still falling*
when that drop exceeds δ (the study's smallest effect of interest) and, with two or more seeds, its
t-interval over seeds excludes zero. With fewer than three evaluations (the base model at step 0 and
the final one) there is no curve, and nothing is concluded.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from loralab.analysis.schema import Convergence, Interval
from loralab.analysis.stats import t_interval

LAST_PART = 0.25  # the final share of training whose eval-loss drop is judged
MIN_EVALS = 3  # step 0 (base model), at least one evaluation during training, the final one


def convergence(
    curves: pd.DataFrame, total_steps: int, margin: float, confidence: float, *, strategy: str, study: str
) -> Convergence | None:
    """The convergence fact from eval curves (columns seed, step, loss; one strategy's runs).

    None when no run has `MIN_EVALS` evaluations reaching the final step."""
    if curves.empty or total_steps <= 0:
        return None
    cut = (1 - LAST_PART) * total_steps
    per_seed: dict[int, tuple[int, float, float, float]] = {}
    for seed, g in curves.groupby("seed", sort=True):
        g = g.sort_values("step")
        steps = g["step"].to_numpy()
        if len(steps) < MIN_EVALS or steps[-1] != total_steps:
            continue
        early = g[(g["step"] > 0) & (g["step"] <= cut)]  # an evaluation during training
        if early.empty or early["step"].iloc[-1] == steps[-1]:
            continue
        start = early.iloc[-1]
        first = float(g["loss"].iloc[0]) if steps[0] == 0 else float("nan")
        per_seed[int(seed)] = (int(start["step"]), float(start["loss"]), float(g["loss"].iloc[-1]), first)
    if not per_seed:
        return None
    starts = {v[0] for v in per_seed.values()}
    if len(starts) > 1:  # seeds evaluated at different steps: keep the most common start only
        common = max(starts, key=lambda s: sum(v[0] == s for v in per_seed.values()))
        per_seed = {k: v for k, v in per_seed.items() if v[0] == common}
    start_step = next(iter(per_seed.values()))[0]
    seeds = sorted(per_seed)
    start_loss = np.array([per_seed[s][1] for s in seeds])
    end_loss = np.array([per_seed[s][2] for s in seeds])
    base_loss = np.array([per_seed[s][3] for s in seeds])
    drops = start_loss - end_loss
    drop = float(drops.mean())
    ci = None
    if len(seeds) >= 2:
        lo, hi = t_interval(drops, confidence)
        ci = Interval(low=float(lo), high=float(hi), method="t over seeds", confidence=confidence)
    still = drop > margin and (ci is None or ci.low > 0)
    return Convergence(
        study=study,
        strategy=strategy,
        seeds=seeds,
        eval_steps=sorted(int(s) for s in curves["step"].unique()),
        total_steps=int(total_steps),
        start_step=int(start_step),
        loss_base=None if np.isnan(base_loss).any() else float(base_loss.mean()),
        loss_start=float(start_loss.mean()),
        loss_end=float(end_loss.mean()),
        drop=drop,
        drop_ci=ci,
        still_falling=bool(still),
    )

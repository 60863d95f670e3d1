"""Is a lever's eval loss equal within noise? Two studies' runs of one strategy, paired by seed.

For a change that should not change what training learns (another dropout generator, say), run the
same strategy and seeds in a second study with only that change, then compare the two, run for run:
per seed, the eval losses and their difference; over seeds and examples, loralab's own statistics
(`loralab.analysis.stats`): the mean difference (b - a) with a two-level bootstrap interval (seeds,
then examples), the example-level paired permutation test, and the seed-to-seed spread of study a
as the yardstick of noise. Asserts nothing.

    python benchmarks/paired_studies.py examples/alpaca-smollm2/store/alpaca-smollm2 \\
        examples/alpaca-smollm2/store/alpaca-smollm2-fast-dropout --strategy uniform
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from loralab.analysis.load import example_matrix, load_study_dir
from loralab.analysis.stats import (
    example_permutation_test,
    percentile_interval,
    token_loss,
    two_level_bootstrap,
)


def runs_by_seed(directory: str, strategy: str) -> dict[int, str]:
    study = load_study_dir(directory)
    done = study.done
    if "strategy" in done:
        done = done[done["strategy"].fillna(strategy) == strategy]
    return {int(study.configs[r]["train"]["seed"]): r for r in done["run_id"]}, study


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("a", help="study directory of the reference arm (<root>/<study>)")
    ap.add_argument("b", help="study directory of the changed arm")
    ap.add_argument("--strategy", default="uniform")
    ap.add_argument("--resamples", type=int, default=10_000)
    args = ap.parse_args()
    (runs_a, study_a), (runs_b, study_b) = (runs_by_seed(d, args.strategy) for d in (args.a, args.b))
    seeds = sorted(set(runs_a) & set(runs_b))
    if not seeds:
        sys.exit(f"no seed has a finished {args.strategy!r} run in both studies")
    frames = [study_a.examples[runs_a[s]] for s in seeds] + [study_b.examples[runs_b[s]] for s in seeds]
    _, nll, tok = example_matrix(frames)
    k = len(seeds)
    nll_a, tok_a, nll_b, tok_b = nll[:k], tok[:k], nll[k:], tok[k:]
    loss_a, loss_b = token_loss(nll_a, tok_a), token_loss(nll_b, tok_b)
    print(f"{args.strategy}: a = {study_a.name}, b = {study_b.name}; {nll.shape[1]} eval examples")
    print(f"{'seed':>6}{'a':>10}{'b':>10}{'b - a':>10}")
    for s, la, lb in zip(seeds, loss_a, loss_b, strict=True):
        print(f"{s:>6}{la:>10.4f}{lb:>10.4f}{lb - la:>+10.4f}")
    boot = two_level_bootstrap(nll_b, tok_b, nll_a, tok_a, n_resamples=args.resamples, seed=0)
    lo, hi = percentile_interval(boot, 0.95)
    diff, p, exact = example_permutation_test(nll_b, tok_b, nll_a, tok_a, n_resamples=args.resamples)
    print(f"mean b - a: {diff:+.4f} nats/token, 95% CI [{lo:+.4f}, {hi:+.4f}] (two-level bootstrap)")
    print(f"example-level paired permutation test: p = {p:.3f}{' (exact)' if exact else ''}")
    all_a = study_a.done[study_a.done.get("strategy", args.strategy) == args.strategy]["eval_loss"]
    print(
        f"yardstick: study a's {args.strategy} runs over {len(all_a)} seeds span {all_a.min():.4f}-"
        f"{all_a.max():.4f} ({all_a.max() - all_a.min():.4f}); |b - a| per seed at most "
        f"{np.max(np.abs(loss_b - loss_a)):.4f}"
    )


if __name__ == "__main__":
    main()

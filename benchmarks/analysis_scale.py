"""Wall time of `loralab analyze` on a generated store of 1,000 runs × 2,000 eval examples.

Usage: PYTHONPATH=. python benchmarks/analysis_scale.py [--runs-dir /tmp/analysis-scale] [--resamples 10000]
Generates (once) 5 strategies × 4 budgets × 10 learning rates × 5 seeds = 1,000 runs with synthetic
per-example NLL (tests/analysis/generated_store.py), then times loading, statistics and every
artifact. Prints numbers; asserts nothing. The issue's target is ≤ 30 s on 2 cores.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from loralab.analysis.figures import write_figures
from loralab.analysis.load import load_study_dir
from loralab.analysis.pipeline import analyze
from loralab.analysis.schema import Settings
from loralab.analysis.study_stats import study_stats
from tests.analysis.generated_store import EFFECTS, generate_store

STRATEGIES = EFFECTS | {"middle-heavy": 0.002}
BUDGETS = ("r2", "r4", "r8", "r16")
LRS = tuple(1e-4 * (i + 1) for i in range(10))
SEEDS = (0, 1, 2, 3, 4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs-dir", type=Path, default=Path("/tmp/analysis-scale"))
    parser.add_argument("--resamples", type=int, default=10_000)
    parser.add_argument("--examples", type=int, default=2000)
    args = parser.parse_args()
    directory = args.runs_dir / "scale"
    if not (directory / "study.yaml").exists():
        t0 = time.perf_counter()
        generate_store(
            args.runs_dir, "scale", strategies=STRATEGIES, budgets=BUDGETS, seeds=SEEDS, lrs=LRS,
            n_examples=args.examples, curve_steps=20,
        )  # fmt: skip
        print(f"generated 1,000 runs in {time.perf_counter() - t0:.1f}s under {directory}")
    settings = Settings(n_resamples=args.resamples)

    t0 = time.perf_counter()
    data = load_study_dir(directory)
    t_load = time.perf_counter() - t0
    stats = study_stats(data, settings)
    t_stats = time.perf_counter() - t0 - t_load
    write_figures(stats, data, args.runs_dir / "figures-only")
    t_fig = time.perf_counter() - t0 - t_load - t_stats
    print(
        f"{len(data.done)} runs × {args.examples} examples, {settings.n_resamples} resamples:"
        f" load {t_load:.1f}s, statistics {t_stats:.1f}s ({len(stats.comparisons)} comparisons,"
        f" {len(stats.summaries)} cells), figures {t_fig:.1f}s"
    )
    t0 = time.perf_counter()
    analyze(directory, settings=settings)
    print(f"loralab analyze end to end (every file): {time.perf_counter() - t0:.1f}s")


if __name__ == "__main__":
    main()

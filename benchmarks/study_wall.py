"""A small study's wall time with and without the study cache, and 1 worker x 2 threads vs 2 x 1.

Arms (the same study, each in a fresh store, run by the real `loralab study` command):
  nocache-1x2   output.cache=false, --workers 1, train.threads=2
  cache-1x2     output.cache=true,  --workers 1, train.threads=2
  cache-2x1     output.cache=true,  --workers 2, train.threads=1
For each: the whole command's wall time, and each run's overhead outside training (session wall
minus training steps minus the final eval: model load, tokenisation, signals, base eval), for the
first run to finish and for the later ones. Ratios are to `nocache-1x2`. Asserts nothing.

    python benchmarks/study_wall.py                                   # tiny GPT-2, about 2 minutes
    python benchmarks/study_wall.py --model smollm2-135m --data ../shared/data/alpaca/alpaca_data.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ARMS = {"nocache-1x2": (False, 1, 2), "cache-1x2": (True, 1, 2), "cache-2x1": (True, 2, 1)}


def run_arm(name: str, args: argparse.Namespace, root: Path) -> dict[str, float]:
    cache, workers, threads = ARMS[name]
    study = root / "study.yaml"
    grid = {"strategies": args.strategies.split(","), "budgets": ["r8"], "seeds": list(range(args.seeds))}
    base = str(REPO / "configs" / "tiny.yaml")
    study.write_text(json.dumps({"name": "wall", "baseline": "uniform", "base": base, "grid": grid}))
    overrides = [
        f"base.model.name={args.model}", f"base.data.source={args.data}",
        f"base.train.max_steps={args.steps}", f"base.data.max_examples={args.examples}",
        "base.train.eval_every=0", "base.train.checkpoint_every=0",
        f"base.train.threads={threads}", f"base.output.root={root / 'store'}",
        f"base.output.cache={str(cache).lower()}", "base.tracking.progress=false",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": str(threads), "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "loralab", "study", str(study), *overrides, "--workers", str(workers)]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    times = sorted(  # in the order the runs finished
        (p.stat().st_mtime, json.loads(p.read_text())) for p in (root / "store" / "wall").glob("*/eval.json")
    )
    overhead = [r["session_wall_s"] - r["train_wall_s"] - r["eval_seconds"] for _, r in times]
    return {"wall": wall, "first": overhead[0], "later": statistics.mean(overhead[1:]), "runs": len(overhead)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="tiny-gpt2")
    ap.add_argument("--data", default="synthetic")
    ap.add_argument("--strategies", default="uniform,gradient,spectrum")
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--examples", type=int, default=400)
    ap.add_argument("--repeats", type=int, default=1, help="interleaved repeats; medians reported")
    args = ap.parse_args()
    print(f"load average at start: {os.getloadavg()}")
    print(
        f"study: {args.strategies} x r8 x {args.seeds} seeds, {args.model}, {args.data}, {args.steps} steps"
    )
    results: dict[str, list[dict[str, float]]] = {a: [] for a in ARMS}
    for rep in range(args.repeats):
        for arm in list(ARMS) if rep % 2 == 0 else list(ARMS)[::-1]:
            with tempfile.TemporaryDirectory() as d:
                results[arm].append(run_arm(arm, args, Path(d)))
    med = {a: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for a, rs in results.items()}
    base = med["nocache-1x2"]
    print(f"{'arm':<14}{'wall s':>8}{'vs nocache':>12}{'overhead 1st':>14}", end="")
    print(f"{'overhead later':>16}{'later/1st':>11}")
    for arm, m in med.items():
        print(
            f"{arm:<14}{m['wall']:>8.1f}{base['wall'] / m['wall']:>11.2f}x{m['first']:>13.2f}s"
            f"{m['later']:>15.2f}s{m['later'] / m['first']:>10.2f}x"
        )
    print(
        f"later runs' overhead, no cache / cache (1x2): {base['later'] / med['cache-1x2']['later']:.2f}x;"
        f" 2x1 / 1x2 wall (cache): {med['cache-1x2']['wall'] / med['cache-2x1']['wall']:.2f}x faster"
    )
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()

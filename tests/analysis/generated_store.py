"""A generated results store: run directories with synthetic eval files, written with the store's writers.

For statistics tests and the scale benchmark (no training). Each run's per-example NLL follows the
generative model of simulate.py: an example difficulty shared by all runs, a strategy effect, a
seed offset per run and per-run example noise. Strategy effects are in nats/token (negative: better).
"""

from __future__ import annotations

import hashlib
import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from loralab.config import RunConfig
from loralab.record import MetricScore
from loralab.store import Store, atomic_write_parquet, atomic_write_text

from ..runner.fakes import fake_record

EFFECTS = {"uniform": 0.0, "linear-decay": -0.03, "attention-heavy": 0.01, "spectrum": -0.005}


def generate_store(
    root: Path,
    study: str = "gen",
    *,
    strategies: dict[str, float] = EFFECTS,
    budgets: tuple[str, ...] = ("r8",),
    seeds: tuple[int, ...] = (0, 1, 2),
    lrs: tuple[float, ...] = (3e-4,),
    n_examples: int = 200,
    sigma_seed: float = 0.01,
    sigma_example: float = 0.05,
    states: dict[tuple[str, str, int], str] | None = None,
    curve_steps: int = 5,
    seed: int = 0,
    write_plan: bool = True,
    config: dict[str, dict[str, Any]] | None = None,
    accuracy: dict[str, float] | None = None,
) -> Path:
    """Write `<root>/<study>/` with one run per strategy × budget × lr × seed; returns the study dir.

    `states` marks some (strategy, budget, seed) runs as failed/running/pending (no eval files) or
    'missing' (no directory at all, but listed in the plan). `config` updates config sections of
    every run, e.g. `{"data": {"source": "/some/file.json"}}`. `accuracy` (strategy -> probability of
    an exact match) adds per-example `exact_match` (0/1) and `task` columns, drawn from their own
    generator so the losses are the same with or without them; the base model scores 0.1.
    """
    acc_rng = np.random.default_rng(seed + 1000)
    rng = np.random.default_rng(seed)
    tokens = rng.integers(5, 60, n_examples).astype(float)
    mu = rng.normal(2.0, 0.5, n_examples)
    base_tree = RunConfig().model_dump(mode="json")
    store = Store(root)
    plan = []
    grid_fields = {"train.lr": list(lrs)} if len(lrs) > 1 else {}
    for strategy, budget, lr, s in itertools.product(strategies, budgets, lrs, seeds):
        tree = json.loads(json.dumps(base_tree))
        tree["lora"].update(strategy=strategy, budget=budget)
        tree["train"].update(seed=s, lr=lr)
        tree["output"].update(root=str(root), study=study)
        for section, values in (config or {}).items():
            tree[section].update(values)
        run_id = hashlib.sha256(json.dumps(tree, sort_keys=True).encode()).hexdigest()[:12]
        point = {"lora.strategy": strategy, "lora.budget": budget, "train.seed": s, "model.name": "gen"}
        plan.append({"run_id": run_id, "point": point | ({"train.lr": lr} if grid_fields else {})})
        state = (states or {}).get((strategy, budget, s), "done")
        if state == "missing":
            continue
        rd = store.create(study, run_id, {"run_id": run_id, "config": tree, "provenance": {}})
        rank = int(budget.lstrip("r"))
        effect = strategies[strategy] - 0.002 * rank
        offset = sigma_seed * rng.normal()
        nll = tokens * (mu + effect + offset + sigma_example * rng.normal(size=n_examples))
        if state != "done":
            rd.set_status(state, **({"error": "synthetic failure"} if state == "failed" else {}))
            continue
        frame = pd.DataFrame({"example": np.arange(n_examples), "nll_sum": nll, "tokens": tokens})
        frame["nll_mean"] = frame["nll_sum"] / frame["tokens"]
        base = frame.assign(nll_sum=tokens * (mu + 0.3), nll_mean=mu + 0.3)
        if accuracy is not None:
            task = np.array(["add", "copy"])[np.arange(n_examples) % 2]
            frame["task"] = base["task"] = task
            frame["exact_match"] = (acc_rng.random(n_examples) < accuracy[strategy]).astype(np.int64)
            base["exact_match"] = (acc_rng.random(n_examples) < 0.1).astype(np.int64)
        atomic_write_parquet(rd.eval_examples, frame)
        atomic_write_parquet(rd.base_eval_examples, base)
        loss = float(nll.sum() / tokens.sum())
        params = 1000 * rank
        base_loss = float(base["nll_sum"].sum() / tokens.sum())
        record = fake_record(
            strategy=strategy, seed=s, budget_spec=budget, eval_loss=loss, eval_ppl=float(np.exp(loss)),
            base_eval_loss=base_loss, base_eval_ppl=float(np.exp(base_loss)), trainable_params=params,
            peak_trainable_params=params, budget_params=params, allocated_params=params,
            eval_examples=n_examples, eval_tokens=int(tokens.sum()),
        )  # fmt: skip
        if accuracy is not None:
            score = MetricScore(
                base=float(base["exact_match"].mean()), final=float(frame["exact_match"].mean())
            )
            record = record.model_copy(update={"scores": {"exact_match": score}})
        rd.write_record(record)
        rd.write_json(rd.allocation, _allocation(strategy, rank))
        rd.append_metrics({"type": "eval", "base": True, "step": 0, "eval_loss": base_loss})
        for step in range(1, curve_steps + 1):
            rd.append_metrics(
                {
                    "type": "train",
                    "step": step,
                    "loss": float(loss + 1.0 / step + 0.01 * rng.normal()),
                    "tokens": 50 + (step * 37) % 100,  # varied, without drawing from rng
                }
            )
            if step == curve_steps // 2:
                rd.append_metrics({"type": "eval", "step": step, "eval_loss": (loss + base_loss) / 2})
        rd.append_metrics({"type": "eval", "step": curve_steps, "eval_loss": loss})
        rd.set_status("done")
    if write_plan:
        record: dict[str, Any] = {"name": study, "baseline": next(iter(strategies)), "runs": plan}
        atomic_write_text(root / study / "study.yaml", yaml.safe_dump(record, sort_keys=False))
    return root / study


def _allocation(strategy: str, rank: int) -> dict:
    modules = []
    for layer in range(4):
        for kind in ("attn_qkv", "attn_out", "mlp_in", "mlp_out"):
            r = rank if strategy == "uniform" else max(0, rank + (2 - layer) * (1 if "attn" in kind else -1))
            modules.append(
                {"name": f"h.{layer}.{kind}", "layer": layer, "kind": kind, "rank": r, "cost": r * 10}
            )
    record: dict[str, Any] = {"strategy": strategy, "modules": modules}
    if strategy == "adalora":  # a dynamic strategy: initial/final allocations and a shrinking budget
        trajectory = [
            {"step": s, "params": 1500.0 * rank * (1 - s / 24), "ranks": {}} for s in range(0, 12, 2)
        ]
        record = {"initial": record, "final": record, "peak_params": 1500 * rank, "trajectory": trajectory}
    return record

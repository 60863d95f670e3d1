"""A stand-in for `loralab.experiment.execute_run` with the same contract and store layout, but no
model: it "trains" by sleeping, logs a deterministic loss per step, checkpoints and resumes.

Knobs come from `lora.strategy_options` (part of the run id, free-form): `sleep` (seconds per step),
`fail` (raise at that step), `die` (kill the process at that step, after its checkpoint), `die_once`
(the same, only on the first attempt), `steps` (steps when train.max_steps is unset; default 5).
Every attempt also writes env.json: the thread and GPU settings its worker process had.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from typing import Any

from loralab.config import RunConfig
from loralab.record import DataStats, RunRecord
from loralab.store import RunDir, Store, atomic_write_json


@dataclass
class FakeResult:
    run_dir: RunDir
    skipped: bool
    record: RunRecord | None

    def summary(self) -> str:
        return f"{'already done' if self.skipped else 'done'}: {self.run_dir.path}"


def fake_record(**fields: Any) -> RunRecord:
    """A complete, valid run record with made-up values; `fields` override them."""
    data = DataStats(
        n_records=10, n_train=8, n_eval=2, dropped_no_supervised=0, dropped_no_supervised_train=0,
        dropped_no_supervised_eval=0, mean_length=12.0, max_length=20, train_set_tokens=96,
        train_set_supervised_tokens=40, padding_batch_size=8, padding_fraction_grouped=0.1,
        padding_fraction_random=0.2,
    )  # fmt: skip
    values: dict[str, Any] = dict(
        strategy="uniform", seed=0, budget_spec="uniform_r8", budget_params=1000, allocated_params=1000,
        budget_status="PASS", trainable_params=1000, peak_trainable_params=1000, total_params=10_000,
        base_eval_loss=3.0, base_eval_ppl=20.0, eval_loss=2.0, eval_ppl=7.4, eval_tokens=40,
        eval_examples=2, eval_seconds=0.1, train_steps=5, train_supervised_tokens=200,
        train_examples=40, train_wall_s=0.3, final_train_loss=2.1, signals_wall_s=0.0,
        total_wall_s=0.5, precision="fp32", device="cpu", peak_rss_mb=100.0, data=data,
    )  # fmt: skip
    return RunRecord(**(values | fields))


def fake_loss(seed: int, step: int) -> float:
    return 10.0 / (step + 1) + seed * 0.01


def fake_run(cfg: RunConfig, *, heartbeat: Any = None) -> FakeResult:
    """Mimic execute_run: skip if done, resume from the checkpoint, mark running/done/failed."""
    opts = cfg.lora.strategy_options
    store = Store(cfg.output.root)
    rd = store.run_dir(cfg.output.study, cfg.run_id())
    if rd.path.exists() and rd.state == "done":
        return FakeResult(rd, True, rd.read_record())
    rd = store.create(
        cfg.output.study, cfg.run_id(), {"run_id": cfg.run_id(), "config": cfg.model_dump(mode="json")}
    )
    rd.set_status("running", pid=os.getpid())
    ckpt = rd.path / "fake_checkpoint.json"
    import torch  # pinned by the worker before the run starts

    env = {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "CUDA_VISIBLE_DEVICES")}
    atomic_write_json(
        rd.path / "env.json", env | {"torch_threads": torch.get_num_threads(), "pid": os.getpid()}
    )
    try:
        start = json.loads(ckpt.read_text())["step"] if ckpt.exists() else 0
        rd.truncate_metrics(start)
        max_steps = cfg.train.max_steps or int(opts.get("steps", 5))
        for step in range(start + 1, max_steps + 1):
            if heartbeat is not None:
                heartbeat()
            time.sleep(float(opts.get("sleep", 0.0)))
            if opts.get("fail") == step:
                raise RuntimeError(f"fake failure at step {step}")
            rd.append_metrics(
                {"type": "train", "step": step, "loss": fake_loss(cfg.train.seed, step), "pid": os.getpid()}
            )
            atomic_write_json(ckpt, {"step": step})
            if opts.get("die") == step:
                os._exit(3)
            marker = rd.path / "died_once"
            if opts.get("die_once") == step and not marker.exists():
                marker.write_text(str(os.getpid()))
                os._exit(3)
        result = fake_record(
            strategy=cfg.lora.strategy,
            seed=cfg.train.seed,
            eval_loss=fake_loss(cfg.train.seed, max_steps),
            total_wall_s=0.5,
            train_steps=max_steps,
        )
        rd.write_record(result)
    except BaseException as e:
        rd.set_status("failed", error=f"{type(e).__name__}: {e}")
        raise
    rd.set_status("done", eval_loss=result.eval_loss, steps=max_steps)
    return FakeResult(rd, False, result)


def verdict_run(cfg: RunConfig, *, heartbeat: Any = None) -> FakeResult:
    """fake_run plus eval_examples.parquet whose per-seed offset has sd `spread` (strategy option).

    Every run shares the examples and token counts; a run's loss is 2 + spread · z(seed, strategy),
    so a small spread makes a comparison equivalent and a large one leaves it unresolved.
    """
    import hashlib

    import numpy as np
    import pandas as pd

    from loralab.store import atomic_write_parquet

    result = fake_run(cfg, heartbeat=heartbeat)
    if not result.skipped:
        spread = float(cfg.lora.strategy_options.get("spread", 0.0))
        key = int(hashlib.sha256(cfg.lora.strategy.encode()).hexdigest()[:8], 16)
        z = np.random.default_rng([cfg.train.seed, key]).standard_normal()
        tokens = np.arange(5, 25, dtype=float)
        frame = pd.DataFrame(
            {"example": np.arange(20), "nll_sum": tokens * (2.0 + spread * z), "tokens": tokens}
        )
        atomic_write_parquet(result.run_dir.eval_examples, frame)
    return result


_KEPT: list[Any] = []


def semaphore_run(cfg: RunConfig, *, heartbeat: Any = None) -> FakeResult:
    """`fake_run` in a worker that made a semaphore (as tqdm's lock does) and takes 1 s to exit: killed
    before it exits, the worker leaves the semaphore registered with the resource tracker."""
    import multiprocessing as mp
    from multiprocessing import util

    _KEPT.append(mp.get_context("spawn").Semaphore())
    # Finalizers of one priority run newest first: this sleep, then the semaphore's unregistering.
    util.Finalize(None, time.sleep, args=(1.0,), exitpriority=0)
    return fake_run(cfg, heartbeat=heartbeat)


class DiesOnArrival:
    """A run function whose worker exits (code 3) while unpickling its job, before any task."""

    def __reduce__(self):
        return (os._exit, (3,))

    def __call__(self, cfg: RunConfig, *, heartbeat: Any = None) -> Any:  # never reached
        raise AssertionError("unreachable")

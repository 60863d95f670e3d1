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
from loralab.store import RunDir, Store, atomic_write_json


@dataclass
class FakeResult:
    run_dir: RunDir
    skipped: bool
    eval: dict[str, Any] | None

    def summary(self) -> str:
        return f"{'already done' if self.skipped else 'done'}: {self.run_dir.path}"


def fake_loss(seed: int, step: int) -> float:
    return 10.0 / (step + 1) + seed * 0.01


def fake_run(cfg: RunConfig, *, heartbeat: Any = None) -> FakeResult:
    """Mimic execute_run: skip if done, resume from the checkpoint, mark running/done/failed."""
    opts = cfg.lora.strategy_options
    store = Store(cfg.output.root)
    rd = store.run_dir(cfg.output.study, cfg.run_id())
    if rd.path.exists() and rd.state == "done":
        return FakeResult(rd, True, rd.read_json(rd.eval))
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
        result = {
            "eval_loss": fake_loss(cfg.train.seed, max_steps),
            "total_wall_s": 0.5,
            "train_steps": max_steps,
        }
        rd.write_json(rd.eval, result)
    except BaseException as e:
        rd.set_status("failed", error=f"{type(e).__name__}: {e}")
        raise
    rd.set_status("done", eval_loss=result["eval_loss"], steps=max_steps)
    return FakeResult(rd, False, result)

"""One run, end to end: data -> model -> allocation -> adapters -> train -> evaluate -> store.

Each stage is a plain call on plain data; this module only wires them and records what happened.
A run that is done is skipped, a run with a checkpoint resumes, a run that fails is marked failed
with the reason (and its earlier files are kept).
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from loralab.allocation import allocate, check_strategy, run_modules
from loralab.config import RunConfig
from loralab.errors import LoralabError, RunAbandoned, StoreError
from loralab.provenance import git_commit, provenance
from loralab.store import RunDir, Store, atomic_write_parquet, replace_dir
from loralab.train.callbacks import Callback, TrainState


@dataclass
class RunResult:
    """Where a run lives, whether it was skipped as already done, and its final metrics."""

    run_dir: RunDir
    skipped: bool
    eval: dict[str, Any] | None

    def summary(self) -> str:
        """One human line (plus the path)."""
        if self.eval is None:
            return f"{self.run_dir.path}: {self.run_dir.state}"
        e = self.eval
        verb = "already done" if self.skipped else "done"
        return (
            f"{verb}: {self.run_dir.path}\n"
            f"  strategy {e['strategy']}  budget {e['budget_spec']} = {e['budget_params']} params"
            f"  trainable {e['trainable_params']}  check {e.get('budget_status', '?')}\n"
            f"  eval loss {e['base_eval_loss']:.4f} -> {e['eval_loss']:.4f}  (ppl {e['eval_ppl']:.3f})"
            f"  steps {e['train_steps']}  wall {e['total_wall_s']:.1f}s"
        )


def spec_record(cfg: RunConfig) -> dict[str, Any]:
    """What spec.yaml holds: the run id, the resolved config and provenance."""
    return {"run_id": cfg.run_id(), "config": cfg.model_dump(mode="json"), "provenance": provenance()}


def execute_run(cfg: RunConfig, *, heartbeat: Any = None) -> RunResult:
    """Run `cfg` to completion in its run directory (skip if done, resume if interrupted)."""
    store = Store(cfg.output.root)
    rd = store.run_dir(cfg.output.study, cfg.run_id())
    if rd.path.exists() and rd.state == "done":
        return RunResult(rd, skipped=True, eval=rd.read_json(rd.eval) if rd.eval.exists() else None)
    check_strategy(cfg)  # a typo must not leave a failed run directory behind
    rd = store.create(cfg.output.study, cfg.run_id(), spec_record(cfg))
    rd.set_status("running", pid=os.getpid(), host=socket.gethostname(), git_commit=git_commit())
    try:
        metrics = _run_stages(cfg, rd, heartbeat)
    except RunAbandoned:
        raise  # another process owns the run now: its status is theirs to write
    except BaseException as e:
        if rd.state == "done":  # never turn a finished run into a failed one
            raise
        if isinstance(e, KeyboardInterrupt):
            rd.set_status("pending", error="interrupted; run again to resume from the last checkpoint")
        else:
            detail = "".join(traceback.format_exception_only(type(e), e)).strip()
            rd.set_status("failed", error=detail, **({} if isinstance(e, LoralabError) else {"bug": True}))
        raise
    rd.set_status("done", eval_loss=metrics["eval_loss"], steps=metrics["train_steps"])
    # Only now: a kill before `done` resumes from this checkpoint instead of starting over.
    shutil.rmtree(rd.checkpoint, ignore_errors=True)
    return RunResult(rd, skipped=False, eval=metrics)


def _run_stages(cfg: RunConfig, rd: RunDir, heartbeat: Any) -> dict[str, Any]:
    from loralab.evaluate import PeakMemory
    from loralab.train.determinism import resolve_device

    device = resolve_device(cfg.train.device)
    memory = PeakMemory(device).start()
    try:
        return _stages(cfg, rd, heartbeat, device, memory)
    finally:
        memory.stop()


def _stages(cfg: RunConfig, rd: RunDir, heartbeat: Any, device: torch.device, memory: Any) -> dict[str, Any]:
    from loralab.adapters import attach_lora, save_adapter
    from loralab.data import prepare_data
    from loralab.evaluate import evaluate
    from loralab.models import count_parameters, load_model
    from loralab.strategies import RankAllocation
    from loralab.train import MetricsLogger, ProgressBar, WandbLogger, total_steps, train
    from loralab.train.checkpoint import has_checkpoint
    from loralab.train.determinism import resolve_precision, seed_everything

    started = time.perf_counter()
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    seed_everything(cfg.train.seed)
    resuming = has_checkpoint(rd.checkpoint) and rd.allocation.exists()

    if not resuming:  # a run killed before its first checkpoint starts over, with a clean log
        rd.metrics.unlink(missing_ok=True)
        shutil.rmtree(rd.checkpoint, ignore_errors=True)  # one without its allocation is unusable
    loaded = load_model(cfg.model)
    model, tok = loaded.model.to(device), loaded.tokenizer  # on the GPU before signals are measured
    data = prepare_data(cfg.data, tok)
    modules = run_modules(model, cfg)

    signal_seconds = 0.0
    if resuming:
        record = rd.read_json(rd.allocation)
        # a dynamic run killed after writing its final ranks resumes from its initial allocation
        allocation = RankAllocation.from_dict(record.get("initial", record))
        signal_seconds = record.get("signals_wall_s", 0.0)
    else:
        outcome = allocate(cfg, model, modules, data.train, tok.pad_token_id)
        allocation, signal_seconds = outcome.allocation, outcome.signal_seconds
        record = allocation.to_dict()
        record["signals_wall_s"] = signal_seconds
        rd.write_json(rd.allocation, record)
        if outcome.signals.importance or outcome.signals.spectra:
            rd.write_json(
                rd.signals,
                {"importance": outcome.signals.importance, "spectra": outcome.signals.spectra},
            )
    seed_everything(cfg.train.seed)  # the adapter init must not depend on what signals consumed
    max_steps = total_steps(cfg.train, len(data.train))
    peft_model = attach_lora(model, allocation, cfg.lora, seed=cfg.train.seed, total_steps=max_steps)
    trainable, total = count_parameters(peft_model)
    peft_model.to(device)

    last_eval: list[Any] = []

    def run_eval() -> dict[str, Any]:
        if heartbeat is not None:
            heartbeat()
        result = evaluate(
            peft_model, data.eval, batch_size=cfg.train.eval_batch_size, pad_id=tok.pad_token_id,
            device=device,
        )  # fmt: skip
        last_eval[:] = [result]
        return result.summary()

    if resuming and rd.base_eval.exists():
        base = rd.read_json(rd.base_eval)
        precision = base.get("precision", cfg.train.precision)  # what the run started with
    else:
        probe = _precision_probe(peft_model, data.train, cfg.train.batch_size, tok.pad_token_id, device)
        precision = resolve_precision(cfg.train.precision, device, probe)
        base = run_eval()  # adapters start as the identity (B = 0): this is the base model's loss
        atomic_write_parquet(rd.base_eval_examples, last_eval[0].per_example)  # per-example gains
        rd.write_json(rd.base_eval, {**base, "precision": precision})
        rd.append_metrics({"type": "eval", "step": 0, "base": True, **base})

    callbacks: list[Any] = [MetricsLogger(rd, cfg.train.log_every)]
    callbacks.append(
        ProgressBar(f"{cfg.lora.strategy} {cfg.lora.budget} s{cfg.train.seed}", cfg.tracking.progress)
    )
    if heartbeat is not None:
        callbacks.append(_Heartbeat(heartbeat))
    dynamic = None
    if allocation.dynamic:
        from loralab.train.adalora import AdaLoraCallback, adalora_orth_loss

        dynamic = AdaLoraCallback(allocation, max_steps)
        callbacks.append(dynamic)
    if cfg.tracking.wandb:
        callbacks.append(
            WandbLogger(rd, cfg.tracking.project, cfg.tracking.group, cfg.model_dump(mode="json"))
        )

    state = train(
        peft_model,
        data.train,
        cfg.train,
        pad_id=tok.pad_token_id,
        device=device,
        precision=precision,
        run_dir=rd,
        callbacks=callbacks,
        evaluate=run_eval,  # called when due and after the last step
        group_by_length=cfg.data.group_by_length,
        extra_loss=adalora_orth_loss if dynamic is not None else None,
    )
    result = last_eval[0]
    final = result.summary()

    # Artefacts: per-example losses (paired tests), the adapter (PEFT format), then final metrics.
    atomic_write_parquet(rd.eval_examples, result.per_example)
    adapter_tmp = Path(tempfile.mkdtemp(prefix=".adapter.", dir=rd.path))
    save_adapter(peft_model, adapter_tmp)
    replace_dir(adapter_tmp, rd.adapter)

    final_allocation = allocation
    if dynamic is not None:  # the budget holds on the final (pruned) ranks; record the trajectory too
        final_allocation = dynamic.final_rank_allocation()
        record = {**final_allocation.to_dict(), **dynamic.record(), "signals_wall_s": signal_seconds}
        rd.write_json(rd.allocation, record)
    this_session = time.perf_counter() - started
    metrics = {
        "strategy": cfg.lora.strategy,
        "seed": cfg.train.seed,
        "budget_spec": allocation.budget.spec,
        "budget_params": allocation.budget.params,
        "allocated_params": final_allocation.params,
        "budget_status": final_allocation.budget_status,
        "trainable_params": trainable if dynamic is None else final_allocation.params,
        "peak_trainable_params": trainable if dynamic is None else dynamic.peak_params,
        "total_params": total,
        "base_eval_loss": base["eval_loss"],
        "base_eval_ppl": base["eval_ppl"],
        **final,
        "train_steps": state.step,
        "train_tokens": state.tokens_seen,
        "train_examples": state.examples_seen,
        "train_wall_s": state.wall_time,
        "train_tokens_per_s": state.tokens_seen / state.wall_time if state.wall_time else None,
        "final_train_loss": state.logs.get("loss"),
        "signals_wall_s": signal_seconds,
        # compute time of the run's work, summed over resumes (work lost to a kill is not counted)
        "total_wall_s": signal_seconds + base["eval_seconds"] + state.wall_time + final["eval_seconds"],
        "session_wall_s": this_session,
        "precision": precision,
        "device": str(device),
        "data": data.stats,
        **memory.stop(),
    }
    rd.write_json(rd.eval, metrics)
    return metrics


def _precision_probe(model: Any, examples: list, batch_size: int, pad_id: int, device: torch.device) -> Any:
    """One forward/backward of the adapted model on the longest of the first batches, for `auto`."""
    from loralab.data import collate
    from loralab.nll import supervised_token_nll

    batch = {k: v.to(device) for k, v in collate(examples[:batch_size], pad_id).items()}

    def step(dtype: torch.dtype | None) -> None:
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            supervised_token_nll(model, **batch).total.backward()
        model.zero_grad(set_to_none=True)

    return step


class _Heartbeat(Callback):
    """Calls the executor's heartbeat after every step so that a lost claim stops the run promptly."""

    def __init__(self, beat: Any):
        self.beat = beat

    def on_step_end(self, state: TrainState) -> None:
        self.beat()


def describe_run(path: Path) -> str:
    """A short human description of a run directory."""
    rd = RunDir(Path(path))
    if not rd.spec.exists():
        raise StoreError(f"{path} is not a run directory (no spec.yaml)")
    status = rd.read_status()
    lines = [f"run {rd.run_id} (study {rd.study}): {status.get('state')}"]
    if status.get("error"):
        lines.append(f"  error: {status['error']}")
    cfg = rd.read_spec()["config"]
    lines.append(
        f"  model {cfg['model']['name']}  data {cfg['data']['source']}  strategy {cfg['lora']['strategy']}"
        f"  budget {cfg['lora']['budget']}  seed {cfg['train']['seed']}"
    )
    if rd.allocation.exists():
        a = rd.read_json(rd.allocation)
        ranks = [m["rank"] for m in a["modules"]]
        lines.append(
            f"  allocation: {len(ranks)} modules, rank {min(ranks)}..{max(ranks)}"
            f" (mean {sum(ranks) / len(ranks):.2f}); {a['achieved_params']} of {a['budget']['params']}"
            f" params ({a.get('budget_status', '?')})"
        )
    metrics = rd.read_metrics()
    steps = [m for m in metrics if m.get("type") == "train"]
    if steps:
        lines.append(f"  steps logged {steps[-1]['step']}  last train loss {steps[-1]['loss']:.4f}")
    if rd.eval.exists():
        e = rd.read_json(rd.eval)
        lines.append(
            f"  eval loss {e['base_eval_loss']:.4f} -> {e['eval_loss']:.4f} (ppl {e['eval_ppl']:.3f});"
            f" trainable {e['trainable_params']} of budget {e['budget_params']};"
            f" wall {e['total_wall_s']:.1f}s"
        )
    return "\n".join(lines)

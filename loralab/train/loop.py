"""The one training procedure every experiment uses, whatever its strategy.

Read top to bottom, one optimizer step is: gather its micro-batches from the deterministic data
order (split into forward passes of at most `train.max_forward_tokens` positions when set), forward
(supervised positions only) and backward each, check the loss is finite, clip, step
the optimizer and the schedule, let callbacks see the gradients (AdaLoRA), zero them, log, then
evaluate when due (always after the last step) and checkpoint. The data order is a pure function of
(seed, epoch), and the checkpoint holds the step, so a resumed run replays exactly the batches the
uninterrupted one would.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from accelerate.state import AcceleratorState, GradientState
from torch import nn

from loralab.callbacks import Callback, LoopCounters, TrainState
from loralab.config import TrainConfig
from loralab.data import IGNORE_INDEX, TokenizedExample, collate, epoch_batches
from loralab.errors import TrainingError
from loralab.nll import supervised_token_nll
from loralab.train.checkpoint import has_checkpoint, load_checkpoint, save_checkpoint
from loralab.train.schedule import make_scheduler, warmup_steps
from loralab.train.speed import apply_speedups, make_optimizer

MIXED_PRECISION = {"fp32": "no", "bf16": "bf16", "fp16": "fp16"}


@dataclass
class BatchPlan:
    """The deterministic order of micro-batches: (seed, epoch) -> list of example-index batches."""

    lengths: list[int]
    batch_size: int
    seed: int
    grouped: bool

    def __post_init__(self) -> None:
        self.per_epoch = math.ceil(len(self.lengths) / self.batch_size)
        self._cache: dict[int, list[list[int]]] = {}

    def micro_batch(self, index: int) -> tuple[int, list[int]]:
        """(epoch, example indices) of the `index`-th micro-batch of the whole run."""
        epoch, pos = divmod(index, self.per_epoch)
        if epoch not in self._cache:
            self._cache = {
                epoch: epoch_batches(self.lengths, self.batch_size, self.seed, epoch, self.grouped)
            }
        return epoch, self._cache[epoch][pos]


AUTO_FORWARD_TOKENS = 1024  # CPU: half the peak RSS of 8 x 256 batches, no slower (benchmarks/README.md)


def forward_cap(setting: int | str | None, device: torch.device) -> int | None:
    """Positions per forward pass: `train.max_forward_tokens`, with `auto` resolved for `device`."""
    if setting == "auto":
        return AUTO_FORWARD_TOKENS if device.type == "cpu" else None  # a GPU wants large products
    return setting  # type: ignore[return-value]


def split_rows(idx: list[int], lengths: list[int], max_tokens: int | None) -> list[list[int]]:
    """`idx` in consecutive parts whose padded size (rows x longest) is at most `max_tokens` (>= 1 row)."""
    if max_tokens is None or len(idx) * max(lengths[i] for i in idx) <= max_tokens:
        return [idx]
    parts: list[list[int]] = [[]]
    longest = 0
    for i in idx:
        longest_with = max(longest, lengths[i])
        if parts[-1] and (len(parts[-1]) + 1) * longest_with > max_tokens:
            parts.append([])
            longest_with = lengths[i]
        parts[-1].append(i)
        longest = longest_with
    return parts


def total_steps(cfg: TrainConfig, n_examples: int) -> int:
    """Optimizer steps of the run: max_steps, or epochs over the training set."""
    if cfg.max_steps is not None:
        return cfg.max_steps
    per_epoch = math.ceil(math.ceil(n_examples / cfg.batch_size) / cfg.grad_accum)
    return max(1, math.ceil(cfg.epochs * per_epoch))


def _call(callbacks: list[Callback], hook: str, *args: Any) -> None:
    for cb in callbacks:
        getattr(cb, hook)(*args)


def train(
    model: nn.Module,
    examples: list[TokenizedExample],
    cfg: TrainConfig,
    *,
    pad_id: int,
    device: torch.device,
    precision: str,
    checkpoint_dir: Path,
    callbacks: list[Callback],
    evaluate: Callable[[], dict[str, Any]],
    group_by_length: bool = True,
    extra_loss: Callable[[nn.Module], torch.Tensor | None] | None = None,
) -> TrainState:
    """Train `model`'s trainable parameters on `examples`; resumes from `checkpoint_dir` if it holds one.

    The loop knows no store: what it reports goes to `callbacks` (observers such as a metrics sink).
    """
    # Accelerate keeps one state per process and refuses a second Accelerator with another precision;
    # a study worker runs many runs in one process, so each run starts from a fresh state.
    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()
    accelerator = Accelerator(cpu=device.type == "cpu", mixed_precision=MIXED_PRECISION[precision])
    model.to(accelerator.device)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = make_optimizer(params, cfg)
    apply_speedups(model, cfg)
    model, optimizer = accelerator.prepare(model, optimizer)
    max_steps = total_steps(cfg, len(examples))
    scheduler = make_scheduler(
        optimizer,
        total=max_steps,
        warmup=warmup_steps(max_steps, cfg.warmup_steps, cfg.warmup_ratio),
        kind=cfg.schedule,
    )
    cap = forward_cap(cfg.max_forward_tokens, accelerator.device)
    plan = BatchPlan([len(e.input_ids) for e in examples], cfg.batch_size, cfg.seed, group_by_length)
    keys = [cb.state_key for cb in callbacks]
    if len(set(keys)) < len(keys):
        raise ValueError(f"two callbacks share a state_key ({sorted(keys)}); give each its own")
    counters = _restore(checkpoint_dir, model, optimizer, scheduler, callbacks)
    state = TrainState(**counters.to_dict(), max_steps=max_steps, model=model, optimizer=optimizer)
    if not counters.step:
        _preflight(model, examples, plan, pad_id, accelerator)

    def on_device(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {k: v.to(accelerator.device, non_blocking=True) for k, v in batch.items()}

    def forward_backward(
        batch: dict[str, torch.Tensor], n_tokens: int, passes: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One forward pass's summed NLL and its share of the step's loss, after its backward."""
        with accelerator.autocast():
            token_nll = supervised_token_nll(
                model, batch["input_ids"], batch["attention_mask"], batch["labels"]
            )
            loss = token_nll.total / n_tokens  # token-weighted over the whole accumulated step
            extra = extra_loss(model) if extra_loss is not None else None
            if extra is not None:
                loss = loss + extra / passes  # the step's extra loss, once over its passes
        accelerator.backward(loss)
        return token_nll.total.detach().float(), loss.detach().float()

    model.train()
    _call(callbacks, "on_train_begin", state)
    while state.step < max_steps:
        t0 = time.perf_counter()
        micro = [plan.micro_batch(state.step * cfg.grad_accum + j) for j in range(cfg.grad_accum)]
        host = [
            collate([examples[i] for i in part], pad_id)
            for _, idx in micro
            for part in split_rows(idx, plan.lengths, cap)
        ]
        # counts come from the host copies: no device sync; the step's one sync is after backward
        n_tokens = sum(int((b["labels"][:, 1:] != IGNORE_INDEX).sum()) for b in host)
        sums = [forward_backward(batch, n_tokens, len(host)) for batch in map(on_device, host)]
        norm = _clip(accelerator, params, cfg.max_grad_norm)
        nll_total, loss_total, grad_norm = torch.stack(
            [*map(sum, zip(*sums, strict=True)), norm.float()]
        ).tolist()
        _check_finite(loss_total, grad_norm, state.step + 1, precision)
        lr = scheduler.get_last_lr()[0]
        optimizer.step()
        scheduler.step()
        state.step += 1
        _call(callbacks, "on_before_zero_grad", state)
        optimizer.zero_grad(set_to_none=True)
        _log_step(state, micro, host, n_tokens, time.perf_counter() - t0, nll_total, lr, grad_norm)
        _call(callbacks, "on_step_end", state)

        last = state.step == max_steps
        if last or (cfg.eval_every and state.step % cfg.eval_every == 0):
            _call(callbacks, "on_evaluate", state, evaluate())
        if cfg.checkpoint_every and state.step % cfg.checkpoint_every == 0 and not last:
            save_checkpoint(
                checkpoint_dir,
                model=model,
                optimizer=optimizer,
                scheduler=scheduler,
                step=state.step,
                loop_state=state.counters.to_dict(),
                callbacks={cb.state_key: cb.state_dict() for cb in callbacks},
            )
            _call(callbacks, "on_checkpoint", state)
    model.eval()
    _call(callbacks, "on_train_end", state)
    return state


def _restore(
    checkpoint_dir: Path, model: nn.Module, optimizer: Any, scheduler: Any, callbacks: list[Callback]
) -> LoopCounters:
    """The loop's counters: from the checkpoint (restoring model, optimizer, schedule, callbacks), or zero."""
    if not has_checkpoint(checkpoint_dir):
        return LoopCounters()
    saved = load_checkpoint(checkpoint_dir, model=model, optimizer=optimizer, scheduler=scheduler)
    for cb in callbacks:
        cb.load_state_dict(saved["callbacks"].get(cb.state_key, {}))
    return LoopCounters.from_dict({"step": saved["step"], **saved["loop"]})


def _check_finite(loss: float, grad_norm: float, step: int, precision: str) -> None:
    """Stop before the optimizer sees the gradients of a non-finite loss or gradient norm."""
    if not math.isfinite(loss):
        raise TrainingError(f"non-finite loss ({loss}) at step {step}; run stopped")
    if not math.isfinite(grad_norm) and precision != "fp16":  # fp16: the loss scaler skips the step
        raise TrainingError(f"non-finite gradient norm at step {step}; run stopped")


def _log_step(
    state: TrainState,
    micro: list[tuple[int, list[int]]],
    host: list[dict[str, torch.Tensor]],
    n_tokens: int,
    seconds: float,
    nll_total: float,
    lr: float,
    grad_norm: float,
) -> None:
    """Advance the state's counters by the finished step and set its log line."""
    positions = sum(int(b["attention_mask"].numel()) for b in host)
    real = sum(int(b["attention_mask"].sum()) for b in host)
    state.epoch = micro[-1][0]
    state.tokens_seen += n_tokens
    state.examples_seen += sum(len(idx) for _, idx in micro)
    state.wall_time += seconds
    state.logs = {
        "step": state.step,
        "epoch": state.epoch,
        "loss": nll_total / n_tokens,
        "lr": lr,
        "grad_norm": grad_norm,
        "tokens": n_tokens,
        "padding": 1 - real / positions,
        "step_s": seconds,
        "tokens_per_s": n_tokens / seconds,
    }


def _clip(accelerator: Accelerator, params: list[torch.Tensor], max_norm: float | None) -> torch.Tensor:
    """The gradient norm (a tensor on the device: read with the step's other values, in one sync)."""
    if max_norm is not None:
        return torch.as_tensor(accelerator.clip_grad_norm_(params, max_norm), device=accelerator.device)
    grads = [p.grad.detach().norm() for p in params if p.grad is not None]
    return torch.stack(grads).norm() if grads else torch.zeros((), device=accelerator.device)


@torch.no_grad()
def _preflight(
    model: nn.Module, examples: list[TokenizedExample], plan: BatchPlan, pad_id: int, accelerator: Accelerator
) -> None:
    """Before step 1: the first batch must give a finite loss (catches broken weights or precision)."""
    _, idx = plan.micro_batch(0)
    batch = {k: v.to(accelerator.device) for k, v in collate([examples[i] for i in idx], pad_id).items()}
    was_training = model.training
    model.eval()
    with accelerator.autocast():
        nll = supervised_token_nll(model, batch["input_ids"], batch["attention_mask"], batch["labels"])
    model.train(was_training)
    if nll.nll.numel() == 0 or not torch.isfinite(nll.total):
        raise TrainingError(
            "the loss on the first batch is not finite before training; check the model and precision"
        )

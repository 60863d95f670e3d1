"""Evaluation: token-weighted mean NLL over the eval set, perplexity, per-example losses, resources.

The mean is over all supervised eval tokens (sum of NLL / number of tokens), not a mean of batch
means, so it does not depend on the batch size or on how examples were grouped into batches.
"""

from __future__ import annotations

import math
import threading
import time
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import pandas as pd
import psutil
import torch
from torch import nn

from loralab.data import TokenizedExample, collate, sequential_batches
from loralab.nll import supervised_token_nll


@dataclass
class EvalResult:
    """Eval loss (mean token NLL, nats), perplexity, per-example NLLs and throughput."""

    loss: float
    perplexity: float
    tokens: int
    examples: int
    seconds: float
    per_example: pd.DataFrame  # columns: example (source index), nll_sum, tokens, nll_mean

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else float("nan")

    def summary(self) -> dict[str, float | int]:
        """Scalar metrics for logs and eval.json."""
        return {
            "eval_loss": self.loss,
            "eval_ppl": self.perplexity,
            "eval_tokens": self.tokens,
            "eval_examples": self.examples,
            "eval_seconds": self.seconds,
            "eval_tokens_per_s": self.tokens_per_second,
        }


@torch.no_grad()
def evaluate(
    model: nn.Module,
    examples: list[TokenizedExample],
    *,
    batch_size: int,
    pad_id: int,
    device: torch.device,
    autocast: AbstractContextManager | None = None,
) -> EvalResult:
    """Evaluate `model` on `examples`; the model's train/eval mode is restored afterwards."""
    was_training = model.training
    model.eval()
    start = time.perf_counter()
    lengths = [len(e.input_ids) for e in examples]
    sums: list[float] = []
    counts: list[int] = []
    order: list[int] = []
    for batch_idx in sequential_batches(lengths, batch_size):
        batch = collate([examples[i] for i in batch_idx], pad_id)
        batch = {k: v.to(device) for k, v in batch.items()}
        with autocast or nullcontext():
            token_nll = supervised_token_nll(
                model, batch["input_ids"], batch["attention_mask"], batch["labels"]
            )
        s, c = token_nll.per_example()
        sums.extend(s.cpu().tolist())
        counts.extend(c.cpu().tolist())
        order.extend(batch_idx)
    seconds = time.perf_counter() - start
    model.train(was_training)
    per_example = pd.DataFrame(
        {
            "example": [examples[i].index for i in order],
            "nll_sum": sums,
            "tokens": counts,
        }
    ).sort_values("example", kind="stable", ignore_index=True)
    per_example["nll_mean"] = per_example["nll_sum"] / per_example["tokens"]
    total_tokens = int(per_example["tokens"].sum())
    # math.fsum over float64 per-example sums: the mean does not depend on batch order.
    loss = math.fsum(per_example["nll_sum"].tolist()) / total_tokens
    return EvalResult(
        loss=loss,
        perplexity=math.exp(loss) if loss < 700 else float("inf"),
        tokens=total_tokens,
        examples=len(examples),
        seconds=seconds,
        per_example=per_example,
    )


class PeakMemory:
    """Peak memory of one run: resident memory sampled by a thread (the process may have run other
    runs before, so its lifetime peak `ru_maxrss` would not do) and the CUDA allocator's peak."""

    def __init__(self, device: torch.device, interval_s: float = 0.05):
        self.device, self.interval_s = device, interval_s
        self._peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="peak-rss", daemon=True)

    def _sample(self) -> None:
        proc = psutil.Process()
        while True:
            self._peak = max(self._peak, proc.memory_info().rss)
            if self._stop.wait(self.interval_s):
                return

    def start(self) -> PeakMemory:
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        self._thread.start()
        return self

    def stop(self) -> dict[str, float]:
        """Stop sampling (idempotent); peak RSS (and CUDA) of the run so far, MiB."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self._peak = max(self._peak, psutil.Process().memory_info().rss)
        out = {"peak_rss_mb": self._peak / 2**20}
        if self.device.type == "cuda":
            out["peak_cuda_mb"] = torch.cuda.max_memory_allocated(self.device) / 2**20
        return out

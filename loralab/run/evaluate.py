"""The evaluate stage: the evaluator the training loop calls, the base model's eval and the
training precision (measured on the adapted model where `auto`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from loralab.config import DataConfig, TrainConfig
from loralab.data import collate
from loralab.errors import ConfigError
from loralab.evaluate import EvalResult, evaluate
from loralab.nll import supervised_token_nll
from loralab.results import Metric
from loralab.results.metrics_row import MetricsRow
from loralab.run.attach import Attached
from loralab.run.cache import StudyCache
from loralab.run.prepare import Prepared
from loralab.scoring import EvalSet, Memo, Score, eval_records, scored
from loralab.store import RunDir, atomic_write_parquet
from loralab.train.device import resolve_precision

Heartbeat = Callable[[], None]
DTYPES: dict[str, torch.dtype | None] = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


class Evaluator:
    """Evaluates the adapted model on the eval split when called; keeps the latest full result."""

    def __init__(
        self,
        model: torch.nn.Module,
        prepared: Prepared,
        batch_size: int,
        precision: str,
        heartbeat: Heartbeat | None,
    ):
        if precision == "fp16" and prepared.device.type != "cuda":
            raise ConfigError("train.eval_precision=fp16 needs a CUDA device; use fp32 or bf16 on a CPU")
        self.model, self.prepared, self.batch_size, self.precision = model, prepared, batch_size, precision
        self.heartbeat = heartbeat
        self.latest: EvalResult | None = None

    def __call__(self) -> dict[str, Any]:
        """Evaluate now; the scalar summary (for logs), the full result kept in `latest`."""
        if self.heartbeat is not None:
            self.heartbeat()
        self.latest = evaluate(
            self.model,
            self.prepared.data.eval,
            batch_size=self.batch_size,
            pad_id=self.prepared.pad_id,
            device=self.prepared.device,
            autocast=torch.autocast(
                self.prepared.device.type, dtype=DTYPES[self.precision], enabled=self.precision != "fp32"
            ),
        )
        return self.latest.summary()

    def score(self, metric: Metric, data: DataConfig, path: Path, memo: Memo | None = None) -> Score:
        """`metric` of the model now, by its scorer, on the eval records of `data`; its per-example
        columns added to the eval file `path` (or read back from it)."""
        if self.heartbeat is not None:
            self.heartbeat()

        def eval_set() -> EvalSet:
            return EvalSet(
                model=self.model,
                tokenizer=self.prepared.tokenizer,
                records=eval_records(data, self.prepared.data.eval),
                indices=[e.index for e in self.prepared.data.eval],
                batch_size=self.batch_size,
                pad_id=self.prepared.pad_id,
                device=self.prepared.device,
                cutoff_len=data.cutoff_len,
                autocast=torch.autocast(
                    self.prepared.device.type, dtype=DTYPES[self.precision], enabled=self.precision != "fp32"
                ),
            )

        return scored(metric, eval_set, path, memo)


@dataclass(frozen=True)
class BaseEval:
    """The base model's eval (adapters at identity): loss, perplexity and what it cost this run (s)."""

    eval_loss: float
    eval_ppl: float
    eval_seconds: float


def training_precision(
    train: TrainConfig, rd: RunDir, attached: Attached, prepared: Prepared, resuming: bool
) -> str:
    """The training precision, decided once: `train.precision` resolved (`auto` probes the adapted
    model with a batch of `train.batch_size`); a resume keeps the one its run began with."""
    if resuming and rd.base_eval.exists():
        return rd.read_json(rd.base_eval).get("precision", train.precision)  # what the run began with
    probe = _precision_probe(attached.model, prepared, train.batch_size)
    return resolve_precision(train.precision, prepared.device, probe)


def base_evaluation(
    rd: RunDir,
    evaluator: Evaluator,
    precision: str,
    resuming: bool,
    cache: StudyCache | None = None,
    key: dict[str, Any] | None = None,
) -> BaseEval:
    """Evaluate the base model once per run (saved with the training `precision`, which a resume keeps);
    a resume reads it.

    With a study cache the base eval is shared by the study's runs (same model, split, eval set and
    precision): adapters start as the identity (B = 0), so every run's base eval is the same."""
    if resuming and rd.base_eval.exists():
        saved = rd.read_json(rd.base_eval)
        return BaseEval(saved["eval_loss"], saved["eval_ppl"], saved["eval_seconds"])
    start = time.perf_counter()

    def fresh() -> EvalResult:
        evaluator()  # adapters start as the identity (B = 0): this is the base model's loss
        assert evaluator.latest is not None
        return evaluator.latest

    evaluator.latest = cache.get("base-eval", key or {}, fresh) if cache is not None else fresh()
    summary = evaluator.latest.summary()
    spent = time.perf_counter() - start  # what this run paid (near 0 when read from the cache)
    atomic_write_parquet(rd.base_eval_examples, evaluator.latest.per_example)  # per-example gains
    cached = {"cached": True} if cache is not None and "base-eval" in cache.hits else {}
    rd.write_json(
        rd.base_eval, {**summary, "precision": precision, "eval_precision": evaluator.precision, **cached}
    )
    rd.append_metrics(MetricsRow.eval(0, summary, base=True))
    return BaseEval(summary["eval_loss"], summary["eval_ppl"], spent)


def _precision_probe(model: torch.nn.Module, prepared: Prepared, batch_size: int) -> Callable:
    """One forward/backward of the adapted model on the first batch, timed by `resolve_precision`."""
    batch = collate(prepared.data.train[:batch_size], prepared.pad_id)
    batch = {k: v.to(prepared.device) for k, v in batch.items()}

    def step(dtype: torch.dtype | None) -> None:
        with torch.autocast(prepared.device.type, dtype=dtype, enabled=dtype is not None):
            supervised_token_nll(model, **batch).total.backward()
        model.zero_grad(set_to_none=True)

    return step

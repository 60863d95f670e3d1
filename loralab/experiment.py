"""One run, end to end: prepare -> allocate -> attach -> train -> evaluate -> record.

Each stage is a named function, a plain call on plain data; `execute_run` wires them inside the run
directory and records what happened. A run that is done is skipped, a run with a checkpoint resumes,
a run that fails is marked failed with the reason (and its earlier files are kept).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import PreTrainedTokenizerBase

from loralab.adapters import attach_lora, check_setup, read_setup, save_adapter
from loralab.allocation import StrategyChoice, allocate, check_strategy, run_modules
from loralab.callbacks import Callback, TrainState
from loralab.config import RunConfig
from loralab.data import PreparedData, collate, prepare_data
from loralab.errors import ConfigError, LoralabError, RunAbandoned, write_failure
from loralab.evaluate import EvalResult, PeakMemory, evaluate
from loralab.fingerprint import check_spec
from loralab.models import count_parameters, load_model
from loralab.modules import TargetModule
from loralab.nll import supervised_token_nll
from loralab.provenance import git_commit, provenance
from loralab.record import RunRecord, RunSetup
from loralab.results.allocation import AllocationRecord, read_allocation
from loralab.results.metrics_row import MetricsRow
from loralab.run.cache import (
    StudyCache,
    base_eval_parts,
    data_parts,
)
from loralab.run.resolved import ResolvedRun, check_eval_device, resolve_run
from loralab.run.result import RunResult, done_result
from loralab.store import RunDir, Store, atomic_write_parquet, replace_dir
from loralab.strategies import RankAllocation
from loralab.train import MetricsLogger, ProgressBar, WandbLogger, train
from loralab.train.checkpoint import has_checkpoint
from loralab.train.determinism import seed_everything, set_deterministic
from loralab.train.device import resolve_device, resolve_precision

Heartbeat = Callable[[], None]
DTYPES: dict[str, torch.dtype | None] = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def spec_record(cfg: RunConfig, inputs: dict[str, Any] | None = None) -> dict[str, Any]:
    """What spec.yaml holds: the run id, the resolved config, its input files' fingerprints and
    provenance."""
    inputs = cfg.input_fingerprints() if inputs is None else inputs
    return {
        "run_id": cfg.run_id(inputs),
        "config": cfg.model_dump(mode="json"),
        "inputs": inputs,
        "provenance": provenance(),
    }


def execute_run(
    cfg: RunConfig, *, heartbeat: Heartbeat | None = None, strategy: StrategyChoice | None = None
) -> RunResult:
    """Run `cfg` to completion in its run directory (skip if done, resume if interrupted); `strategy`:
    the run's strategy and options where the caller has checked them already."""
    store = Store(cfg.output.root)
    inputs = cfg.input_fingerprints()
    rd = store.run_dir(cfg.output.study, cfg.run_id(inputs))
    if rd.spec.exists():
        check_spec(rd.read_spec(), rd.run_id, inputs, str(rd.path))
    if (done := done_result(rd)) is not None:
        return done
    choice = strategy or check_strategy(cfg)  # a typo must not leave a failed run directory behind
    device = resolve_device(cfg.train.device)
    set_deterministic(cfg.train.deterministic)  # before the first CUDA op (PeakMemory's, prepare's)
    check_eval_device(cfg, device)
    memory = PeakMemory(device).start()
    started = time.perf_counter()
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    cache = StudyCache(store.cache_dir(cfg.output.study) if cfg.output.cache else None)
    try:  # inputs are read before the run directory exists: a bad file or model leaves nothing behind
        with cache.deferred():
            prepared = prepare(cfg, device, cache)
        run = resolve_run(
            cfg, choice, inputs, device, prepared.model, prepared.modules, len(prepared.data.train)
        )
    except BaseException:
        memory.stop()
        raise
    rd = store.create(cfg.output.study, rd.run_id, spec_record(cfg, inputs))
    cache.flush()
    rd.set_status("running", pid=os.getpid(), host=socket.gethostname(), git_commit=git_commit())
    try:
        record = _run_stages(run, rd, prepared, cache, memory, heartbeat, started)
    except RunAbandoned:
        raise  # another process owns the run now: its status is theirs to write
    except BaseException as e:
        if rd.state == "done":  # never turn a finished run into a failed one
            raise
        disk = write_failure(e, str(rd.path))
        if disk is not None:  # not the run's fault: left pending, so that the next attempt resumes it
            with contextlib.suppress(OSError):
                rd.set_status("pending", error=str(disk))
            raise disk from e
        if isinstance(e, KeyboardInterrupt):
            rd.set_status("pending", error="interrupted; run again to resume from the last checkpoint")
        else:
            detail = "".join(traceback.format_exception_only(type(e), e)).strip()
            rd.set_status("failed", error=detail, **({} if isinstance(e, LoralabError) else {"bug": True}))
        raise
    finally:
        memory.stop()
    rd.set_status("done", eval_loss=record.eval_loss, steps=record.train_steps)
    # Only now: a kill before `done` resumes from this checkpoint instead of starting over.
    shutil.rmtree(rd.checkpoint, ignore_errors=True)
    return RunResult(rd, skipped=False, record=record)


def _run_stages(
    run: ResolvedRun,
    rd: RunDir,
    prepared: Prepared,
    cache: StudyCache,
    memory: PeakMemory,
    heartbeat: Heartbeat | None,
    started: float,
) -> RunRecord:
    cfg = run.cfg
    resuming = has_checkpoint(rd.checkpoint) and rd.allocation.exists()
    if not resuming:  # a run killed before its first checkpoint starts over, with a clean log
        rd.metrics.unlink(missing_ok=True)
        shutil.rmtree(rd.checkpoint, ignore_errors=True)  # one without its allocation is unusable

    allocated = allocate_ranks(run, rd, prepared, resuming, cache)
    # The one seeding of the run. Model, data and signals draw from generators of their own, so the
    # adapter init and training start from here, whatever signals consumed or the cache skipped.
    seed_everything(run.seed)
    attached = attach(run, prepared, allocated.allocation)
    run = run.with_precision(training_precision(cfg, rd, attached, prepared, resuming))
    assert run.precision is not None and run.eval_precision is not None
    evaluator = Evaluator(attached.model, prepared, cfg.train.eval_batch_size, run.eval_precision, heartbeat)
    # what runs, read back from the model (not the config), checked against what the config asked for
    setup = read_setup(
        attached.model, train_autocast=DTYPES[run.precision], eval_autocast=DTYPES[run.eval_precision]
    )
    check_setup(setup, cfg.lora, prepared.device)
    base = base_evaluation(
        rd,
        evaluator,
        run.precision,
        resuming,
        cache,
        base_eval_parts(cfg, run.eval_precision, prepared.device),
    )
    trained = train_adapters(run, rd, prepared, attached, allocated.allocation, evaluator, base, heartbeat)
    save_artefacts(rd, attached, trained)
    session = Session(wall_s=time.perf_counter() - started, memory_mb=memory.stop())
    record = make_record(run, prepared, allocated, attached, base, trained, session, setup)
    rd.write_record(record)
    return record


# --- prepare ----------------------------------------------------------------------------------------
@dataclass
class Prepared:
    """The model on its device, its tokenizer, the tokenised data and the modules to adapt."""

    model: torch.nn.Module
    tokenizer: PreTrainedTokenizerBase
    data: PreparedData
    modules: list[TargetModule]
    device: torch.device

    @property
    def pad_id(self) -> int:
        return self.tokenizer.pad_token_id


def prepare(cfg: RunConfig, device: torch.device, cache: StudyCache | None = None) -> Prepared:
    """Load the model (onto `device`, before signals are measured there) and prepare the data."""
    cache = cache or StudyCache(None)
    loaded = load_model(cfg.model)  # weights are never cached: safetensors/GGUF only
    model = loaded.model.to(device)
    data = cache.get("data", data_parts(cfg), lambda: prepare_data(cfg.data, loaded.tokenizer))
    modules = run_modules(model, cfg)
    return Prepared(model, loaded.tokenizer, data, modules, device)


# --- allocate ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Allocated:
    """The initial rank allocation and how long measuring its signals took (s)."""

    allocation: RankAllocation
    signals_wall_s: float


def allocate_ranks(
    run: ResolvedRun, rd: RunDir, prepared: Prepared, resuming: bool, cache: StudyCache | None = None
) -> Allocated:
    """Allocate ranks and save the allocation (and signals); a resumed run reads its allocation back."""
    if resuming:
        saved = read_allocation(rd.allocation)
        # a dynamic run killed after writing its final ranks resumes from its initial allocation
        initial = RankAllocation.from_dict(saved.initial.model_dump())
        return Allocated(initial, saved.signals_wall_s)
    cfg = run.cfg
    memo = (
        (lambda parts, compute: cache.get("signals", {**data_parts(cfg), **parts}, compute))
        if cache
        else None
    )
    choice = StrategyChoice(run.strategy, run.options)
    outcome = allocate(
        cfg,
        prepared.model,
        prepared.modules,
        prepared.data.train,
        prepared.pad_id,
        memo,
        choice=choice,
        budget=run.budget,
    )
    record = AllocationRecord.static(outcome.allocation.to_dict(), outcome.signal_seconds)
    rd.write_json(rd.allocation, record.to_json())
    if outcome.signals.importance or outcome.signals.spectra:
        signals = {"importance": outcome.signals.importance, "spectra": outcome.signals.spectra}
        rd.write_json(rd.signals, signals)
    return Allocated(outcome.allocation, outcome.signal_seconds)


# --- attach -----------------------------------------------------------------------------------------
@dataclass
class Attached:
    """The model with its adapters attached, its parameter counts and the run's optimizer steps."""

    model: torch.nn.Module
    trainable_params: int
    total_params: int
    max_steps: int


def attach(run: ResolvedRun, prepared: Prepared, allocation: RankAllocation) -> Attached:
    """Attach PEFT adapters shaped by `allocation` (the strategy's own, if it has some; identity at
    start: B = 0)."""
    model = attach_lora(
        prepared.model,
        allocation,
        run.cfg.lora,
        seed=run.seed,
        total_steps=run.total_steps,
        strategy=run.strategy,
    )
    trainable, total = count_parameters(model)
    model.to(prepared.device)
    return Attached(model, trainable, total, run.total_steps)


# --- evaluate ---------------------------------------------------------------------------------------
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


@dataclass(frozen=True)
class BaseEval:
    """The base model's eval (adapters at identity) and the run's training precision."""

    eval_loss: float
    eval_ppl: float
    eval_seconds: float
    precision: str


def training_precision(
    cfg: RunConfig, rd: RunDir, attached: Attached, prepared: Prepared, resuming: bool
) -> str:
    """The training precision: `train.precision` resolved (`auto` probes); a resume keeps its own."""
    if resuming and rd.base_eval.exists():
        return rd.read_json(rd.base_eval).get("precision", cfg.train.precision)  # what the run began with
    probe = _precision_probe(attached.model, prepared, cfg.train.batch_size)
    return resolve_precision(cfg.train.precision, prepared.device, probe)


def base_evaluation(
    rd: RunDir,
    evaluator: Evaluator,
    precision: str,
    resuming: bool,
    cache: StudyCache | None = None,
    key: dict[str, Any] | None = None,
) -> BaseEval:
    """Evaluate the base model once per run (saved with the training precision); a resume reads it.

    With a study cache the base eval is shared by the study's runs (same model, split, eval set and
    precision): adapters start as the identity (B = 0), so every run's base eval is the same."""
    if resuming and rd.base_eval.exists():
        saved = rd.read_json(rd.base_eval)
        return BaseEval(saved["eval_loss"], saved["eval_ppl"], saved["eval_seconds"], precision)
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
    return BaseEval(summary["eval_loss"], summary["eval_ppl"], spent, precision)


def _precision_probe(model: torch.nn.Module, prepared: Prepared, batch_size: int) -> Callable:
    """One forward/backward of the adapted model on the first batch, timed by `resolve_precision`."""
    batch = collate(prepared.data.train[:batch_size], prepared.pad_id)
    batch = {k: v.to(prepared.device) for k, v in batch.items()}

    def step(dtype: torch.dtype | None) -> None:
        with torch.autocast(prepared.device.type, dtype=dtype, enabled=dtype is not None):
            supervised_token_nll(model, **batch).total.backward()
        model.zero_grad(set_to_none=True)

    return step


# --- train ------------------------------------------------------------------------------------------
@dataclass
class Trained:
    """What training produced: the loop state, the final eval and the final allocation."""

    state: TrainState
    final_eval: EvalResult
    final_allocation: RankAllocation
    peak_trainable_params: int
    trainable_params: int


def train_adapters(
    run: ResolvedRun,
    rd: RunDir,
    prepared: Prepared,
    attached: Attached,
    allocation: RankAllocation,
    evaluator: Evaluator,
    base: BaseEval,
    heartbeat: Heartbeat | None,
) -> Trained:
    """Train the adapters (evaluating when due and after the last step) with the strategy's callback
    and loss term, if it has them; a dynamic run's final ranks are written to allocation.json with its
    record (trajectory, peak)."""
    cfg, strategy = run.cfg, run.strategy
    callbacks: list[Callback] = [
        MetricsLogger(rd, cfg.train.log_every),
        ProgressBar(f"{cfg.lora.strategy} {cfg.lora.budget} s{cfg.train.seed}", cfg.tracking.progress),
    ]
    if heartbeat is not None:
        callbacks.append(_Heartbeat(heartbeat))
    dynamic = strategy.training_callback(allocation, attached.max_steps)
    if dynamic is not None:
        callbacks.append(dynamic)
    if cfg.tracking.wandb:
        wandb = WandbLogger(
            project=cfg.tracking.project,
            group=cfg.tracking.group,
            name=rd.run_id,
            run_id=f"{rd.study}-{rd.run_id}",
            directory=rd.path,
            config=cfg.model_dump(mode="json"),
        )
        callbacks.append(wandb)
    state = train(
        attached.model,
        prepared.data.train,
        cfg.train,
        pad_id=prepared.pad_id,
        device=prepared.device,
        precision=base.precision,
        checkpoint_dir=rd.checkpoint,
        callbacks=callbacks,
        evaluate=evaluator,  # called when due and after the last step
        group_by_length=cfg.data.group_by_length,
        extra_loss=strategy.extra_loss,
    )
    assert evaluator.latest is not None  # `train` evaluates after its last step
    if dynamic is None:
        trainable = attached.trainable_params
        return Trained(state, evaluator.latest, allocation, trainable, trainable)
    # the budget holds on the final (pruned) ranks; record the trajectory too
    final = dynamic.final_rank_allocation()
    signals_wall_s = read_allocation(rd.allocation).signals_wall_s
    # the callback's record (initial, final, peak, its own keys) in the one shape of allocation.json
    saved = {"final": final.to_dict(), "peak_params": dynamic.peak_params, **dynamic.record()}
    record = AllocationRecord.model_validate({**saved, "signals_wall_s": signals_wall_s})
    rd.write_json(rd.allocation, record.to_json())
    return Trained(state, evaluator.latest, final, dynamic.peak_params, final.params)


def save_artefacts(rd: RunDir, attached: Attached, trained: Trained) -> None:
    """Per-example eval losses (for paired tests) and the adapter in PEFT format."""
    atomic_write_parquet(rd.eval_examples, trained.final_eval.per_example)
    adapter_tmp = Path(tempfile.mkdtemp(prefix=".adapter.", dir=rd.path))
    try:
        save_adapter(attached.model, adapter_tmp)
    except BaseException:  # a full disk: no half-written adapter copy is left behind
        shutil.rmtree(adapter_tmp, ignore_errors=True)
        raise
    replace_dir(adapter_tmp, rd.adapter)


# --- record -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Session:
    """This session of the run: its wall time (s) and peak memory (`peak_rss_mb`, `peak_cuda_mb`)."""

    wall_s: float
    memory_mb: dict[str, float]


def make_record(
    run: ResolvedRun,
    prepared: Prepared,
    allocated: Allocated,
    attached: Attached,
    base: BaseEval,
    trained: Trained,
    session: Session,
    setup: RunSetup | None = None,
) -> RunRecord:
    """The run's record (eval.json) from what each stage produced."""
    state, final = trained.state, trained.final_eval
    return RunRecord(
        strategy=run.strategy.name,
        seed=run.seed,
        budget_spec=allocated.allocation.budget.spec,
        budget_params=allocated.allocation.budget.params,
        allocated_params=trained.final_allocation.params,
        budget_status=trained.final_allocation.budget_status,
        trainable_params=trained.trainable_params,
        peak_trainable_params=trained.peak_trainable_params,
        total_params=attached.total_params,
        base_eval_loss=base.eval_loss,
        base_eval_ppl=base.eval_ppl,
        eval_loss=final.loss,
        eval_ppl=final.perplexity,
        eval_tokens=final.tokens,
        eval_examples=final.examples,
        eval_seconds=final.seconds,
        eval_tokens_per_s=final.tokens_per_second,
        train_steps=state.step,
        train_supervised_tokens=state.tokens_seen,
        train_examples=state.examples_seen,
        train_wall_s=state.wall_time,
        train_supervised_tokens_per_s=state.tokens_seen / state.wall_time if state.wall_time else None,
        final_train_loss=state.logs.get("loss"),
        signals_wall_s=allocated.signals_wall_s,
        # compute time of the run's work, summed over resumes (work lost to a kill is not counted)
        total_wall_s=allocated.signals_wall_s + base.eval_seconds + state.wall_time + final.seconds,
        precision=base.precision,
        eval_precision=run.eval_precision,
        device=str(prepared.device),
        session_wall_s=session.wall_s,
        data=prepared.data.stats,
        setup=setup,
        **session.memory_mb,
    )


class _Heartbeat(Callback):
    """Calls the executor's heartbeat after every step so that a lost claim stops the run promptly."""

    def __init__(self, beat: Heartbeat):
        self.beat = beat

    def on_step_end(self, state: TrainState) -> None:
        self.beat()

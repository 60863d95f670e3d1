"""One run, end to end: prepare -> allocate -> attach -> train -> evaluate -> record.

`execute_run` decides the run once (`ResolvedRun`), wires the stages inside the run directory and
records what happened. A run that is done is skipped, a run with a checkpoint resumes, a run that
fails is marked failed with the reason (and its earlier files are kept).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import time
import traceback
from functools import partial
from typing import Any

import torch

from loralab.adapters import check_setup, read_setup
from loralab.allocation import StrategyChoice, check_strategy
from loralab.config import RunConfig
from loralab.errors import LoralabError, RunAbandoned, write_failure
from loralab.evaluate import PeakMemory
from loralab.fingerprint import check_spec
from loralab.provenance import git_commit, provenance
from loralab.record import RunRecord
from loralab.run.allocate import allocate_ranks
from loralab.run.attach import attach
from loralab.run.cache import StudyCache, base_eval_parts, data_parts
from loralab.run.evaluate import DTYPES, Evaluator, Heartbeat, base_evaluation, training_precision
from loralab.run.prepare import Prepared, prepare
from loralab.run.record import Session, make_record
from loralab.run.resolved import ResolvedRun, check_precisions, resolve_run
from loralab.run.result import RunResult, done_result
from loralab.run.train import save_artefacts, train_adapters
from loralab.scoring import metric_score, scorer_key
from loralab.store import RunDir, Store
from loralab.train.checkpoint import has_checkpoint
from loralab.train.determinism import seed_everything, set_deterministic
from loralab.train.device import resolve_device


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
    check_precisions(cfg, device)
    memory = PeakMemory(device).start()
    started = time.perf_counter()
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    cache = StudyCache(store.cache_dir(cfg.output.study) if cfg.output.cache else None)
    try:  # inputs are read before the run directory exists: a bad file or model leaves nothing behind
        with cache.deferred():
            key = data_parts(cfg, inputs)
            prepared = prepare(cfg.model, cfg.data, cfg.lora.targets, device, key, cache)
        run = resolve_run(cfg, choice, inputs, prepared)
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
    resuming = has_checkpoint(rd.checkpoint) and rd.allocation.exists()
    if not resuming:  # a run killed before its first checkpoint starts over, with a clean log
        rd.metrics.unlink(missing_ok=True)
        shutil.rmtree(rd.checkpoint, ignore_errors=True)  # one without its allocation is unusable

    allocated = allocate_ranks(run, rd, prepared, resuming, cache)
    # The one seeding of the run. Model, data and signals draw from generators of their own, so the
    # adapter init and training start from here, whatever signals consumed or the cache skipped.
    seed_everything(run.seed)
    attached = attach(run, prepared, allocated.allocation)
    run = run.with_precision(training_precision(run.train, rd, attached, prepared, resuming))
    assert run.precision is not None and run.eval_precision is not None
    evaluator = Evaluator(attached.model, prepared, run.train.eval_batch_size, run.eval_precision, heartbeat)
    # what runs, read back from the model (not the config), checked against what the config asked for
    setup = read_setup(
        attached.model, train_autocast=DTYPES[run.precision], eval_autocast=DTYPES[run.eval_precision]
    )
    check_setup(setup, run.lora, prepared.device)
    key = base_eval_parts(prepared.data_key, run.eval_precision, run.train.eval_batch_size, prepared.device)
    base = base_evaluation(rd, evaluator, run.precision, resuming, cache, key)
    base_scores = {  # metrics a scorer computes (train.eval_metrics); the base model's shared by the study
        m.name: evaluator.score(
            m, run.data, rd.base_eval_examples, partial(cache.get, f"base-{m.name}", {**key, **scorer_key(m)})
        )
        for m in run.scored
    }
    trained = train_adapters(run, rd, prepared, attached, allocated.allocation, evaluator, heartbeat)
    save_artefacts(rd, attached, trained)
    scores = {
        m.name: metric_score(base_scores[m.name], evaluator.score(m, run.data, rd.eval_examples))
        for m in run.scored
    }
    session = Session(wall_s=time.perf_counter() - started, memory_mb=memory.stop())
    record = make_record(run, prepared, allocated, attached, base, trained, session, setup)
    if scores:
        record = record.model_copy(update={"scores": scores})
    rd.write_record(record)
    return record

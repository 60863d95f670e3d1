"""loralab beside the tool a user would pick instead: `transformers.Trainer` + PEFT, on the same work.

Arms (same model, examples, hyper-parameters, precision, LoRA dropout and optimizer steps):
  a       Trainer + PEFT as alpaca-lora configures it: pad to longest (multiple of 8), random batches,
          loss over full logits (`model(**batch).loss`), AdamW, cosine schedule, clip 1.0
  a2      the same Trainer with `train_sampling_strategy="group_by_length"`
  b       loralab's own training path: `loralab.train.loop.train` on `prepare_data`'s examples with
          adapters from `attach_lora`, exactly what a run calls (defaults of `TrainConfig`/`LoraConfig`)
  b:<lever>  b with one lever switched (ablation lines, see LEVERS)

Every arm trains one epoch of the same `--steps` x `--batch-size` Alpaca examples (each batches them
its own way), so examples/s compares like with like. Each arm runs in its own spawned process (so
peak RSS is its own) from this one script; arms (and precisions, `--precision fp32,bf16`) are
interleaved over `--repeats` and the median is reported. Timing starts after the first optimizer step
(allocator warm-up, compile). Eval loss: loralab's supervised-token NLL on the same held-out examples
for every arm. Model FLOPs per step: 4 x (non-embedding params) per real token + 4 x d x vocab per
supervised position (the head's useful work); the share of the GEMM peak measured here, in this run.
Asserts nothing.

    python benchmarks/throughput.py                       # defaults: a few minutes
    python benchmarks/throughput.py --steps 32 --repeats 2 --precision fp32,bf16   # stable ratios
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from queue import Empty
from typing import Any

import torch

# ../shared beside the checkout (or beside the worktrees' folder): the Alpaca file is never copied in
_ALPACA = [
    p / "shared" / "data" / "alpaca" / "alpaca_data.json" for p in Path(__file__).resolve().parents[2:4]
]
DEFAULT_DATA = next((p for p in _ALPACA if p.is_file()), _ALPACA[0])
TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
# lever name -> (LoraConfig overrides, TrainConfig overrides) applied to arm b
LEVERS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "nodrop": ({"dropout": 0.0}, {}),
    "shared-dropout": ({"dropout_sharing": "input"}, {}),
    # dropout levers name both settings, so that their meaning does not move with the defaults
    "peft-dropout": ({"dropout_impl": "peft", "dropout_rng": "torch"}, {}),  # PEFT's own, its masks
    "mask-dropout": ({"dropout_impl": "mask", "dropout_rng": "torch"}, {}),
    "compact-dropout": ({"dropout_impl": "compact", "dropout_rng": "torch"}, {}),
    "fast-dropout": ({"dropout_impl": "peft", "dropout_rng": "fast"}, {}),
    "fast-compact-dropout": ({"dropout_impl": "compact", "dropout_rng": "fast"}, {}),
    "eager": ({}, {}),  # attention that keeps its probabilities (b uses SDPA, transformers' default)
    "unfused-head": ({}, {}),  # logits + cross_entropy, kept for backward (loralab.nll.FUSED_HEAD off)
    "checkpointing": ({}, {"activation_checkpointing": True}),
    "forward-1024": ({}, {"max_forward_tokens": 1024}),  # long batches in passes of <= 1024 positions
    "forward-768": ({}, {"max_forward_tokens": 768}),
    "compile": ({}, {"compile": True}),
    "adamw-foreach": ({}, {"optimizer": "adamw_foreach"}),
    "adamw-fused": ({}, {"optimizer": "adamw_fused"}),
}


def gemm_rate(m: int, k: int, n: int, dtype: torch.dtype, reps: int = 6) -> float:
    """Median GFLOP/s of an (m x k) @ (k x n) product in `dtype` on this process's threads."""
    a, b = torch.randn(m, k).to(dtype), torch.randn(k, n).to(dtype)
    a @ b
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t)
    return 2 * m * k * n / statistics.median(times) / 1e9


def gemm_gflops(dtype: torch.dtype, n: int = 2048, reps: int = 6) -> float:
    """Median GFLOP/s of an n x n matmul in `dtype`: the peak MFU is measured against."""
    return gemm_rate(n, n, n, dtype, reps)


def _data(args: argparse.Namespace, tokenizer: Any):
    from loralab.config import DataConfig
    from loralab.data import prepare_data

    pool = args.batch_size * args.steps  # one epoch: every arm trains on the same examples
    cfg = DataConfig(
        source=args.data, max_examples=pool + args.eval_examples, val_set_size=args.eval_examples,
        cutoff_len=args.cutoff, split_seed=0,
    )  # fmt: skip
    return prepare_data(cfg, tokenizer)


def _model(args: argparse.Namespace, attention: str = "sdpa"):
    from loralab.config import ModelConfig
    from loralab.models import load_model

    loaded = load_model(ModelConfig(name=args.model))
    loaded.model.config._attn_implementation = attention  # the HF switch, read at forward time
    return loaded


def _flops(model: torch.nn.Module, real_tokens: int, supervised: int) -> float:
    hf = model.get_base_model() if hasattr(model, "get_base_model") else model
    emb = hf.get_input_embeddings().weight
    body = sum(p.numel() for n, p in hf.named_parameters() if "lora_" not in n) - emb.numel()
    return 4.0 * body * real_tokens + 4.0 * emb.numel() * supervised


def _batch_counts(batch: dict[str, torch.Tensor]) -> tuple[int, int, int, int]:
    """(examples, supervised tokens, real tokens, positions) of one batch."""
    mask = batch["attention_mask"]
    sup = int((batch["labels"][:, 1:] != -100).sum())
    return int(mask.shape[0]), sup, int(mask.sum()), int(mask.numel())


def _eval_loss(model: torch.nn.Module, data: Any, pad_id: int, precision: str) -> float:
    from loralab.evaluate import evaluate

    ac = torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16")
    return evaluate(
        model, data.eval, batch_size=16, pad_id=pad_id, device=torch.device("cpu"), autocast=ac
    ).loss


def arm_trainer(args: argparse.Namespace, grouped: bool) -> dict[str, Any]:
    """Arm a / a2: Trainer + PEFT, the alpaca-lora recipe."""
    from peft import LoraConfig, get_peft_model
    from transformers import (
        DataCollatorForSeq2Seq,
        PrinterCallback,
        Trainer,
        TrainerCallback,
        TrainingArguments,
    )

    loaded = _model(args)
    tok = loaded.tokenizer
    data = _data(args, tok)
    train = [
        {"input_ids": list(e.input_ids), "attention_mask": [1] * len(e), "labels": list(e.labels)}
        for e in data.train
    ]
    peft_cfg = LoraConfig(
        r=8, lora_alpha=16, lora_dropout=args.dropout, target_modules=list(TARGETS), bias="none",
        task_type="CAUSAL_LM",
    )  # fmt: skip
    torch.manual_seed(args.seed)  # the adapters' init: get_peft_model runs before the Trainer seeds
    model = get_peft_model(loaded.model, peft_cfg)
    inner = DataCollatorForSeq2Seq(tok, pad_to_multiple_of=8, return_tensors="pt", padding=True)
    seen: list[tuple[int, int, int, int]] = []

    def collator(features: list[dict]) -> dict[str, torch.Tensor]:
        batch = inner(features)
        seen.append(_batch_counts(batch))
        return batch

    marks: list[float] = []
    losses: list[float] = []

    class Clock(TrainerCallback):
        def on_step_end(self, *a: Any, **k: Any) -> None:
            marks.append(time.perf_counter())

        def on_log(self, _a: Any, _s: Any, _c: Any, logs: dict | None = None, **k: Any) -> None:
            if logs and "loss" in logs:
                losses.append(float(logs["loss"]))

    with tempfile.TemporaryDirectory() as out:
        targs = TrainingArguments(
            output_dir=out, per_device_train_batch_size=args.batch_size, max_steps=args.steps,
            learning_rate=3e-4, lr_scheduler_type="cosine", warmup_steps=0, weight_decay=0.0,
            max_grad_norm=1.0, optim="adamw_torch", logging_steps=1, save_strategy="no", report_to=[],
            bf16=args.precision == "bf16", use_cpu=True, seed=args.seed, data_seed=args.seed,
            dataloader_num_workers=0,
            train_sampling_strategy="group_by_length" if grouped else "random", disable_tqdm=True,
        )  # fmt: skip
        trainer = Trainer(
            model=model, args=targs, train_dataset=train, data_collator=collator, callbacks=[Clock()]
        )
        trainer.remove_callback(PrinterCallback)  # its per-step dicts would drown the table
        trainer.train()
    return _result(marks, seen, model, data, tok.pad_token_id, args, losses[-1] if losses else math.nan)


def arm_loralab(args: argparse.Namespace, lever: str | None) -> dict[str, Any]:
    """Arm b: loralab's real training path (the loop and data pipeline a run uses)."""
    from loralab.adapters import attach_lora
    from loralab.config import LoraConfig, TrainConfig
    from loralab.strategies import Signals, get_strategy, resolve_budget
    from loralab.train import Callback
    from loralab.train.loop import train

    lora_kw, train_kw = LEVERS[lever] if lever else ({}, {})
    if lever == "unfused-head":
        import loralab.nll

        loralab.nll.FUSED_HEAD = False
    loaded = _model(args, "eager" if lever == "eager" else "sdpa")
    tok = loaded.tokenizer
    data = _data(args, tok)
    lcfg = LoraConfig(**{"dropout": args.dropout, **lora_kw})  # a lever may set the dropout itself
    from loralab.models import target_modules

    modules = target_modules(loaded.model)
    budget = resolve_budget("r8", modules, sum(p.numel() for p in loaded.model.parameters()))
    uniform = get_strategy("uniform")
    alloc = uniform.allocate(modules, budget, Signals(), uniform.Options())
    model = attach_lora(loaded.model, alloc, lcfg, seed=args.seed, total_steps=args.steps)
    tcfg = TrainConfig(
        max_steps=args.steps, batch_size=args.batch_size, checkpoint_every=0, seed=args.seed, **train_kw
    )
    marks: list[float] = []
    losses: list[float] = []

    class Clock(Callback):
        def on_step_end(self, state: Any) -> None:
            marks.append(time.perf_counter())
            losses.append(state.logs["loss"])

    from loralab.data import collate
    from loralab.train.loop import BatchPlan

    plan = BatchPlan([len(e) for e in data.train], args.batch_size, tcfg.seed, True)
    seen = [
        _batch_counts(collate([data.train[i] for i in plan.micro_batch(s)[1]], 0)) for s in range(args.steps)
    ]
    with tempfile.TemporaryDirectory() as ckpt:
        train(
            model, data.train, tcfg, pad_id=tok.pad_token_id, device=torch.device("cpu"),
            precision=args.precision, checkpoint_dir=Path(ckpt), callbacks=[Clock()], evaluate=dict,
        )  # fmt: skip
    return _result(marks, seen, model, data, tok.pad_token_id, args, losses[-1])


def _result(marks, seen, model, data, pad_id, args, train_loss) -> dict[str, Any]:
    timed = seen[1 : len(marks)]  # steps 2..N (the collator may run one batch ahead)
    secs = marks[-1] - marks[0]
    ex, sup, real, pos = (sum(c[i] for c in timed) for i in range(4))
    return {
        "examples_s": ex / secs,
        "sup_tokens_s": sup / secs,
        "padding": 1 - real / pos,
        "flops_s": _flops(model, real, sup) / secs,
        "train_loss": train_loss,
        "eval_loss": _eval_loss(model, data, pad_id, args.precision),
        "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
    }


def _child(arm: str, args: argparse.Namespace, queue: Any) -> None:
    torch.set_num_threads(args.threads)
    if arm in ("a", "a2"):
        queue.put(arm_trainer(args, grouped=arm == "a2"))
    else:
        queue.put(arm_loralab(args, arm.partition(":")[2] or None))


def run_arm(arm: str, args: argparse.Namespace, precision: str) -> dict[str, Any]:
    """One arm in one precision, in a fresh spawned process (its own peak RSS); returns its figures."""
    args = argparse.Namespace(**{**vars(args), "precision": precision})
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(arm, args, queue))
    proc.start()
    while True:  # a child that dies (an error, the OOM killer) must not leave us waiting forever
        try:
            result = queue.get(timeout=5)
            break
        except Empty:
            if not proc.is_alive():
                raise SystemExit(
                    f"arm {arm} died (exit code {proc.exitcode}); see its traceback above"
                ) from None
    proc.join()
    return result


def report(med: dict[str, dict[str, float]], precision: str, peak: float) -> None:
    """One precision's table (medians per arm) and each b arm's ratios to a and a2."""
    print(f"\n{precision}:")
    cols = [("arm", -22), ("ex/s", 7), ("sup tok/s", 11), ("padding", 9), ("peak RSS", 10)]
    cols += [("train loss", 12), ("eval loss", 11), ("MFU", 7)]
    print("".join(f"{n:<{-w}}" if w < 0 else f"{n:>{w}}" for n, w in cols))
    for a, m in med.items():
        print(
            f"{a:<22}{m['examples_s']:>7.2f}{m['sup_tokens_s']:>11.1f}{m['padding']:>9.1%}"
            f"{m['peak_rss_gib']:>8.2f}Gi{m['train_loss']:>12.4f}{m['eval_loss']:>11.4f}"
            f"{m['flops_s'] / 1e9 / peak:>7.1%}"
        )
    for base in ("a", "a2"):
        for other, r in med.items():
            if base in med and other.startswith("b"):
                print(
                    f"{other}/{base}: examples/s {r['examples_s'] / med[base]['examples_s']:.2f}x,"
                    f" sup tokens/s {r['sup_tokens_s'] / med[base]['sup_tokens_s']:.2f}x,"
                    f" peak RSS {r['peak_rss_gib'] / med[base]['peak_rss_gib']:.2f}x"
                )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--data", default=str(DEFAULT_DATA) if DEFAULT_DATA.is_file() else "synthetic")
    ap.add_argument("--steps", type=int, default=6, help="optimizer steps per arm (the first is not timed)")
    ap.add_argument("--repeats", type=int, default=1, help="interleaved repeats; the median is reported")
    ap.add_argument("--precision", default="fp32", help="fp32, bf16 or both side by side: fp32,bf16")
    ap.add_argument("--arms", default="a,a2,b", help=f"comma list; b:<lever> with lever in {sorted(LEVERS)}")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--cutoff", type=int, default=256)
    ap.add_argument("--dropout", type=float, default=0.05)
    ap.add_argument("--eval-examples", type=int, default=32)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument(
        "--seed", type=int, default=0, help="every arm's seed: adapter init, batch order, dropout"
    )
    ap.add_argument("--json", help="also write the medians to this file")
    args = ap.parse_args()
    bad = [p for p in args.precision.split(",") if p not in ("fp32", "bf16")]
    if bad:
        ap.error(f"--precision {bad[0]!r}: use fp32, bf16 or fp32,bf16")
    torch.set_num_threads(args.threads)
    print(f"load average at start: {os.getloadavg()}")
    peak = {"fp32": gemm_gflops(torch.float32), "bf16": gemm_gflops(torch.bfloat16)}
    print(
        f"GEMM peak on {args.threads} threads (n=2048): fp32 {peak['fp32']:.0f},"
        f" bf16 {peak['bf16']:.0f} GFLOP/s"
    )
    print(
        f"model {args.model}, data {args.data}, {args.precision}, batch {args.batch_size}, cutoff"
        f" {args.cutoff}, r8 on {len(TARGETS)} projections, dropout {args.dropout}, {args.steps} steps"
    )
    arms, precisions = args.arms.split(","), args.precision.split(",")
    jobs = [(arm, prec) for prec in precisions for arm in arms]
    runs: dict[tuple[str, str], list[dict]] = {job: [] for job in jobs}
    for rep in range(args.repeats):
        for arm, prec in jobs if rep % 2 == 0 else jobs[::-1]:
            runs[arm, prec].append(run_arm(arm, args, prec))
            rate = runs[arm, prec][-1]["examples_s"]
            print(f"  repeat {rep + 1} {arm} {prec}: {rate:.2f} ex/s", file=sys.stderr)
    med = {job: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for job, rs in runs.items()}
    for prec in precisions:
        report({a: m for (a, p), m in med.items() if p == prec}, prec, peak[prec])
    if len(precisions) > 1:
        first = precisions[0]
        for (arm, prec), m in med.items():
            if prec != first:
                base = med[arm, first]
                print(
                    f"{arm} {prec}/{first}: examples/s {m['examples_s'] / base['examples_s']:.2f}x,"
                    f" sup tokens/s {m['sup_tokens_s'] / base['sup_tokens_s']:.2f}x,"
                    f" peak RSS {m['peak_rss_gib'] / base['peak_rss_gib']:.2f}x"
                    f" (GEMM peak {peak[prec] / peak[first]:.2f}x)"
                )
    print(f"load average at end: {os.getloadavg()}")
    if args.json:
        medians = [{"arm": a, "precision": p, **m} for (a, p), m in med.items()]
        Path(args.json).write_text(
            json.dumps({"args": vars(args), "peak": peak, "median": medians}, indent=1)
        )


if __name__ == "__main__":
    main()

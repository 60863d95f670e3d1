"""How close is fp32 evaluation to this CPU's GEMM rate, and what could make it faster without changing
its numbers? (issue 28, goal 3: "2x faster fp32 evaluation, per-example NLL within 1e-6")

Evaluation is forward passes only: 2 x (body parameters) FLOPs per position, plus the LM head on the
supervised positions (loralab never computes logits elsewhere). This script times `evaluate` on the
first N held-out Alpaca examples at T threads, times an n=2048 fp32 GEMM on the same threads in the
same process, and prints the share of that rate the evaluation reaches, with the padding of its
length-sorted batches. It also prints the ceiling of the one lever that cuts FLOPs without
changing the model: computing the shared template prefix of the prompts once (prefix caching),
whose share of all positions bounds its speed-up. Prints numbers; asserts nothing.

Usage: python benchmarks/eval_speed.py [--examples 128] [--threads 1] [--batch-size 16]
"""

from __future__ import annotations

import argparse
import os
import time

import torch
from throughput import DEFAULT_DATA, gemm_gflops  # benchmarks/ is the script's own directory

from loralab.config import DataConfig, ModelConfig
from loralab.data import prepare_data
from loralab.data.batching import padding_fraction, sequential_batches
from loralab.data.tokenize import IGNORE_INDEX
from loralab.evaluate import evaluate
from loralab.models import load_model


def shared_prefix(sequences: list[list[int]]) -> int:
    """Positions of the longest prefix every sequence starts with."""
    first = sequences[0]
    n = min(len(s) for s in sequences)
    for i in range(n):
        if any(s[i] != first[i] for s in sequences):
            return i
    return n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(DEFAULT_DATA))
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--examples", type=int, default=128)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"load average at start: {os.getloadavg()}")
    loaded = load_model(ModelConfig(name=args.model))
    cfg = DataConfig(source=args.data, val_set_size=500, split_seed=0, cutoff_len=256)
    examples = prepare_data(cfg, loaded.tokenizer).eval[: args.examples]
    lengths = [len(e.input_ids) for e in examples]
    positions = sum(lengths)
    supervised = sum(sum(1 for x in e.labels[1:] if x != IGNORE_INDEX) for e in examples)
    model = loaded.model.eval()
    body = sum(p.numel() for n, p in model.named_parameters() if "embed" not in n)
    head = model.get_output_embeddings().weight.numel()
    flops = 2 * body * positions + 2 * head * supervised  # linear layers only: attention adds a few %

    probe_before = gemm_gflops(torch.float32)
    t = time.perf_counter()
    result = evaluate(
        model,
        examples,
        batch_size=args.batch_size,
        pad_id=loaded.tokenizer.pad_token_id,
        device=torch.device("cpu"),
    )
    seconds = time.perf_counter() - t
    probe_after = gemm_gflops(torch.float32)
    probe = (probe_before + probe_after) / 2
    rate = flops / seconds / 1e9
    pad = padding_fraction(sequential_batches(lengths, args.batch_size), lengths)

    # prompts that share the template: with and without an input field (Alpaca's two templates)
    prompts: dict[bool, list[list[int]]] = {}
    for e in examples:
        first_label = next(i for i, x in enumerate(e.labels) if x != IGNORE_INDEX)
        prompt = list(e.input_ids[:first_label])
        prompts.setdefault("### Input:" in loaded.tokenizer.decode(prompt), []).append(prompt)
    cached = sum(shared_prefix(group) * (len(group) - 1) for group in prompts.values() if len(group) > 1)

    print(
        f"examples {len(examples)}, positions {positions}, supervised {supervised}, batch {args.batch_size}"
    )
    print(f"eval: {seconds:.1f} s, {positions / seconds:.0f} positions/s, loss {result.loss:.6f}")
    print(f"padding of the length-sorted batches: {100 * pad:.1f} %")
    print(f"fp32 GEMM probe on {args.threads} thread(s): {probe_before:.0f} before, {probe_after:.0f} after")
    print(f"eval rate: {rate:.0f} GFLOP/s = {100 * rate / probe:.0f} % of the probe (linear layers only)")
    padded = rate / (1 - pad) if pad < 1 else rate  # the body also runs on the padded positions
    print(f"counting the padded positions' work too: {100 * padded / probe:.0f} % of the probe")
    print(
        f"ceilings: no padding at all {1 / (1 - pad):.2f}x; the probe's rate on the same work"
        f" {probe / padded:.2f}x; both {probe / rate:.2f}x"
    )
    share = cached / positions
    print(
        f"shared template prefix: {100 * share:.1f} % of positions; prefix caching could save at most that"
        f" share of the body's FLOPs: <= {1 / (1 - share * 2 * body * positions / flops):.2f}x"
    )
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()

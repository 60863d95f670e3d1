"""Where a loralab run's resident memory goes: RSS and peak RSS after each stage and each step.

One process runs arm b of `throughput.py` (SmolLM2-135M, Alpaca, loralab's training path) and prints,
after model load, data, adapters and every optimizer step, the resident set now and the peak so far,
and each step's seconds. Switches (`--lora`, `--train`) show what a lever does to the peak; the glibc
allocator can be tuned from outside (`GLIBC_TUNABLES`), which is how allocator settings were
measured (docs/performance.md). Asserts nothing.

    python benchmarks/rss_stages.py --steps 8
    python benchmarks/rss_stages.py --steps 8 --train activation_checkpointing=true
    GLIBC_TUNABLES=glibc.malloc.mmap_threshold=2097152 python benchmarks/rss_stages.py --steps 8
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from throughput import DEFAULT_DATA, _data, _model


def rss_gib() -> tuple[float, float]:
    """(resident now, peak so far) of this process, GiB."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    now = pages * resource.getpagesize() / 2**30
    return now, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def say(stage: str) -> None:
    now, peak = rss_gib()
    print(f"{stage:<22}{now:>9.2f}{peak:>9.2f}", flush=True)


def overrides(pairs: list[str]) -> dict[str, Any]:
    out = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        out[key] = yaml.safe_load(value)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--data", default=str(DEFAULT_DATA) if DEFAULT_DATA.is_file() else "synthetic")
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--cutoff", type=int, default=256)
    ap.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    ap.add_argument("--lora", nargs="*", default=[], help="LoraConfig fields, e.g. dropout_impl=compact")
    ap.add_argument("--train", nargs="*", default=[], help="TrainConfig fields, e.g. compile=true")
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = ap.parse_args()
    args.eval_examples = 32
    torch.set_num_threads(args.threads)

    from loralab.adapters import attach_lora
    from loralab.config import LoraConfig, TrainConfig
    from loralab.models import target_modules
    from loralab.strategies import Signals, get_strategy, resolve_budget
    from loralab.train import Callback
    from loralab.train.loop import train

    print(f"{'stage':<22}{'RSS':>9}{'peak':>9}  GiB")
    say("start")
    loaded = _model(args)
    say("model loaded")
    data = _data(args, loaded.tokenizer)
    say("data")
    modules = target_modules(loaded.model)
    budget = resolve_budget("r8", modules, sum(p.numel() for p in loaded.model.parameters()))
    uniform = get_strategy("uniform")
    alloc = uniform.allocate(modules, budget, Signals(), uniform.Options())
    lcfg = LoraConfig(**{"dropout": 0.05, **overrides(args.lora)})
    model = attach_lora(loaded.model, alloc, lcfg, seed=0, total_steps=args.steps)
    say("adapters")
    last = [time.perf_counter()]

    class Stages(Callback):
        def on_step_end(self, state: Any) -> None:
            now = time.perf_counter()
            say(f"step {state.step} ({now - last[0]:.2f} s)")
            last[0] = now

    tcfg = TrainConfig(
        max_steps=args.steps, batch_size=args.batch_size, checkpoint_every=0, seed=0, **overrides(args.train)
    )
    with tempfile.TemporaryDirectory() as ckpt:
        train(
            model, data.train, tcfg, pad_id=loaded.tokenizer.pad_token_id, device=torch.device("cpu"),
            precision=args.precision, checkpoint_dir=Path(ckpt), callbacks=[Stages()], evaluate=dict,
        )  # fmt: skip
    say("end")


if __name__ == "__main__":
    main()

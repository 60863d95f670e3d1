"""Exact-match generation with and without per-example early stopping, on the same model and examples:
how much time does stopping once a score is decided save, and are the scores the same?

Usage: python benchmarks/early_stop.py [--model smollm2-135m] [--examples 64] [--batch-size 16]
[--repeats 2] [--threads 2] [--adapter RUN_DIR/adapter]. The default data is the demo's (synthetic
tasks, 64 eval examples, cutoff 128, eval batch 16; `loralab/assets/demo_study.yaml`), scored on the
base model, which rarely emits EOS, and, with `--adapter`, on a run's adapted model too (a demo run
with `train.eval_metrics=[eval_loss, exact_match]`: its answers are right often enough to test that
early stopping keeps them). Arms are interleaved, each repeat both ways; prints seconds (medians) and
forward passes per arm, their ratios and whether every per-example score is identical. Asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
from pathlib import Path

import torch

from loralab.accuracy import exact_match_accuracy
from loralab.config import DataConfig, ModelConfig
from loralab.data import prepare_data
from loralab.models import load_model
from loralab.scoring import eval_records


def compare(name: str, model: torch.nn.Module, tokenizer, records, indices, args) -> None:
    """Both arms on `model`, interleaved `args.repeats` times; one line each and their ratio."""
    forwards = [0]  # forward passes: generation steps summed over batches, whatever the machine's load
    counted = model.get_base_model() if hasattr(model, "get_base_model") else model  # PEFT: the LM inside
    hook = counted.register_forward_hook(lambda *_: forwards.__setitem__(0, forwards[0] + 1))
    seconds: dict[bool, list[float]] = {False: [], True: []}
    steps, frames = {}, {}
    for _ in range(args.repeats):
        for early in (False, True):
            forwards[0] = 0
            result = exact_match_accuracy(
                model, tokenizer, records, indices, batch_size=args.batch_size,
                pad_id=tokenizer.pad_token_id, device=torch.device("cpu"), cutoff_len=args.cutoff,
                early_stop=early,
            )  # fmt: skip
            seconds[early].append(result.seconds)
            steps[early], frames[early] = forwards[0], result.per_example
    hook.remove()
    for early in (False, True):
        times = ", ".join(f"{s:.1f}" for s in seconds[early])
        print(
            f"{name} early_stop={early!s:5}: median {statistics.median(seconds[early]):.1f} s ({times});"
            f" {steps[early]} forward passes; exact match {frames[early]['exact_match'].mean():.4f}"
        )
    ratio = statistics.median(seconds[True]) / statistics.median(seconds[False])
    same = frames[True].equals(frames[False])
    print(
        f"{name} early / full: {ratio:.3f} in time, {steps[True] / steps[False]:.3f} in forward passes;"
        f" per-example scores {'IDENTICAL' if same else 'DIFFERENT'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--data", default="synthetic", help="the demo's synthetic tasks, or a file")
    parser.add_argument("--examples", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--cutoff", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--adapter", type=Path, help="a run's adapter/ directory (PEFT format)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"load average at start: {os.getloadavg()}")
    loaded = load_model(ModelConfig(name=args.model))
    data_cfg = DataConfig(
        source=args.data, synthetic_size=1200, val_set_size=args.examples, cutoff_len=args.cutoff
    )
    examples = prepare_data(data_cfg, loaded.tokenizer).eval[: args.examples]
    records, indices = eval_records(data_cfg, examples), [e.index for e in examples]
    print(
        f"model {args.model}, data {args.data}, {len(examples)} examples, batch {args.batch_size},"
        f" cutoff {args.cutoff}, {args.threads} threads, {args.repeats} repeat(s), CPU"
    )
    compare("base", loaded.model, loaded.tokenizer, records, indices, args)
    if args.adapter is not None:
        from peft import PeftModel

        adapted = PeftModel.from_pretrained(loaded.model, str(args.adapter))
        compare("adapted", adapted, loaded.tokenizer, records, indices, args)
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()

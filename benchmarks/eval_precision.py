"""Eval loss in fp32 and under bf16 autocast, on the same model and examples: how much does the eval
precision move the number we compare strategies by?

Usage: python benchmarks/eval_precision.py [--data ../shared/data/alpaca/alpaca_data.json]
[--model smollm2-135m] [--examples 64] [--batch-size 8]. Prints numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import time

import torch

from loralab.config import DataConfig, ModelConfig
from loralab.data import prepare_data
from loralab.evaluate import evaluate
from loralab.models import load_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data/alpaca/alpaca_data.json")
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--examples", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args()
    torch.manual_seed(0)
    loaded = load_model(ModelConfig(name=args.model))
    data_cfg = DataConfig(source=args.data, max_examples=args.examples * 5, val_set_size=args.examples)
    examples = prepare_data(data_cfg, loaded.tokenizer).eval
    device = torch.device("cpu")
    results = {}
    for name, dtype in (("fp32", None), ("bf16", torch.bfloat16)):
        autocast = torch.autocast("cpu", dtype=dtype, enabled=dtype is not None)
        t = time.perf_counter()
        results[name] = evaluate(
            loaded.model, examples, batch_size=args.batch_size, pad_id=loaded.tokenizer.pad_token_id,
            device=device, autocast=autocast,
        )  # fmt: skip
        print(f"{name}: eval loss {results[name].loss:.6f} nats over {results[name].tokens} tokens,"
              f" {len(examples)} examples, {time.perf_counter() - t:.1f}s")  # fmt: skip
    fp32, bf16 = results["fp32"], results["bf16"]
    per = (bf16.per_example.nll_mean - fp32.per_example.nll_mean).abs()
    print(f"bf16 - fp32: {bf16.loss - fp32.loss:+.6f} nats ({(bf16.loss - fp32.loss) / fp32.loss:+.3%});"
          f" per example |diff| mean {per.mean():.5f}, max {per.max():.5f} nats")  # fmt: skip


if __name__ == "__main__":
    main()

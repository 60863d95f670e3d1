"""Is the matmul peak reachable at a model's own shapes? GEMM rates at its linear layers' shapes.

`throughput.py` reports MFU against an n=2048 square GEMM. A LoRA step's products have other shapes:
(tokens x d_in) @ (d_in x d_out) forward and (tokens x d_out) @ (d_out x d_in) for the input
gradient, plus the head at the supervised positions. This times each shape of the model's body
(from its config, no weights loaded) and reports the FLOP-weighted rate against the square peak,
in fp32 and bf16, on this process's threads. Asserts nothing.

    python benchmarks/gemm_shapes.py                        # SmolLM2-135M's shapes, 1400 tokens
    python benchmarks/gemm_shapes.py --tokens 800 --d 576 --ffn 1536 --kv 192 --vocab 49152
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from throughput import gemm_rate

REPS = 8  # timed products per shape (the head's large ones: 4)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=int, default=1400, help="real tokens per batch (8 x 175 on Alpaca)")
    ap.add_argument("--supervised", type=int, default=700, help="supervised positions per batch")
    ap.add_argument("--d", type=int, default=576)
    ap.add_argument("--ffn", type=int, default=1536)
    ap.add_argument("--kv", type=int, default=192, help="k/v projection width (grouped-query attention)")
    ap.add_argument("--vocab", type=int, default=49152)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    d, f, kv, m = args.d, args.ffn, args.kv, args.tokens
    # (d_in, d_out, count per layer): q, o; k, v; gate, up; down
    body = [(d, d, 2), (d, kv, 2), (d, f, 2), (f, d, 1)]
    print(f"{args.threads} threads, {m} tokens, {args.supervised} supervised positions")
    for dtype in (torch.float32, torch.bfloat16):
        peak = gemm_rate(2048, 2048, 2048, dtype, REPS)
        flops = secs = 0.0
        for d_in, d_out, count in body:
            for k, n in ((d_in, d_out), (d_out, d_in)):  # forward; input gradient
                r = gemm_rate(m, k, n, dtype, REPS)
                flops += 2 * m * k * n * count
                secs += 2 * m * k * n * count / (r * 1e9)
                print(f"  {str(dtype)[6:]:<9}({m} x {k}) @ ({k} x {n}): {r:6.0f} GFLOP/s")
        head = [
            gemm_rate(args.supervised, d, args.vocab, dtype, 4),
            gemm_rate(args.supervised, args.vocab, d, dtype, 4),
        ]
        body_rate = flops / secs / 1e9
        print(
            f"{str(dtype)[6:]}: n=2048 peak {peak:.0f} GFLOP/s; the body's products {body_rate:.0f}"
            f" ({body_rate / peak:.0%} of it); the head forward {head[0]:.0f}, input gradient {head[1]:.0f}"
        )


if __name__ == "__main__":
    main()

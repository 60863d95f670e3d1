"""benchmarks/gpu_epoch.py, the GPU epoch benchmark, checked on CPU with a tiny model (no GPU in CI)."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import gpu_epoch


def test_card_peak_matches_the_longest_name_first():
    assert gpu_epoch.card_peak("NVIDIA H100 PCIe") == 756.0
    assert gpu_epoch.card_peak("NVIDIA H100 80GB HBM3") == 989.0
    assert gpu_epoch.card_peak("NVIDIA H200") == 989.0
    assert gpu_epoch.card_peak("Some Other Card") is None


@pytest.mark.slow
def test_both_arms_count_the_same_epoch_even_with_dataloader_workers():
    """One epoch is every training example once: both arms must count the same examples and tokens.

    Arm a runs the Trainer with a dataloader worker (as on a GPU), where a collator's side effects
    would be lost in the worker process; the counts must still reach the benchmark.
    """
    args = gpu_epoch.parse_args(
        ["--model", "tiny-gpt2", "--data", "synthetic", "--max-examples", "64", "--eval-examples", "8",
         "--batch-size", "8", "--device", "cpu", "--precision", "fp32", "--loader-workers", "1"]
    )  # fmt: skip
    a, b = gpu_epoch.arm("a", args), gpu_epoch.arm("b", args)
    assert a["examples"] == b["examples"] > 0
    assert a["sup_tokens"] == b["sup_tokens"] > 0
    assert a["real_tokens"] == b["real_tokens"] >= a["sup_tokens"]
    assert 0 <= b["padding"] <= a["padding"] < 1  # length grouping pads less than random batches
    for r in (a, b):
        assert math.isfinite(r["eval_loss"]) and r["flops_s"] > 0 and r["wall_s"] > 0

"""A dynamic strategy written as a plug-in runs through the real `loralab run`: the pipeline calls its
hooks (PEFT config, training callback, extra loss) and records the final ranks its callback reports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from safetensors.torch import load_file

from loralab.store import Store
from tests.conftest import TINY_RUN, run_cli

PLUGIN = Path(__file__).parent / "dynamic_plugin.py"


@pytest.mark.slow
def test_a_dynamic_plugin_runs_through_its_hooks(tmp_path: Path) -> None:
    args = [*TINY_RUN, "train.max_steps=8", "lora.strategy=prune-late", f"output.root={tmp_path}"]
    out = run_cli("run", "--strategy-file", str(PLUGIN), *args)
    assert out.returncode == 0, out.stderr
    (rd,) = list(Store(tmp_path).runs("default"))
    e = json.loads(rd.eval.read_text())
    alloc = json.loads(rd.allocation.read_text())

    assert alloc["hook_calls"]["peft_config"] == 1 and alloc["hook_calls"]["training_callback"] == 1
    assert alloc["hook_calls"]["extra_loss"] >= 8, "the extra loss is asked for every micro-batch"
    assert alloc["steps_seen"] == 8 and alloc["pruned_at"] == 4
    # The final ranks are the callback's: pruned modules at 0, held to the budget; the peak is the start.
    pruned = set(alloc["final"]["details"]["pruned"])
    assert pruned and {m["name"] for m in alloc["final"]["modules"] if m["rank"] == 0} == pruned
    assert all(m["rank"] > 0 for m in alloc["initial"]["modules"])
    assert (
        alloc["final"]["achieved_params"]
        == e["allocated_params"]
        == e["trainable_params"]
        <= e["budget_params"]
    )
    assert e["peak_trainable_params"] == alloc["initial"]["achieved_params"] > e["budget_params"]
    assert e["budget_status"] in ("PASS", "UNDER") and e["train_steps"] == 8
    # the strategy as its code described it, kept when the dynamic record replaced the initial one
    assert alloc["strategy"]["name"] == "prune-late" and alloc["strategy"]["kind"] == "dynamic"
    assert alloc["strategy"]["description"].startswith("Test plug-in: start above the budget")
    # What was pruned is zero in the saved adapter; the rest trained.
    tensors = load_file(rd.adapter / "adapter_model.safetensors")
    for name, t in tensors.items():
        if "lora_B" in name:
            is_pruned = any(f"{m}.lora_B" in name for m in pruned)
            assert bool(t.abs().sum() == 0) == is_pruned, name

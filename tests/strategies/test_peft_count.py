"""Every strategy's allocation builds PEFT adapters whose trainable count is exactly `allocation.params`."""

from __future__ import annotations

import copy

import pytest
from peft import get_peft_model
from strategy_fixtures import budget_for, gpt2_modules, llama_modules, synthetic_signals
from tiny_models import tiny_gpt2, tiny_llama
from transformers.pytorch_utils import Conv1D

from loralab.adapters import build_lora_config
from loralab.config import LoraConfig
from loralab.strategies import available, get_strategy, parse_options
from loralab.strategies.adalora.peft_config import build_adalora_config

BASES = {"gpt2": (tiny_gpt2, gpt2_modules), "llama": (tiny_llama, llama_modules)}


@pytest.fixture(scope="module")
def base_models() -> dict:
    return {k: make() for k, (make, _) in BASES.items()}


@pytest.mark.parametrize("arch", sorted(BASES))
def test_hand_built_module_sets_match_the_real_models(arch: str, base_models: dict) -> None:
    model = base_models[arch]
    for m in BASES[arch][1]():
        layer = model.get_submodule(m.name)
        d_in, d_out = layer.weight.shape if isinstance(layer, Conv1D) else layer.weight.shape[::-1]
        assert (d_in, d_out) == (m.d_in, m.d_out), m.name


def trainable(model) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


@pytest.mark.parametrize("arch", sorted(BASES))
@pytest.mark.parametrize("name", available())
def test_peft_trainable_count_equals_allocation_params(name: str, arch: str, base_models: dict) -> None:
    modules = BASES[arch][1]()
    s = get_strategy(name)
    a = s.allocate(modules, budget_for("r4", modules), synthetic_signals(modules), parse_options(s, {}))
    model = copy.deepcopy(base_models[arch])
    conv1d = arch == "gpt2"
    if s.dynamic:
        cfg = build_adalora_config(a, 20, alpha=8.0, dropout=0.0, fan_in_fan_out=conv1d)
    else:  # the config a run builds, not a copy of it
        cfg = build_lora_config(a, LoraConfig(dropout=0.0), fan_in_fan_out=conv1d)
    peft_model = get_peft_model(model, cfg)
    assert trainable(peft_model) == a.params

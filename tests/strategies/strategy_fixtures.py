"""Module sets (GPT-2-like and Llama-like, built by hand with real tiny shapes), budgets and synthetic
signals shared by the strategy tests (imported by name: tests/ has no packages)."""

from __future__ import annotations

import math

from loralab.modules import TargetModule
from loralab.strategies import Budget, Signals, resolve_budget

N_LAYERS = 4


def gpt2_modules() -> list[TargetModule]:
    """Tiny GPT-2 (n_embd 64, 4 layers): fused c_attn 64->192, c_proj 64->64, c_fc 64->256, c_proj 256->64."""
    out = []
    for layer in range(N_LAYERS):
        p = f"transformer.h.{layer}."
        out += [
            TargetModule(p + "attn.c_attn", layer, "attn_qkv", 64, 192),
            TargetModule(p + "attn.c_proj", layer, "attn_out", 64, 64),
            TargetModule(p + "mlp.c_fc", layer, "mlp_in", 64, 256),
            TargetModule(p + "mlp.c_proj", layer, "mlp_out", 256, 64),
        ]
    return out


def llama_modules() -> list[TargetModule]:
    """Tiny Llama (hidden 64, 4 heads, 2 KV heads of 16, intermediate 160, 4 layers): GQA shapes."""
    out = []
    for layer in range(N_LAYERS):
        p = f"model.layers.{layer}."
        out += [
            TargetModule(p + "self_attn.q_proj", layer, "attn_q", 64, 64),
            TargetModule(p + "self_attn.k_proj", layer, "attn_k", 64, 32),
            TargetModule(p + "self_attn.v_proj", layer, "attn_v", 64, 32),
            TargetModule(p + "self_attn.o_proj", layer, "attn_out", 64, 64),
            TargetModule(p + "mlp.gate_proj", layer, "mlp_gate", 64, 160),
            TargetModule(p + "mlp.up_proj", layer, "mlp_up", 64, 160),
            TargetModule(p + "mlp.down_proj", layer, "mlp_out", 160, 64),
        ]
    return out


MODULE_SETS = {"gpt2": gpt2_modules, "llama": llama_modules}
BUDGETS = ("r4", "r8", "12345", "1%")
MODEL_PARAMS = 2_000_000  # what "1%" is a fraction of


def synthetic_signals(modules: list[TargetModule], seed: int = 0) -> Signals:
    """Deterministic, varied importances and spectra for every module (no model needed)."""
    importance = {
        m.name: (1 + m.layer) * (2.0 if m.family == "attn" else 1.0) * m.cost_per_rank for m in modules
    }
    spectra = {}
    for i, m in enumerate(modules):
        decay = 0.05 + 0.1 * (i % 5)  # some spectra flat, some steep
        spectra[m.name] = [math.exp(-decay * k) for k in range(m.max_rank)]
    return Signals(seed=seed, importance=importance, spectra=spectra)


def budget_for(spec: str, modules: list[TargetModule]) -> Budget:
    return resolve_budget(spec, modules, MODEL_PARAMS)

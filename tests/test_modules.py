"""Module kinds in the order of the model: what the heatmaps' columns follow."""

from loralab.config import ModelConfig
from loralab.models import load_model, target_modules
from loralab.modules import in_model_order


def test_kinds_in_model_order_follow_a_llama_block_not_the_alphabet():
    mods = target_modules(load_model(ModelConfig(name="tiny-llama")).model)
    order = in_model_order(m.kind for m in mods)
    assert order == ["attn_q", "attn_k", "attn_v", "attn_out", "mlp_gate", "mlp_up", "mlp_out"]
    assert order != sorted(order)


def test_first_appearance_wins_and_each_kind_appears_once():
    assert in_model_order(["b", "a", "b", "c", "a"]) == ["b", "a", "c"]
    assert in_model_order([]) == []

"""Speed switches change how fast a step runs, not what it computes (up to float rounding)."""

from __future__ import annotations

import pytest
import torch

from loralab.adapters import attach_lora
from loralab.config import DataConfig, LoraConfig, ModelConfig, TrainConfig
from loralab.data import prepare_data
from loralab.models import load_model, target_modules
from loralab.strategies import Signals, get_strategy, resolve_budget
from loralab.train import Callback, train
from loralab.train.speed import make_optimizer


class _Losses(Callback):
    def __init__(self):
        self.losses = []

    def on_step_end(self, state):
        self.losses.append(state.logs["loss"])


def _losses(tmp_path, dropout: float = 0.1, **train_kw) -> list[float]:
    loaded = load_model(ModelConfig(name="tiny-llama"))
    data = prepare_data(
        DataConfig(source="synthetic", synthetic_size=80, val_set_size=8, cutoff_len=64), loaded.tokenizer
    )
    mods = target_modules(loaded.model)
    uniform = get_strategy("uniform")
    alloc = uniform.allocate(mods, resolve_budget("r4", mods, 10**6), Signals(), uniform.Options())
    model = attach_lora(loaded.model, alloc, LoraConfig(dropout=dropout), seed=0)
    cfg = TrainConfig(max_steps=4, batch_size=4, lr=3e-3, checkpoint_every=0, **train_kw)
    rec = _Losses()
    torch.manual_seed(0)
    train(
        model, data.train, cfg, pad_id=loaded.tokenizer.pad_token_id, device=torch.device("cpu"),
        precision="fp32", checkpoint_dir=tmp_path / "ck", callbacks=[rec], evaluate=dict,
    )  # fmt: skip
    return rec.losses


@pytest.mark.parametrize(
    "switch",
    [{"optimizer": "adamw_foreach"}, {"optimizer": "adamw_fused"}, {"activation_checkpointing": True}],
)
def test_switch_trains_the_same_up_to_rounding(tmp_path, switch):
    base = _losses(tmp_path / "a")
    assert _losses(tmp_path / "b", **switch) == pytest.approx(base, rel=1e-5)


@pytest.mark.slow
def test_compiled_body_trains_the_same_up_to_rounding(tmp_path):
    base = _losses(tmp_path / "a", dropout=0.0)
    assert _losses(tmp_path / "b", dropout=0.0, compile=True) == pytest.approx(base, rel=1e-4)


def test_optimizer_kinds():
    p = [torch.nn.Parameter(torch.zeros(2))]
    assert make_optimizer(p, TrainConfig(optimizer="adamw_fused")).defaults["fused"] is True
    assert make_optimizer(p, TrainConfig(optimizer="adamw_foreach")).defaults["foreach"] is True

"""Signals measured on real modules: gradient importance with a constructed answer, spectra."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torch import nn

from loralab.errors import ConfigError
from loralab.modules import TargetModule
from loralab.signals import measure_gradient_importance, measure_signals, measure_spectra


class TwoMaps(nn.Module):
    """loss = sum(a(x)) + 4 * sum(b(x)): dL/dW_a[i, j] = sum_n x[n, j] and dL/dW_b = 4 * that."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(3, 2, bias=False)
        self.b = nn.Linear(3, 2, bias=False)
        self.drop = nn.Dropout(0.5)

    def forward(
        self, input_ids: torch.Tensor, labels: torch.Tensor | None = None, **_: object
    ) -> SimpleNamespace:
        x = input_ids.float()
        return SimpleNamespace(loss=self.a(x).sum() + 4 * self.b(x).sum())


MAPS = [TargetModule("a", 0, "mlp_in", 3, 2), TargetModule("b", 1, "mlp_in", 3, 2)]


def two_maps_batches() -> list[dict[str, torch.Tensor]]:
    return [
        {"input_ids": torch.tensor([[1, 2, 0], [0, 1, 1]]), "labels": torch.zeros(2)},
        {"input_ids": torch.tensor([[3, 0, 1]]), "labels": torch.zeros(1)},
        {"input_ids": torch.tensor([[9, 9, 9]]), "labels": torch.zeros(1)},  # beyond n_batches
    ]


def expected(model: TwoMaps, batches: list[dict[str, torch.Tensor]], method: str) -> dict[str, float]:
    out = {}
    for name, factor in (("a", 1.0), ("b", 4.0)):
        w = getattr(model, name).weight.detach()
        scores = []
        for batch in batches:
            g = factor * batch["input_ids"].float().sum(0).expand_as(w)
            scores.append(float((w * g).abs().sum() if method == "taylor" else (g**2).sum()))
        out[name] = sum(scores) / len(scores)
    return out


@pytest.mark.parametrize("method", ["taylor", "fisher"])
def test_gradient_importance_matches_the_constructed_answer(method: str) -> None:
    torch.manual_seed(0)
    model = TwoMaps().train()
    model.a.weight.requires_grad_(False)
    model.b.weight.grad = torch.full_like(model.b.weight, 7.0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    batches = two_maps_batches()
    got = measure_gradient_importance(model, batches, MAPS, method=method, n_batches=2)
    assert got == pytest.approx(expected(model, batches[:2], method), rel=1e-6)
    assert got["b"] > got["a"]
    # The model is left as it was found.
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert model.training and not model.a.weight.requires_grad and model.b.weight.requires_grad
    assert (
        torch.equal(model.b.weight.grad, torch.full_like(model.b.weight, 7.0)) and model.a.weight.grad is None
    )
    one = measure_gradient_importance(model, batches, MAPS, method=method, n_batches=1)
    assert one == pytest.approx(expected(model, batches[:1], method), rel=1e-6)


def tiny_gpt2() -> tuple[nn.Module, list[TargetModule]]:
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(n_layer=2, n_embd=32, n_head=2, vocab_size=100, n_positions=64)).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    modules = []
    for layer in range(2):
        p = f"transformer.h.{layer}."
        modules += [
            TargetModule(p + "attn.c_attn", layer, "attn_qkv", 32, 96),
            TargetModule(p + "attn.c_proj", layer, "attn_out", 32, 32),
            TargetModule(p + "mlp.c_fc", layer, "mlp_in", 32, 128),
            TargetModule(p + "mlp.c_proj", layer, "mlp_out", 128, 32),
        ]
    return model, modules


def lm_batches(n: int) -> list[dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(1)
    out = []
    for _ in range(n):
        ids = torch.randint(0, 100, (2, 12), generator=g)
        labels = ids.clone()
        labels[:, :4] = -100  # prompt positions carry no loss
        out.append({"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": labels})
    return out


def test_gradient_importance_on_a_tiny_gpt2_equals_a_manual_backward() -> None:
    model, modules = tiny_gpt2()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    batches = lm_batches(3)
    got = measure_gradient_importance(model, batches, modules, method="taylor", n_batches=3)
    assert set(got) == {m.name for m in modules} and all(v > 0 for v in got.values())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert not any(p.requires_grad for p in model.parameters()) and not model.training
    assert all(p.grad is None for p in model.parameters())
    # The same number from an ordinary backward on the first module.
    w = model.get_submodule(modules[0].name).weight
    w.requires_grad_(True)
    manual = 0.0
    for batch in batches:
        (g,) = torch.autograd.grad(model(**batch).loss, [w])
        manual += float((w.detach() * g).abs().sum())
    w.requires_grad_(False)
    assert got[modules[0].name] == pytest.approx(manual / 3, rel=1e-5)


def test_spectra_of_constructed_weights_are_layout_agnostic() -> None:
    model, modules = tiny_gpt2()
    u, v = torch.arange(1.0, 33.0), torch.ones(96)
    with torch.no_grad():
        model.transformer.h[0].attn.c_attn.weight.copy_(torch.outer(u, v))  # Conv1D stores (in, out)
    spectra = measure_spectra(model, modules)
    s = spectra["transformer.h.0.attn.c_attn"]
    assert len(s) == 32 and s[0] == pytest.approx(float(u.norm() * v.norm()), rel=1e-5)
    assert max(s[1:]) < 1e-3 * s[0], "a rank-1 weight has one non-zero singular value"
    w = model.transformer.h[1].mlp.c_fc.weight.detach()
    assert spectra["transformer.h.1.mlp.c_fc"] == pytest.approx(torch.linalg.svdvals(w.T).tolist(), rel=1e-4)


def test_measure_signals_dispatches_on_needs() -> None:
    model, modules = tiny_gpt2()
    sig = measure_signals(
        model, modules, {"importance"}, batches=lm_batches(2), seed=5, importance_options={"n_batches": 1}
    )
    assert sig.seed == 5 and sig.importance is not None and sig.spectra is None
    assert measure_signals(model, modules, {"spectra"}).spectra is not None
    with pytest.raises(ConfigError, match="needs training batches"):
        measure_signals(model, modules, {"importance"})
    with pytest.raises(ConfigError, match="at least one"):
        measure_gradient_importance(model, [], modules)

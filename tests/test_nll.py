import math

import pytest
import torch

from loralab.config import DataConfig, ModelConfig
from loralab.data import collate, prepare_data
from loralab.evaluate import evaluate
from loralab.models import load_model
from loralab.nll import supervised_token_nll


@pytest.fixture(scope="module")
def tiny():
    loaded = load_model(ModelConfig(name="tiny-llama"))
    data = prepare_data(
        DataConfig(source="synthetic", synthetic_size=120, val_set_size=20, cutoff_len=96), loaded.tokenizer
    )
    return loaded, data


def test_masked_nll_matches_hf_loss(tiny):
    loaded, data = tiny
    batch = collate(data.eval[:6], loaded.tokenizer.pad_token_id)
    with torch.no_grad():
        ours = supervised_token_nll(loaded.model, **batch)
        hf = loaded.model(**batch).loss  # HF: mean over every supervised next-token prediction
    assert ours.nll.numel() == int((batch["labels"][:, 1:] != -100).sum())
    assert (ours.total / ours.nll.numel()).item() == pytest.approx(hf.item(), rel=1e-5)


def test_eval_loss_is_token_weighted_and_batch_size_free(tiny):
    loaded, data = tiny
    pad = loaded.tokenizer.pad_token_id
    a = evaluate(loaded.model, data.eval, batch_size=1, pad_id=pad, device=torch.device("cpu"))
    b = evaluate(loaded.model, data.eval, batch_size=7, pad_id=pad, device=torch.device("cpu"))
    assert a.loss == pytest.approx(b.loss, rel=1e-6)
    per = a.per_example
    assert len(per) == len(data.eval) and per["example"].is_monotonic_increasing
    assert a.loss == pytest.approx(per["nll_sum"].sum() / per["tokens"].sum())
    # not the mean of per-example means (examples differ in length)
    assert a.loss != pytest.approx(per["nll_mean"].mean(), rel=1e-9)
    assert a.perplexity == pytest.approx(math.exp(a.loss))
    assert a.tokens == sum(e.n_supervised for e in data.eval)


def _ref_nll(h, w, t, bf16=False):
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        return torch.nn.functional.cross_entropy(
            torch.nn.functional.linear(h, w).float(), t, reduction="none"
        )


@pytest.mark.parametrize("n", [0, 1, 127, 128, 300])
def test_fused_head_nll_matches_logits_and_cross_entropy(monkeypatch, n):
    import loralab.nll as nll_mod

    monkeypatch.setattr(nll_mod, "HEAD_CHUNK", {torch.float32: 128})  # several chunks, a ragged last one
    gen = torch.Generator().manual_seed(n)
    w = torch.randn(1000, 24, generator=gen) * 0.3
    h = torch.randn(n, 24, generator=gen, requires_grad=True)
    t = torch.randint(0, 1000, (n,), generator=gen)
    g = torch.rand(n, generator=gen)  # an upstream weight per token (the loss's token weighting)
    ours = nll_mod.head_nll(h, w, t)
    (ours * g).sum().backward()
    ours_grad, h.grad = h.grad, None
    ref = _ref_nll(h, w, t)
    (ref * g).sum().backward()
    assert ours.dtype == torch.float32 and ours.shape == (n,)
    torch.testing.assert_close(ours, ref.detach(), rtol=0, atol=0)  # the same forward, bit for bit
    torch.testing.assert_close(ours_grad, h.grad, rtol=1e-5, atol=1e-6)


def test_fused_head_nll_under_bf16_autocast_rounds_like_the_linear_head():
    gen = torch.Generator().manual_seed(0)
    w = torch.randn(3000, 64, generator=gen) * 0.1
    h = torch.randn(200, 64, generator=gen, requires_grad=True)
    t = torch.randint(0, 3000, (200,), generator=gen)
    from loralab.nll import head_nll

    with torch.autocast("cpu", dtype=torch.bfloat16):
        ours = head_nll(h, w, t)
    ours.sum().backward()
    ours_grad, h.grad = h.grad, None
    ref = _ref_nll(h, w, t, bf16=True)
    ref.sum().backward()
    torch.testing.assert_close(ours, ref.detach(), rtol=0, atol=0)  # bf16 products, fp32 softmax
    assert ours_grad.dtype == torch.float32
    torch.testing.assert_close(ours_grad, h.grad, rtol=2e-2, atol=2e-3)  # bf16 rounding, not more


def test_fused_head_nll_gradcheck():
    from loralab.nll import head_nll

    gen = torch.Generator().manual_seed(1)
    w = torch.randn(50, 6, generator=gen, dtype=torch.float64)
    h = torch.randn(9, 6, generator=gen, dtype=torch.float64, requires_grad=True)
    t = torch.randint(0, 50, (9,), generator=gen)
    assert torch.autograd.gradcheck(lambda x: head_nll(x, w, t), (h,))


def test_training_uses_the_fused_head_only_where_it_is_exact(tiny, monkeypatch):
    import loralab.nll as nll_mod
    from loralab.nll import backbone_and_head

    loaded, data = tiny
    model = loaded.model
    batch = collate(data.eval[:6], loaded.tokenizer.pad_token_id)
    calls = []
    real = nll_mod.head_nll
    monkeypatch.setattr(nll_mod, "head_nll", lambda *a: calls.append(1) or real(*a))
    with torch.no_grad():
        plain = supervised_token_nll(model, **batch).nll
    assert calls == []  # evaluation: no gradient, the plain head
    emb = model.get_input_embeddings().weight
    emb.requires_grad_(True)  # the head's weight is tied to it: trainable, so not fused
    try:
        head = backbone_and_head(model)[1]
        assert head.weight.requires_grad
        trainable = supervised_token_nll(model, **batch).nll
        assert calls == []
        emb.requires_grad_(False)
        model.model.layers[0].mlp.up_proj.weight.requires_grad_(True)  # a frozen head, a trainable body
        fused = supervised_token_nll(model, **batch)
        assert calls == [1]
        torch.testing.assert_close(fused.nll.detach(), plain, rtol=1e-6, atol=1e-6)
        torch.testing.assert_close(trainable.detach(), plain, rtol=1e-6, atol=1e-6)
        fused.total.backward()
        assert model.model.layers[0].mlp.up_proj.weight.grad is not None
    finally:
        for p in model.parameters():
            p.requires_grad_(False)
            p.grad = None

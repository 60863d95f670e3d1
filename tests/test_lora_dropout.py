"""The compact LoRA dropout: PEFT's training bit for bit, with less kept for backward."""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path

import pytest
import torch
from peft.tuners.lora import LoraLayer
from torch import nn

from loralab.adapters import attach_lora, check_setup, read_setup
from loralab.config import DataConfig, LoraConfig, ModelConfig, TrainConfig
from loralab.data import prepare_data
from loralab.errors import TrainingError
from loralab.lora_dropout import (
    CompactDropout,
    CompactLoraA,
    MaskDropout,
    _DroppedLinearFn,
    _MaskedScaleFn,
    fast_mask,
    install_dropout,
)
from loralab.models import load_model, target_modules
from loralab.nll import supervised_token_nll
from loralab.strategies import Signals, get_strategy, resolve_budget
from loralab.train.loop import train


def _peft_model(
    impl: str, sharing: str = "module", p: float = 0.5, name: str = "tiny-llama", rng: str = "torch"
):
    loaded = load_model(ModelConfig(name=name))
    mods = target_modules(loaded.model)
    budget = resolve_budget("r8", mods, sum(q.numel() for q in loaded.model.parameters()))
    uniform = get_strategy("uniform")
    alloc = uniform.allocate(mods, budget, Signals(), uniform.Options())
    cfg = LoraConfig(dropout=p, dropout_impl=impl, dropout_sharing=sharing, dropout_rng=rng)
    return attach_lora(loaded.model, alloc, cfg, seed=0, total_steps=4), loaded.tokenizer


def _train(
    impl: str, sharing: str, precision: str, name: str = "tiny-llama", rng: str = "torch", ckpt: bool = False
):
    model, tok = _peft_model(impl, sharing, name=name, rng=rng)
    data = prepare_data(DataConfig(source="synthetic", max_examples=40, val_set_size=8), tok)
    losses: list[tuple[float, float]] = []

    from loralab.train import Callback

    class Record(Callback):
        def on_step_end(self, state):
            losses.append((state.logs["loss"], state.logs["grad_norm"]))

    cfg = TrainConfig(
        max_steps=4, batch_size=4, grad_accum=2, checkpoint_every=0, seed=0, activation_checkpointing=ckpt
    )
    with tempfile.TemporaryDirectory() as d:
        train(
            model, data.train, cfg, pad_id=tok.pad_token_id, device=torch.device("cpu"), precision=precision,
            checkpoint_dir=Path(d), callbacks=[Record()], evaluate=dict,
        )  # fmt: skip
    weights = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    return losses, weights, model


CASES = [
    ("module", "fp32", "tiny-llama", "torch"), ("module", "bf16", "tiny-llama", "torch"),
    ("input", "fp32", "tiny-llama", "torch"), ("module", "fp32", "tiny-gpt2", "torch"),
    ("module", "fp32", "tiny-llama", "fast"), ("input", "bf16", "tiny-llama", "fast"),
]  # fmt: skip


@pytest.mark.parametrize("impl", ["mask", "compact"])
@pytest.mark.parametrize(("sharing", "precision", "name", "rng"), CASES)
def test_dropout_impls_train_bit_identically_to_peft(impl, sharing, precision, name, rng):
    """Same masks, same gradients: losses, gradient norms and adapter weights equal to the bit.

    With fast masks the reference is the mask implementation (PEFT's modules cannot draw them)."""
    ref_impl = "peft" if rng == "torch" else "mask"
    ref_losses, ref_w, ref_model = _train(ref_impl, sharing, precision, name, rng)
    losses, w, model = _train(impl, sharing, precision, name, rng)
    layers = sum(isinstance(m, LoraLayer) for m in model.modules())
    assert not any(isinstance(m, CompactLoraA) for m in ref_model.modules())
    assert sum(isinstance(m, CompactLoraA) for m in model.modules()) == (layers if impl == "compact" else 0)
    if impl == "mask" and sharing == "module":
        assert sum(isinstance(m, MaskDropout) for m in model.modules()) == layers
    if rng == "torch":
        assert not any(isinstance(m, (MaskDropout, CompactDropout)) for m in ref_model.modules())
    assert losses == ref_losses
    assert w.keys() == ref_w.keys() and all(torch.equal(w[k], ref_w[k]) for k in w)


@pytest.mark.parametrize("rng", ["torch", "fast"])
def test_activation_checkpointing_replays_the_same_masks(rng):
    """Recomputed blocks redraw their masks from the replayed generator: the same training."""
    plain, plain_w, _ = _train("compact", "module", "fp32", rng=rng)
    ckpt, ckpt_w, _ = _train("compact", "module", "fp32", rng=rng, ckpt=True)
    ref, _, _ = _train("peft", "module", "fp32", rng=rng, ckpt=True)
    assert ckpt == ref
    assert [loss for loss, _ in ckpt] == [loss for loss, _ in plain]
    assert all(torch.allclose(ckpt_w[k], plain_w[k], atol=1e-6) for k in plain_w)


def _saved_bytes(model: nn.Module, tok) -> int:
    """Bytes of the distinct storages autograd keeps for backward in one training forward."""
    data = prepare_data(DataConfig(source="synthetic", max_examples=24, val_set_size=4), tok)
    from loralab.data import collate

    batch = collate(data.train[:8], tok.pad_token_id)
    storages: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    model.train()
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        supervised_token_nll(model, batch["input_ids"], batch["attention_mask"], batch["labels"])
    return sum(n for ptr, n in storages.items() if ptr not in params)


def test_compact_dropout_keeps_a_mask_not_two_float_copies():
    """What dropout adds to the saved tensors: PEFT at least 4 bytes per dropped element (its float
    noise, plus x*noise where nothing else keeps x); mask 3 less; compact exactly 1 (a bool mask)."""
    model, tok = _peft_model("compact")
    calls: list[tuple[int, bool]] = []
    for m in model.modules():
        if isinstance(m, CompactDropout):
            m.register_forward_hook(lambda _m, i, _o: calls.append((i[0].numel(), i[0].requires_grad)))
    compact = _saved_bytes(model, tok)
    none = _saved_bytes(*_peft_model("compact", p=0.0))
    peft = _saved_bytes(*_peft_model("peft"))
    mask = _saved_bytes(*_peft_model("mask"))
    assert len(calls) == sum(isinstance(m, LoraLayer) for m in model.modules())
    elements = sum(n for n, _ in calls)
    assert compact - none == elements + 4 * len(calls)  # one bool per element, one fp32 scale per call
    assert peft - none >= 4 * elements
    # where the input needs a gradient, dropout keeps its noise: a bool mask and a scale, not floats
    graded = [n for n, grad in calls if grad]
    assert 0 < len(graded) < len(calls)  # the first layer's q/k/v input (embeddings) needs none
    assert peft - mask == 3 * sum(graded) - 4 * len(graded)


def test_the_functions_gradients_match_finite_differences():
    """An independent check of the hand-written backward passes (double precision, fixed mask)."""
    torch.manual_seed(0)
    x = torch.randn(3, 5, 6, dtype=torch.float64, requires_grad=True)
    w = torch.randn(4, 6, dtype=torch.float64, requires_grad=True)
    mask = torch.rand(3, 5, 6) > 0.3
    scale = torch.ones((), dtype=torch.float64).div_(0.7)

    assert torch.autograd.gradcheck(
        lambda x, w: _DroppedLinearFn.apply(x * mask / 0.7, w, x.detach(), mask, scale), (x, w)
    )
    assert torch.autograd.gradcheck(lambda x: _MaskedScaleFn.apply(x, mask, scale), (x,))
    assert torch.allclose(
        _DroppedLinearFn.apply(x * mask / 0.7, w, x.detach(), mask, scale), (x * mask / 0.7) @ w.T
    )


def test_a_bool_mask_draws_what_torchs_float_dropout_draws():
    """CompactDropout relies on bernoulli_ giving the same draws for bool and float tensors."""
    for shape in [(7, 3), (1000, 576), (3, 401, 64)]:
        torch.manual_seed(1)
        noise = torch.empty(shape).bernoulli_(0.95).div_(0.95)
        torch.manual_seed(1)
        mask = torch.empty(shape, dtype=torch.bool).bernoulli_(0.95)
        assert torch.equal(noise, mask * torch.ones(()).div_(0.95))
        x = torch.randn(shape)
        torch.manual_seed(2)
        ref = nn.functional.dropout(x, 0.05, training=True)
        torch.manual_seed(2)
        assert torch.equal(ref, CompactDropout(0.05).train()(x))


def test_eval_mode_and_other_devices_and_layers_fall_back():
    drop = CompactDropout(0.5)
    x = torch.randn(4, 8, requires_grad=True)
    assert drop.eval()(x) is x  # no dropout in eval mode
    drop.train()
    with torch.no_grad():
        y = drop(x)  # no graph: plain dropout, no recompute bookkeeping
    assert not hasattr(y, "_loralab_dropped") and ((y == 0) | (y == x * 2)).all()
    assert CompactLoraA.forward is not nn.Linear.forward
    # a lora_A with a bias, or a variant (DoRA), keeps PEFT's dropout
    host = nn.Module()
    host.lora_dropout = nn.ModuleDict({"default": nn.Dropout(0.5)})
    host.lora_A = nn.ModuleDict({"default": nn.Linear(8, 2, bias=True)})
    assert install_dropout(host, 0.5, impl="compact") == 0 and type(host.lora_A["default"]) is nn.Linear
    host.lora_A = nn.ModuleDict({"default": nn.Linear(8, 2, bias=False)})
    host.lora_variant = {"default": object()}
    assert install_dropout(host, 0.5, impl="compact") == 0
    del host.lora_variant
    assert install_dropout(host, 0.5, impl="compact") == 1 and type(host.lora_A["default"]) is CompactLoraA
    assert install_dropout(host, 0.0, impl="compact") == 0  # no dropout: nothing to replace


def test_compact_adapters_save_and_reload_with_plain_peft(tmp_path):
    """The class swap keeps parameter names: a saved adapter loads into a model without loralab."""
    from peft import PeftModel

    from loralab.adapters import save_adapter

    model, _ = _peft_model("compact")
    with torch.no_grad():
        for n, p in model.named_parameters():
            if "lora_B" in n:
                p.add_(0.01)
    save_adapter(model, tmp_path / "a")
    reloaded = PeftModel.from_pretrained(
        load_model(ModelConfig(name="tiny-llama")).model, str(tmp_path / "a")
    )
    ids = torch.arange(20).unsqueeze(0)
    with torch.no_grad():
        assert torch.equal(model.eval()(input_ids=ids).logits, reloaded.eval()(input_ids=ids).logits)


def test_fast_masks_drop_the_quantised_rate_unbiased_and_follow_the_seed():
    x = torch.ones(1000, 1000)
    torch.manual_seed(0)
    mask, scale = fast_mask(x, 0.05)
    assert mask.shape == x.shape and mask.dtype == torch.bool
    drop = round(0.05 * 65536) / 65536
    n = x.numel()
    sigma = (drop * (1 - drop) / n) ** 0.5
    assert abs((1 - mask.float().mean().item()) - drop) < 5 * sigma  # binomial, 5 sigma
    assert scale.item() == pytest.approx(1 / (1 - drop), rel=1e-7)  # the kept fraction's inverse: unbiased
    torch.manual_seed(0)
    assert torch.equal(fast_mask(x, 0.05)[0], mask)  # the seeded generator decides
    assert not torch.equal(fast_mask(x, 0.05)[0], mask)
    # each of the four 16-bit lanes of a 64-bit draw is uniform (no lane always kept or dropped)
    lanes = mask.flatten()[: n - n % 4].view(-1, 4).float().mean(0)
    assert torch.allclose(lanes, torch.full((4,), 1 - drop), atol=5 * sigma * 2)
    assert fast_mask(torch.ones(7, 3), 0.5)[0].shape == (7, 3)  # sizes that are not a multiple of 4
    assert not fast_mask(torch.ones(1000), 0.999999)[0].all()  # p near 1 still drops, no division by 0


def test_fast_rng_is_another_mask_than_torchs_but_the_same_dropout():
    torch.manual_seed(3)
    x = torch.randn(200, 300)
    fast = MaskDropout(0.2, "fast").train()(x)
    torch.manual_seed(3)
    ref = nn.functional.dropout(x, 0.2, training=True)
    assert not torch.equal(fast == 0, ref == 0)  # other masks
    kept = fast != 0
    assert torch.allclose(fast[kept], x[kept] * 65536 / (65536 - round(0.2 * 65536)))
    assert abs((~kept).float().mean().item() - 0.2) < 0.01
    model, _ = _peft_model("peft", rng="fast")
    assert sum(isinstance(m, MaskDropout) for m in model.modules()) == sum(
        isinstance(m, LoraLayer) for m in model.modules()
    )


def _patch_peft(monkeypatch, change):
    """Make `attach_lora`'s PEFT build its model, then `change(lora_layer)` each LoRA layer."""
    import loralab.adapters as adapters

    real = adapters.get_peft_model

    def changed(model, config):
        peft_model = real(model, config)
        for module in peft_model.modules():
            if isinstance(module, LoraLayer):
                change(module)
        return peft_model

    monkeypatch.setattr(adapters, "get_peft_model", changed)


def test_a_peft_layout_install_dropout_does_not_find_is_an_error(monkeypatch):
    """Records say what ran: if PEFT keeps its dropout elsewhere, the run stops instead of silently
    training with torch's masks (here PEFT is made to keep its dropout under another name)."""

    def rename(module):
        module.lora_dropout_v2 = module.lora_dropout
        del module.lora_dropout

    _patch_peft(monkeypatch, rename)
    with pytest.raises(TrainingError, match=r"has no `lora_dropout` ModuleDict"):
        _peft_model("peft", rng="fast")
    _peft_model("peft", rng="torch")  # PEFT's own dropout: nothing to replace, nothing to check
    _peft_model("mask", p=0.0, rng="fast")  # no dropout at all


def test_a_peft_dropout_class_lora_dropout_does_not_know_is_an_error(monkeypatch):
    class NewDropout(nn.Module):  # what a future PEFT might install instead of nn.Dropout
        def forward(self, x):
            return x

    def replace(module):
        for name in module.lora_dropout:
            module.lora_dropout[name] = NewDropout()

    _patch_peft(monkeypatch, replace)
    with pytest.raises(TrainingError, match=r"is a NewDropout, not the torch.nn.Dropout loralab expects"):
        _peft_model("peft", rng="fast")


def test_no_lora_layer_matching_install_dropout_is_an_error(monkeypatch):
    """PEFT's layout changes so that no module matches `install_dropout`'s test (its lora_A another
    class): 0 of the plain LoRA layers got the fast masks, and that is an error, not a silent run."""

    class OtherLinear(nn.Linear):
        pass

    def retype(module):
        for name in module.lora_A:
            module.lora_A[name].__class__ = OtherLinear

    _patch_peft(monkeypatch, retype)
    with pytest.raises(
        TrainingError, match=r"dropout_rng=fast.*replaced 0 \(fast masks: 0\) of the \d+ LoRA"
    ):
        _peft_model("peft", rng="fast")
    with pytest.raises(TrainingError, match=r"dropout_impl=mask.*replaced 0 of the \d+ LoRA"):
        _peft_model("mask", rng="torch")


@pytest.mark.parametrize(
    ("impl", "sharing", "rng", "p", "installed", "fast"),  # every LoRA layer's dropout, fast masks
    [
        ("peft", "module", "fast", 0.5, "MaskDropout", True),
        ("peft", "module", "torch", 0.5, "Dropout", False),
        ("compact", "module", "torch", 0.5, "CompactDropout", False),
        ("mask", "input", "fast", 0.5, "SharedInputDropout", True),
        ("peft", "module", "fast", 0.0, "Identity", False),
    ],
)
def test_read_setup_is_what_the_model_has(impl, sharing, rng, p, installed, fast):
    model, _ = _peft_model(impl, sharing=sharing, p=p, rng=rng)
    setup = read_setup(model, train_autocast=torch.bfloat16)
    layers = [m for m in model.modules() if isinstance(m, LoraLayer)]
    dropouts = [m.lora_dropout["default"] for m in layers]
    n = len(layers)
    assert setup.lora_layers == setup.plain_lora_layers == n > 0
    assert setup.dropout_modules == {installed: n} == dict(Counter(type(d).__name__ for d in dropouts))
    assert setup.fast_mask_modules == (n if fast else 0)
    assert setup.device == str(next(model.parameters()).device) == "cpu"
    assert setup.param_dtype == "float32" and setup.train_autocast == "bfloat16"
    assert setup.eval_autocast is None
    assert setup.attn_implementation == model.config._attn_implementation is not None
    cfg = LoraConfig(dropout=p, dropout_impl=impl, dropout_sharing=sharing, dropout_rng=rng)
    check_setup(setup, cfg, torch.device("cpu"))
    with pytest.raises(TrainingError, match="not on cuda"):
        check_setup(setup, cfg, torch.device("cuda"))


def test_adalora_keeps_peft_dropout_without_error():
    """AdaLoRA's layers are not plain LoRA: none is replaced, and that is no error."""
    loaded = load_model(ModelConfig(name="tiny-llama"))
    mods = target_modules(loaded.model)
    budget = resolve_budget("r8", mods, sum(q.numel() for q in loaded.model.parameters()))
    adalora = get_strategy("adalora")
    alloc = adalora.allocate(mods, budget, Signals(), adalora.Options())
    cfg = LoraConfig(dropout=0.1, dropout_rng="fast", strategy="adalora")
    attach_lora(loaded.model, alloc, cfg, seed=0, total_steps=20, strategy=adalora)

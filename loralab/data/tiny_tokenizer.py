"""A tiny byte-level BPE tokenizer (1024 ids) shipped with loralab for offline tests and demos."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

SPECIAL_TOKEN = "<|endoftext|>"  # bos, eos, pad and unk at once, as in GPT-2
VOCAB_SIZE = 1024


def tiny_tokenizer_path() -> Path:
    """Where the committed asset lives (regenerate it with scripts/make_tiny_tokenizer.py)."""
    return Path(str(files("loralab") / "assets" / "tiny_tokenizer.json"))


def build_tiny_tokenizer() -> PreTrainedTokenizerFast:
    """The tiny tokenizer: adds no special tokens itself; eos/pad/bos/unk are `<|endoftext|>` (id 0)."""
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_file=str(tiny_tokenizer_path()),
        bos_token=SPECIAL_TOKEN,
        eos_token=SPECIAL_TOKEN,
        pad_token=SPECIAL_TOKEN,
        unk_token=SPECIAL_TOKEN,
        padding_side="right",
    )

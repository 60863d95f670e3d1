"""Alpaca data: records, prompt template, tokenisation with response-only labels, split and batching."""

from loralab.data.records import AlpacaRecord, load_records
from loralab.data.template import format_example, format_prompt
from loralab.data.tiny_tokenizer import build_tiny_tokenizer

__all__ = ["AlpacaRecord", "build_tiny_tokenizer", "format_example", "format_prompt", "load_records"]

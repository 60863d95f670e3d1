"""Alpaca data: records, prompt template, tokenisation with response-only labels, split and batching."""

from loralab.data.batching import (
    collate,
    epoch_batches,
    length_grouped_batches,
    padding_fraction,
    random_batches,
    sequential_batches,
)
from loralab.data.prepare import PreparedData, prepare_data, prepare_records
from loralab.data.sources import load_records
from loralab.data.split import subsample, train_eval_split
from loralab.data.template import AlpacaRecord, format_example, format_prompt
from loralab.data.tiny_tokenizer import build_tiny_tokenizer
from loralab.data.tokenize import IGNORE_INDEX, TokenizedExample, tokenize_example, tokenize_records

__all__ = [
    "IGNORE_INDEX",
    "AlpacaRecord",
    "PreparedData",
    "TokenizedExample",
    "build_tiny_tokenizer",
    "collate",
    "epoch_batches",
    "format_example",
    "format_prompt",
    "length_grouped_batches",
    "load_records",
    "padding_fraction",
    "prepare_data",
    "prepare_records",
    "random_batches",
    "sequential_batches",
    "subsample",
    "tokenize_example",
    "tokenize_records",
    "train_eval_split",
]

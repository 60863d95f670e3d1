"""How a study's setup is named for readers (report and paper): a model, its quantisation, a data source.

A local file is named by its file name only, never by its path: a path says where the author's disk
keeps it, not what it is, and it does not belong in a report or a paper.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

DATA_FILE_SUFFIXES = (".json", ".jsonl", ".parquet", ".csv", ".txt")
# Models loralab loads from a quantised GGUF file it knows (loralab/models.py), with their quantisation.
QUANTISED_MODELS = {"smollm2-135m": "Q4_1"}
# llama.cpp's quantisation tags as GGUF file names carry them: Q4_1, Q4_K_M, IQ3_XXS, F16, BF16 ...
_QUANT_TAG = re.compile(r"(?<![A-Za-z0-9])(I?Q\d(?:_[A-Z0-9]+)*|B?F16|F32)(?![A-Za-z0-9])", re.IGNORECASE)


def data_name(source: str) -> str:
    """How a data source is named: a local file by its file name only (never its path), else as given."""
    path = Path(source)
    if source.startswith(("/", "~", ".")) or path.suffix.lower() in DATA_FILE_SUFFIXES:
        return path.name
    return source


def is_quantised(model: str) -> bool:
    """A base model whose weights come from a quantised GGUF file."""
    return model.lower().endswith(".gguf") or model.lower() in QUANTISED_MODELS


def quantisation(model: str) -> str | None:
    """The quantisation of a GGUF base model ('Q4_1') from its known name or file name; None: unknown."""
    known = QUANTISED_MODELS.get(model.lower())
    if known or not model.lower().endswith(".gguf"):
        return known
    tags = _QUANT_TAG.findall(Path(model).stem)
    return tags[-1].upper() if tags else None


def model_name(model: str) -> str:
    """How a model is named: a local GGUF file or model directory by its name only, a hub id as given."""
    if model.lower().endswith(".gguf") or model.startswith(("/", "~", ".")):
        return Path(model).name
    return model


def named_config(config: dict[str, Any]) -> dict[str, Any]:
    """A resolved config as a reader sees it: inputs named (not located) and the store root left out."""
    out = copy.deepcopy(config)
    data, model, output = out.get("data"), out.get("model"), out.get("output")
    if isinstance(data, dict) and isinstance(data.get("source"), str):
        data["source"] = data_name(data["source"])
    if isinstance(model, dict):
        for key in ("name", "tokenizer"):
            if isinstance(model.get(key), str):
                model[key] = model_name(model[key])
    if isinstance(output, dict):
        output.pop("root", None)
    return out


def named_value(field: str, value: Any) -> Any:
    """A run's field value as a reader sees it: `data.source` and models named, not located."""
    if not isinstance(value, str):
        return value
    if field in ("data.source", "source"):
        return data_name(value)
    if field in ("model", "model.name", "model.tokenizer", "tokenizer"):
        return model_name(value)
    return value

"""The prepare stage: the model on its device, its tokenizer, the tokenised data (through the study
cache) and the modules to adapt, read before the run directory exists.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from transformers import PreTrainedTokenizerBase

from loralab.allocation import run_modules
from loralab.config import DataConfig, ModelConfig
from loralab.data import PreparedData, prepare_data
from loralab.models import load_model
from loralab.modules import TargetModule
from loralab.run.cache import StudyCache


@dataclass
class Prepared:
    """The model on its device, its tokenizer, the tokenised data and the modules to adapt."""

    model: torch.nn.Module
    tokenizer: PreTrainedTokenizerBase
    data: PreparedData
    modules: list[TargetModule]
    device: torch.device
    # what the tokenised data depends on (`run/cache.py`'s `data_parts`): the study cache's key parts
    data_key: Mapping[str, Any]

    @property
    def pad_id(self) -> int:
        return self.tokenizer.pad_token_id


def prepare(
    model_cfg: ModelConfig,
    data_cfg: DataConfig,
    targets: Sequence[str],
    device: torch.device,
    data_key: Mapping[str, Any],
    cache: StudyCache | None = None,
) -> Prepared:
    """Load the model (onto `device`, before signals are measured there), prepare the data (through
    `cache` under `data_key`, `data_parts` of the run's config) and select the `targets` modules."""
    cache = cache or StudyCache(None)
    loaded = load_model(model_cfg)  # weights are never cached: safetensors/GGUF only
    model = loaded.model.to(device)
    data = cache.get("data", data_key, lambda: prepare_data(data_cfg, loaded.tokenizer))
    modules = run_modules(model, targets)
    return Prepared(model, loaded.tokenizer, data, modules, device, data_key)

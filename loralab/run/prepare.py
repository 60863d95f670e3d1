"""The prepare stage: the model on its device, its tokenizer, the tokenised data (through the study
cache) and the modules to adapt, read before the run directory exists.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers import PreTrainedTokenizerBase

from loralab.allocation import run_modules
from loralab.config import RunConfig
from loralab.data import PreparedData, prepare_data
from loralab.models import load_model
from loralab.modules import TargetModule
from loralab.run.cache import StudyCache, data_parts


@dataclass
class Prepared:
    """The model on its device, its tokenizer, the tokenised data and the modules to adapt."""

    model: torch.nn.Module
    tokenizer: PreTrainedTokenizerBase
    data: PreparedData
    modules: list[TargetModule]
    device: torch.device

    @property
    def pad_id(self) -> int:
        return self.tokenizer.pad_token_id


def prepare(cfg: RunConfig, device: torch.device, cache: StudyCache | None = None) -> Prepared:
    """Load the model (onto `device`, before signals are measured there) and prepare the data."""
    cache = cache or StudyCache(None)
    loaded = load_model(cfg.model)  # weights are never cached: safetensors/GGUF only
    model = loaded.model.to(device)
    data = cache.get("data", data_parts(cfg), lambda: prepare_data(cfg.data, loaded.tokenizer))
    modules = run_modules(model, cfg)
    return Prepared(model, loaded.tokenizer, data, modules, device)

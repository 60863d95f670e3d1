"""The alpha policy: the LoRA alpha of a module of a given rank, and the factor PEFT scales it by.

Below `adapters` so that a strategy building its own PEFT config (a dynamic one) applies the same
policy as every static run.
"""

from __future__ import annotations

import math

from loralab.config import LoraConfig


def module_alpha(rank: int, reference_rank: int, cfg: LoraConfig) -> float:
    """LoRA alpha of one module under the configured alpha policy."""
    if cfg.alpha_policy == "ratio":
        return cfg.alpha * rank / reference_rank  # scaling alpha_i / r_i = alpha / r_ref everywhere
    return cfg.alpha  # constant and rslora keep alpha; PEFT divides by r or sqrt(r)


def scaling(rank: int, reference_rank: int, cfg: LoraConfig) -> float:
    """The factor PEFT multiplies the low-rank update by for this module."""
    alpha = module_alpha(rank, reference_rank, cfg)
    return alpha / math.sqrt(rank) if cfg.alpha_policy == "rslora" else alpha / rank

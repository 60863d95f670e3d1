"""A `RankAllocation` becomes PEFT LoRA adapters, verified to cost exactly what was allocated.

`rank_pattern`/`alpha_pattern` keys are fully escaped module names: PEFT matches a key as a regex
against the end of a module's name, so a bare `c_proj` would hit both GPT-2's attention and MLP
projections. Modules with rank 0 are not targeted at all.
"""

from __future__ import annotations

import re
import warnings
from collections import Counter
from pathlib import Path

import torch
from peft import LoraConfig as PeftLoraConfig
from peft import PeftModel, get_peft_model
from torch import nn

from loralab.config import LoraConfig
from loralab.errors import BudgetError, TrainingError
from loralab.lora_dropout import (
    CompactDropout,
    MaskDropout,
    SharedInputDropout,
    draws_fast_masks,
    install_dropout,
    replaces_dropout,
)
from loralab.models import count_parameters
from loralab.record import RunSetup
from loralab.strategies.alpha import module_alpha, scaling
from loralab.strategies.base import RankAllocation, Strategy

__all__ = [
    "attach_lora",
    "build_lora_config",
    "check_setup",
    "load_adapter",
    "module_alpha",
    "read_setup",
    "save_adapter",
    "scaling",
    "uses_conv1d",
    "verify_trainable",
]


def build_lora_config(allocation: RankAllocation, cfg: LoraConfig, *, fan_in_fan_out: bool) -> PeftLoraConfig:
    """The PEFT LoraConfig for an allocation: exact module names, per-module rank and alpha."""
    active = allocation.active
    if not active:
        raise BudgetError("the allocation gives every module rank 0; raise lora.budget or lora.min_rank")
    ref = allocation.budget.reference_rank
    ranks = {m.name: allocation.ranks[m.name] for m in active}
    default_r = Counter(ranks.values()).most_common(1)[0][0]
    return PeftLoraConfig(
        r=default_r,
        lora_alpha=module_alpha(default_r, ref, cfg),
        target_modules=[m.name for m in active],
        rank_pattern={re.escape(n): r for n, r in ranks.items()},
        alpha_pattern={re.escape(n): module_alpha(r, ref, cfg) for n, r in ranks.items()},
        lora_dropout=cfg.dropout,
        use_rslora=cfg.alpha_policy == "rslora",
        fan_in_fan_out=fan_in_fan_out,
        bias="none",
        task_type="CAUSAL_LM",
    )


def uses_conv1d(model: nn.Module, names: list[str]) -> bool:
    """Whether the targeted modules are GPT-2-style Conv1D (weights stored (in, out))."""
    from transformers.pytorch_utils import Conv1D

    wanted = set(names)
    return any(isinstance(m, Conv1D) for n, m in model.named_modules() if n in wanted)


def verify_trainable(model: nn.Module, expected: int) -> int:
    """Return the trainable parameter count; raise if it differs from the allocation's."""
    trainable, _ = count_parameters(model)
    if trainable != expected:
        raise BudgetError(
            f"PEFT built {trainable} trainable parameters but the allocation costs {expected};"
            " refusing to train at an unverified budget"
        )
    return trainable


def freeze_adalora_ranknum(model: nn.Module) -> None:
    """Keep AdaLoRA's `ranknum` (a constant, float(r)) out of training, whatever device it was built on.

    PEFT creates it with requires_grad=False, but moving an adapter to a base layer on another device
    re-stores it in its ParameterDict as `tensor.to(device)`, which the dict wraps in a new Parameter
    with requires_grad=True: on CUDA every module then had one trainable parameter too many (found on an
    H200, 2026-12-04: 49360 built against 49344 allocated). A CPU model is never moved, so never hit.
    """
    for name, param in model.named_parameters():
        if ".ranknum." in name and param.requires_grad:
            param.requires_grad_(False)


def attach_lora(
    model: nn.Module,
    allocation: RankAllocation,
    cfg: LoraConfig,
    seed: int,
    total_steps: int | None = None,
    strategy: Strategy | None = None,
) -> PeftModel:
    """Wrap `model` with adapters for `allocation` (init seeded) and verify the trainable count.

    The adapters are `strategy.peft_config(...)` where the strategy has its own (a dynamic one,
    scheduled over `total_steps`), else plain LoRA; either way they must cost `allocation.params`
    (for a dynamic strategy the initial, peak count).
    """
    names = [m.name for m in allocation.active]
    fan_in_fan_out = uses_conv1d(model, names)
    peft_cfg = None
    if strategy is not None:
        if total_steps is None:
            raise ValueError("a strategy's PEFT config needs the run's total steps")
        peft_cfg = strategy.peft_config(allocation, total_steps, cfg, fan_in_fan_out=fan_in_fan_out)
    if peft_cfg is None:
        peft_cfg = build_lora_config(allocation, cfg, fan_in_fan_out=fan_in_fan_out)
    torch.manual_seed(seed)  # lora_A's init draws from the global generator
    peft_model = get_peft_model(model, peft_cfg)
    freeze_adalora_ranknum(peft_model)
    verify_trainable(peft_model, allocation.params)
    install_dropout(
        peft_model, cfg.dropout, impl=cfg.dropout_impl, sharing=cfg.dropout_sharing, rng=cfg.dropout_rng
    )
    check_setup(read_setup(peft_model), cfg)
    return peft_model


_OURS = {c.__name__ for c in (MaskDropout, CompactDropout, SharedInputDropout)}


def _dtype_name(dtype: torch.dtype | None) -> str | None:
    return None if dtype is None else str(dtype).removeprefix("torch.")


def read_setup(
    model: nn.Module, *, train_autocast: torch.dtype | None = None, eval_autocast: torch.dtype | None = None
) -> RunSetup:
    """What the adapted `model` runs with, read back from it: device, dtypes, attention, LoRA dropout.

    `train_autocast`/`eval_autocast` are the autocast dtypes the loop and the evaluator enter (None:
    none). Plain LoRA layers are PEFT's `lora.Linear` without a variant (DoRA), counted from PEFT's
    classes rather than from `install_dropout`'s own test, so that a layout it no longer recognises
    shows as layers it left alone.
    """
    from peft.tuners.lora.layer import Linear as LoraLinear
    from peft.tuners.lora.layer import LoraLayer

    params = list(model.parameters())
    layers = plain = fast = 0
    classes: Counter[str] = Counter()
    for module in model.modules():
        if not isinstance(module, LoraLayer):
            continue
        dropouts = getattr(module, "lora_dropout", None)
        for adapter in module.lora_A:
            layers += 1
            plain += isinstance(module, LoraLinear) and adapter not in getattr(module, "lora_variant", {})
            dropout = (
                dropouts[adapter] if isinstance(dropouts, nn.ModuleDict) and adapter in dropouts else None
            )
            classes[type(dropout).__name__ if dropout is not None else "missing"] += 1
            fast += dropout is not None and draws_fast_masks(dropout)
    config = getattr(model, "config", None)
    return RunSetup(
        device="+".join(sorted({str(p.device) for p in params})),
        param_dtype="+".join(sorted({_dtype_name(p.dtype) for p in params})),
        train_autocast=_dtype_name(train_autocast),
        eval_autocast=_dtype_name(eval_autocast),
        attn_implementation=getattr(config, "_attn_implementation", None),
        lora_layers=layers,
        plain_lora_layers=plain,
        dropout_modules=dict(sorted(classes.items())),
        fast_mask_modules=fast,
    )


def check_setup(setup: RunSetup, cfg: LoraConfig, device: torch.device | None = None) -> None:
    """TrainingError where what the model has differs from what the config asked for.

    The record says which masks ran; if a PEFT release moves the modules `install_dropout` looks for,
    runs would otherwise train silently with torch's masks instead of the configured ones.
    """
    if device is not None and {d.split(":")[0] for d in setup.device.split("+")} != {device.type}:
        raise TrainingError(
            f"the model's parameters are on {setup.device}, not on {device} as train.device resolved"
        )
    if not setup.plain_lora_layers or not replaces_dropout(
        cfg.dropout, cfg.dropout_impl, cfg.dropout_sharing, cfg.dropout_rng
    ):
        return
    replaced = sum(n for name, n in setup.dropout_modules.items() if name in _OURS)
    fast = setup.fast_mask_modules
    if replaced < setup.plain_lora_layers or fast != (replaced if cfg.dropout_rng == "fast" else 0):
        got = f"{replaced}" if cfg.dropout_rng != "fast" else f"{replaced} (fast masks: {fast})"
        raise TrainingError(
            f"lora.dropout_rng={cfg.dropout_rng}, dropout_impl={cfg.dropout_impl} and dropout_sharing="
            f"{cfg.dropout_sharing} replaced {got} of the {setup.plain_lora_layers} LoRA dropout modules"
            f" (this PEFT lays them out differently: {setup.dropout_modules}); set lora.dropout_rng=torch"
            " lora.dropout_impl=peft lora.dropout_sharing=module, or install the PEFT version"
            " pyproject.toml names"
        )


def save_adapter(model: PeftModel, directory: Path) -> None:
    """Save the adapter in PEFT format (adapter_config.json + adapter_model.safetensors)."""
    with warnings.catch_warnings():
        # AdaLoRA can prune a module to rank 0, whose lora_A/lora_B are rightly zero-sized; PEFT reads
        # that as unsharded ZeRO-3/FSDP weights, which loralab never uses.
        warnings.filterwarnings("ignore", message=r".*LoRA tensor\(s\) have invalid shape")
        model.save_pretrained(str(directory), safe_serialization=True)


def load_adapter(base: nn.Module, directory: Path) -> PeftModel:
    """Load a saved adapter onto a freshly loaded base model with plain PEFT."""
    return PeftModel.from_pretrained(base, str(directory))

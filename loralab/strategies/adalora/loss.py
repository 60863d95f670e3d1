"""AdaLoRA's orthogonality penalty on P and Q, the term its strategy adds to the training loss."""

from __future__ import annotations

from typing import Any

import torch
from peft.tuners.adalora import AdaLoraLayer, AdaLoraModel
from torch import nn


def adalora_model(model: nn.Module) -> AdaLoraModel:
    """The AdaLoraModel inside a PeftModel (or a DDP/accelerate wrapper of one)."""
    m: Any = model
    for _ in range(4):
        if isinstance(m, AdaLoraModel):
            return m
        m = m.module if isinstance(getattr(m, "module", None), nn.Module) else getattr(m, "base_model", None)
    raise TypeError(f"{type(model).__name__} is not a PEFT AdaLoRA model")


def adalora_orth_loss(model: nn.Module) -> torch.Tensor | None:
    """AdaLoRA's orthogonality penalty, weighted: w * mean over P, Q of ||P P^T - I||_F, ||Q^T Q - I||_F.

    The same value PEFT adds when labels reach AdaLoraModel.forward; None for other models or w = 0.
    """
    try:
        ada = adalora_model(model)
    except TypeError:
        return None
    name = ada.trainable_adapter_name
    weight = ada.peft_config[name].orth_reg_weight
    if weight == 0:
        return None
    terms = []
    for layer in ada.model.modules():
        if isinstance(layer, AdaLoraLayer) and name in layer.lora_A:
            a, b = layer.lora_A[name], layer.lora_B[name]  # (r, d_in), (d_out, r)
            for gram in (a @ a.T, b.T @ b):
                eye = torch.eye(gram.shape[0], dtype=gram.dtype, device=gram.device)
                terms.append(torch.linalg.matrix_norm(gram - eye))
    if not terms:
        return None
    return weight * torch.stack(terms).mean()

"""Tiny config-built GPT-2 and Llama models (the package's builder, test-sized vocabulary) whose
adaptable modules match the hand-built module sets."""

from __future__ import annotations

import torch
from torch import nn

from loralab.models import build_tiny_model


def tiny_gpt2(seed: int = 0) -> nn.Module:
    """GPT-2 with n_embd 64, 4 layers, 4 heads (Conv1D), frozen, random init from `seed`."""
    torch.manual_seed(seed)
    return _frozen(build_tiny_model("tiny-gpt2", vocab_size=100, max_positions=64, seed=None))


def tiny_llama(seed: int = 0) -> nn.Module:
    """Llama with hidden 64, intermediate 160, 4 layers, 4 heads and 2 KV heads, frozen."""
    torch.manual_seed(seed)
    return _frozen(build_tiny_model("tiny-llama", vocab_size=100, max_positions=64, seed=None))


def _frozen(model: nn.Module) -> nn.Module:
    for p in model.parameters():
        p.requires_grad_(False)
    return model.eval()


def token_batches(n: int, batch: int = 4, length: int = 16, seed: int = 1) -> list[dict[str, torch.Tensor]]:
    """Random token batches with labels (the first 4 positions masked like a prompt)."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        ids = torch.randint(0, 100, (batch, length), generator=g)
        labels = ids.clone()
        labels[:, :4] = -100
        out.append({"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": labels})
    return out

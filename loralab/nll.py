"""Token negative log-likelihood computed only where labels are supervised.

A causal LM's head turns every position's hidden state into vocabulary logits; with response-only
labels most positions are prompt or padding, and their logits are thrown away. Here the backbone
runs once, the supervised positions are gathered, and only they pass through the head: on Alpaca
with a 49k vocabulary that skips most of the logits' FLOPs and memory (docs/performance.md: 1.13x per step).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from loralab.data.tokenize import IGNORE_INDEX


def backbone_and_head(model: nn.Module) -> tuple[nn.Module, nn.Module]:
    """The transformer body and the LM head of an HF causal LM, PEFT-wrapped or not."""
    hf = model.get_base_model() if hasattr(model, "get_base_model") else model
    head = hf.get_output_embeddings()
    body = getattr(hf, hf.base_model_prefix, None)
    if head is None or body is None or body is hf:
        raise TypeError(f"{type(hf).__name__} has no separate backbone/LM head; cannot compute masked NLL")
    return body, head


@dataclass
class TokenNLL:
    """Per supervised token NLL (`nll`, shape (tokens,)) and the batch row each token belongs to."""

    nll: torch.Tensor
    row: torch.Tensor
    batch_size: int

    @property
    def total(self) -> torch.Tensor:
        """Sum of token NLLs (a scalar tensor that keeps the graph)."""
        return self.nll.sum()

    def per_example(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(sum of NLL, number of supervised tokens) per batch row, detached, float64."""
        sums = torch.zeros(self.batch_size, dtype=torch.float64, device=self.nll.device)
        counts = torch.zeros(self.batch_size, dtype=torch.int64, device=self.nll.device)
        sums.index_add_(0, self.row, self.nll.detach().double())
        counts.index_add_(0, self.row, torch.ones_like(self.row))
        return sums, counts


def supervised_token_nll(
    model: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor
) -> TokenNLL:
    """Run the model and return the NLL of every supervised next-token prediction in the batch."""
    body, head = backbone_and_head(model)
    hidden = body(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
    target = labels[:, 1:]
    mask = target != IGNORE_INDEX
    rows = torch.arange(labels.shape[0], device=labels.device).unsqueeze(1).expand_as(target)[mask]
    selected = hidden[:, :-1][mask]  # (tokens, d_model): only positions whose next token is supervised
    logits = head(selected).float()
    nll = F.cross_entropy(logits, target[mask], reduction="none")
    return TokenNLL(nll=nll, row=rows, batch_size=labels.shape[0])

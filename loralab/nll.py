"""Token negative log-likelihood computed only where labels are supervised.

A causal LM's head turns every position's hidden state into vocabulary logits; with response-only
labels most positions are prompt or padding, and their logits are thrown away. Here the backbone
runs once, the supervised positions are gathered, and only they pass through the head: on Alpaca
with a 49k vocabulary that skips most of the logits' FLOPs and memory (docs/performance.md: 1.13x per step).
In training, a frozen head's logits are not kept either (`_HeadNLLFn`).
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
    if selected.requires_grad and _fusable(head):
        nll = head_nll(selected, head.weight, target[mask])
    else:
        logits = head(selected).float()
        nll = F.cross_entropy(logits, target[mask], reduction="none")
    return TokenNLL(nll=nll, row=rows, batch_size=labels.shape[0])


# Rows of logits per chunk, by the products' dtype (measured on SmolLM2's 49k vocabulary, 2 CPU
# threads: fp32 is fastest in large chunks, bf16 in chunks of about 128 rows).
HEAD_CHUNK = {torch.float32: 1024}
HEAD_CHUNK_16BIT = 128


FUSED_HEAD = True  # False: logits + cross_entropy as before (the `b:unfused-head` benchmark line)


def _fusable(head: nn.Module) -> bool:
    """A plain bias-free linear head whose weight is frozen (LoRA's case): its NLL can be fused."""
    plain = type(head) is nn.Linear and head.bias is None
    return FUSED_HEAD and plain and not head.weight.requires_grad


class _HeadNLLFn(torch.autograd.Function):
    """Per-token NLL of `hidden @ weight.T` against `target`, chunk by chunk, never keeping logits.

    The gradient of token i's NLL with respect to its hidden state is (softmax_i - onehot_i) @ W, the
    same for any upstream weight g_i but for the factor g_i; so forward computes it per chunk while the
    chunk's logits are at hand and keeps only that (tokens x d_model), and backward scales it by g.
    Same FLOPs as logits + cross-entropy + their backward; what is not kept are the (tokens x vocab)
    logits and log-probabilities (two copies, 0.4 GiB for 1000 tokens of a 49k vocabulary in fp32).
    Under autocast the products run in the autocast dtype and the softmax in fp32, as
    `head(x).float()` followed by `cross_entropy` does.
    """

    @staticmethod
    def forward(
        ctx: object, hidden: torch.Tensor, weight: torch.Tensor, target: torch.Tensor
    ) -> torch.Tensor:
        device = hidden.device.type
        dtype = torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else hidden.dtype
        acc = torch.promote_types(dtype, torch.float32)  # the softmax's dtype: fp32, or fp64 in tests
        w = weight.to(dtype)
        nll = torch.empty(hidden.shape[0], dtype=acc, device=hidden.device)
        grad = torch.empty(hidden.shape, dtype=dtype, device=hidden.device)
        with torch.autocast(device, enabled=False):
            chunk = HEAD_CHUNK.get(dtype, HEAD_CHUNK_16BIT)
            for start in range(0, hidden.shape[0], chunk):
                end = min(start + chunk, hidden.shape[0])
                t = target[start:end].unsqueeze(1)
                logp = torch.log_softmax((hidden[start:end].to(dtype) @ w.T).to(acc), dim=-1)
                nll[start:end] = logp.gather(1, t).squeeze(1).neg()
                probs = logp.exp_()  # in place: d nll / d logits = softmax - onehot
                probs.scatter_add_(1, t, torch.full_like(t, -1, dtype=probs.dtype))
                torch.mm(probs.to(dtype), w, out=grad[start:end])
        ctx.save_for_backward(grad)
        ctx.hidden_dtype = hidden.dtype
        return nll

    @staticmethod
    def backward(ctx: object, g: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        (grad,) = ctx.saved_tensors
        return (grad.to(g.dtype) * g.unsqueeze(1)).to(ctx.hidden_dtype), None, None


def head_nll(hidden: torch.Tensor, weight: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-token NLL of a frozen bias-free linear head (`_HeadNLLFn`): (tokens,) float32."""
    return _HeadNLLFn.apply(hidden, weight, target)

"""Signals that data-driven strategies allocate from, measured on the base model before adapters exist.

- `measure_gradient_importance`: per-module sensitivity of the loss to the pretrained weight, summed
  over the weight's entries and averaged over a few batches: first-order Taylor |W * dL/dW|
  (Molchanov et al. 2019) or the diagonal empirical Fisher (dL/dW)^2, the latter from batch-mean
  gradients (a cheap stand-in for the per-example Fisher; it under-weights gradient noise).
- `measure_spectra`: singular values of every pretrained weight (data-free).

Both leave the model as they found it: weights untouched, `requires_grad` flags and train/eval mode
restored, existing `.grad`s not written (gradients come from `torch.autograd.grad`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

import torch
from torch import nn

from loralab.errors import ConfigError, ModelError
from loralab.modules import TargetModule
from loralab.strategies.base import Signals


def _weight(model: nn.Module, name: str) -> torch.Tensor:
    try:
        module = model.get_submodule(name)
    except AttributeError:
        raise ModelError(f"module {name!r} is not in {type(model).__name__}") from None
    weight = getattr(module, "weight", None)
    if not isinstance(weight, torch.Tensor):
        raise ModelError(f"module {name!r} has no weight tensor")
    return weight


def measure_gradient_importance(
    model: nn.Module,
    batches: Iterable[Mapping[str, torch.Tensor]],
    modules: list[TargetModule],
    method: Literal["taylor", "fisher"] = "taylor",
    n_batches: int = 8,
) -> dict[str, float]:
    """Module name -> mean over the first `n_batches` batches of sum |W * dL/dW| (taylor) or sum (dL/dW)^2.

    `batches` are dicts of tensors that `model(**batch).loss` accepts (input_ids, attention_mask,
    labels). Dropout is off during the measurement (eval mode), so it is deterministic.
    """
    if method not in ("taylor", "fisher"):
        raise ConfigError(f"importance method {method!r} is not 'taylor' or 'fisher'")
    weights = [_weight(model, m.name) for m in modules]
    params = list(model.parameters())
    flags = [p.requires_grad for p in params]
    was_training = model.training
    device = weights[0].device
    totals = [torch.zeros((), dtype=torch.float64) for _ in modules]
    seen = 0
    try:
        for p in params:
            p.requires_grad_(False)
        for w in weights:
            w.requires_grad_(True)
        model.eval()
        for batch in batches:
            if seen >= n_batches:
                break
            inputs = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
            loss = model(**inputs).loss
            if loss is None:
                raise ModelError("the model returned no loss; batches need labels")
            grads = torch.autograd.grad(loss, weights, allow_unused=True)
            with torch.no_grad():
                for i, (w, g) in enumerate(zip(weights, grads, strict=True)):
                    if g is None:
                        continue
                    score = (w * g).abs().sum() if method == "taylor" else g.pow(2).sum()
                    totals[i] += score.double().cpu()
            seen += 1
    finally:
        for p, flag in zip(params, flags, strict=True):
            p.requires_grad_(flag)
        model.train(was_training)
    if seen == 0:
        raise ConfigError("gradient importance needs at least one training batch")
    return {m.name: float(t) / seen for m, t in zip(modules, totals, strict=True)}


@torch.no_grad()
def measure_spectra(model: nn.Module, modules: list[TargetModule]) -> dict[str, list[float]]:
    """Module name -> singular values of its pretrained weight, descending (Conv1D's (in, out) alike)."""
    out = {}
    for m in modules:
        w = _weight(model, m.name).detach()
        out[m.name] = torch.linalg.svdvals(w.float().reshape(w.shape[0], -1)).cpu().tolist()
    return out


def measure_signals(
    model: nn.Module,
    modules: list[TargetModule],
    needs: Iterable[str],
    *,
    batches: Iterable[Mapping[str, torch.Tensor]] | None = None,
    seed: int = 0,
    importance_options: Mapping[str, Any] | None = None,
) -> Signals:
    """Measure every signal named in `needs` (a strategy's `needs`); importance takes the strategy's
    `signal_options(options)` as `importance_options`."""
    needs = set(needs)
    importance = spectra = None
    if "importance" in needs:
        if batches is None:
            raise ConfigError("gradient importance needs training batches")
        importance = measure_gradient_importance(model, batches, modules, **dict(importance_options or {}))
    if "spectra" in needs:
        spectra = measure_spectra(model, modules)
    return Signals(seed=seed, importance=importance, spectra=spectra)

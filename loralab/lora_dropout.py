"""LoRA dropout: what PEFT's `lora_B(lora_A(dropout(x)))` keeps for backward, and how to keep less.

On a CPU, torch's dropout is `x * noise`, `noise` a float tensor of 0 and 1/(1-p). Autograd keeps
`noise` (for the input's gradient) and `lora_A` keeps `x * noise` (for its weight's gradient): 8 bytes
per element of every adapted module's input, seven modules per Llama layer, about a fifth of a
SmolLM2 step's peak memory (docs/performance.md).

`lora.dropout_impl` (how much is kept; none changes a number: training is bit-identical to PEFT's,
`tests/test_lora_dropout.py`):
- `peft` (default): PEFT's `nn.Dropout`, unchanged, with torch's masks; with the fast masks (the
  default generator) a `MaskDropout`. Measured beside the others it is the fastest with torch's masks
  (benchmarks/README.md), so it stays the default.
- `mask`: `MaskDropout` draws the mask exactly as torch does (same generator, same draws, same
  order: a bool tensor draws what a float one does) and keeps it as one byte per element instead of
  the float noise: 5 bytes per element instead of 8; on SmolLM2 0.25 GiB (3 %) less peak RSS and
  2 % fewer examples/s (the bool mask is converted where it multiplies). The fast masks below use it.
- `compact`: `CompactDropout` keeps the mask too, and `lora_A` (a `CompactLoraA`) keeps the module
  input `x` (which q/k/v, or gate/up, share) instead of `x * noise`; backward recomputes `x * noise`
  and runs autograd's own `linear` backward on it, so the gradients are the ones PEFT's modules
  give, bit for bit. 1 byte per element (SmolLM2, 8 x 175 tokens: 0.94 GiB less kept for backward
  than PEFT's, 3.0 -> 2.06 GiB), but the recomputation costs about 5 % of a CPU step and glibc's
  allocator returns only part of the saving as lower peak RSS: an option for runs short of memory.
On other devices, and under `torch.compile`, these modules call torch's own dropout (on CUDA a fused
kernel that draws its mask differently).

`lora.dropout_rng`:
- `fast` (default): 16 random bits per element from one 64-bit draw per four elements (`fast_mask`),
  about 4.7x cheaper than torch's `bernoulli_`. Dropped with probability round(p * 65536) / 65536
  (0.05 -> 0.0500031) and scaled by the inverse of the kept fraction, so unbiased. Other masks than
  torch's, from the same seeded generator: a change of semantics within the same distribution, made
  the default on seed-level evidence (eval loss equal within noise over three seeds of the worked
  example, docs/performance.md). Kept as one byte per element (`MaskDropout`).
- `torch`: torch's `bernoulli_`, the masks PEFT draws (and what runs made before the field existed
  used). On a CPU it costs about 3.6 ns per element, 14 % of a SmolLM2 step: more than anything but
  the matrix products.

`lora.dropout_sharing=input` (`SharedInputDropout`) is a change of semantics: modules reading the same
tensor share one mask. It composes with either implementation and generator.
"""

from __future__ import annotations

import weakref
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from loralab.errors import TrainingError

__all__ = [
    "CompactDropout",
    "CompactLoraA",
    "MaskDropout",
    "SharedInputDropout",
    "check_peft_layout",
    "draws_fast_masks",
    "fast_mask",
    "install_dropout",
    "torch_mask",
]

_LEVELS = 65536  # fast masks: 16 random bits per element


def fast_mask(x: torch.Tensor, p: float) -> tuple[torch.Tensor, torch.Tensor]:
    """A keep-mask shaped like `x` (dropped with probability round(p*65536)/65536) and its scale."""
    drop = min(round(p * _LEVELS), _LEVELS - 1)
    n = x.numel()
    bits = torch.empty((n + 3) // 4, dtype=torch.int64, device=x.device).random_(-(2**63), None)
    mask = bits.view(torch.int16)[:n].view(x.shape) >= drop - _LEVELS // 2
    return mask, torch.full((), _LEVELS / (_LEVELS - drop), dtype=x.dtype, device=x.device)


def torch_mask(x: torch.Tensor, p: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The keep-mask and scale torch's CPU dropout draws (a bool tensor draws what a float one does)."""
    mask = torch.empty_like(x, dtype=torch.bool).bernoulli_(1 - p)
    return mask, torch.ones((), dtype=x.dtype, device=x.device).div_(1 - p)


_DROPPED = "_loralab_dropped"  # attribute of a CompactDropout output: (input, mask, scale)


class _MaskedScaleFn(torch.autograd.Function):
    """`x * scale * mask`: torch's `x * noise`, bit for bit (noise is scale or 0), keeping the mask."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, mask: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(mask, scale)
        return x.mul(scale).mul_(mask)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        mask, scale = ctx.saved_tensors
        return grad.mul(scale).mul_(mask), None, None


class _DroppedLinearFn(torch.autograd.Function):
    """`linear(dropped, weight)` for `dropped = x * noise`, keeping (x, mask) instead of `dropped`.

    Backward rebuilds `dropped` from them and runs the forward's own `linear` (under the forward's
    autocast) through autograd, so the gradients are those of PEFT's `lora_A`, bit for bit; the
    gradient then reaches `x` through `_MaskedScaleFn` as it would through torch's dropout (once per
    dropped tensor, also when modules share one).
    """

    @staticmethod
    def forward(
        ctx: Any,
        dropped: torch.Tensor,
        weight: torch.Tensor,
        x: torch.Tensor,
        mask: torch.Tensor,
        scale: torch.Tensor,
    ) -> torch.Tensor:
        ctx.autocast = torch.is_autocast_enabled("cpu"), torch.get_autocast_dtype("cpu")
        ctx.save_for_backward(x, weight, mask, scale)
        return F.linear(dropped, weight)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, weight, mask, scale = ctx.saved_tensors
        need_d, need_w = ctx.needs_input_grad[:2]
        enabled, dtype = ctx.autocast
        dropped = (x.detach() * torch.mul(mask, scale)).requires_grad_(need_d)  # the forward's values
        w = weight.detach().requires_grad_(need_w)
        with torch.enable_grad(), torch.autocast("cpu", dtype=dtype, enabled=enabled):
            out = F.linear(dropped, w)
        wanted = [t for t in (dropped, w) if t.requires_grad]
        grads = iter(torch.autograd.grad(out, wanted, grad) if wanted else ())
        g_d = next(grads) if need_d else None
        g_w = next(grads) if need_w else None
        return g_d, g_w, None, None, None


def _eager_cpu(x: torch.Tensor) -> bool:
    """Whether these modules handle `x` (else torch's own dropout does, the same on every device)."""
    return x.device.type == "cpu" and torch.is_grad_enabled() and not torch.compiler.is_compiling()


class MaskDropout(nn.Module):
    """torch's dropout (or `fast_mask`'s) that keeps a one-byte mask for backward, not a float noise."""

    def __init__(self, p: float, rng: str = "torch"):
        super().__init__()
        self.p, self.rng = p, rng

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        if not _eager_cpu(x):
            return F.dropout(x, self.p, training=True)
        with torch.no_grad():
            mask, scale = (fast_mask if self.rng == "fast" else torch_mask)(x, self.p)
        return self._drop(x, mask, scale)

    def _drop(self, x: torch.Tensor, mask: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        return _MaskedScaleFn.apply(x, mask, scale)


class CompactDropout(MaskDropout):
    """Dropout whose output tells a `CompactLoraA` how to recompute it (see the module docstring)."""

    def _drop(self, x: torch.Tensor, mask: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        out = _MaskedScaleFn.apply(x, mask, scale)
        setattr(out, _DROPPED, (x, mask, scale))
        return out


class CompactLoraA(nn.Linear):
    """A LoRA A matrix that, fed a `CompactDropout` output, keeps its input and mask, not the output.

    Installed by changing the class of PEFT's `nn.Linear` in place: same parameters, same state-dict
    keys, same saved adapters; anything else it is fed goes through `nn.Linear.forward`.
    """

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        info = getattr(input, _DROPPED, None)
        if info is None or self.bias is not None:
            return super().forward(input)
        return _DroppedLinearFn.apply(input, self.weight, *info)


class SharedInputDropout(nn.Module):
    """Dropout that returns the same dropped tensor to every module called on the same input tensor.

    PEFT computes `lora_B(lora_A(dropout(x)))` in each adapted module, so q/k/v (and gate/up), which
    read the same activations, each draw a mask and keep their own dropped copy for backward. One
    instance shared by all adapted modules remembers its last input (weakly) and output: a call on the
    same tensor object reuses them. Same expectation per module; masks are correlated across the
    modules of one input, which is why this is an option (`lora.dropout_sharing`), not the default.
    """

    def __init__(self, dropout: nn.Module):
        super().__init__()
        self.dropout = dropout
        self._input: weakref.ref | None = None
        self._output: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x
        if self._input is not None and self._input() is x and self._output is not None:
            return self._output
        out = self.dropout(x)
        self._input, self._output = weakref.ref(x), out
        return out


def check_peft_layout(model: nn.Module) -> None:
    """TrainingError unless every PEFT LoRA layer of `model` keeps its dropout where we replace it.

    A structural fence instead of a version one: `install_dropout` relies on PEFT's layout (a
    `lora_dropout` ModuleDict per `LoraLayer`, keyed by adapter, holding `nn.Dropout` or, at p = 0,
    `nn.Identity`); a PEFT release that moves or changes it must stop the run, not let it train
    silently with other masks than its record says.
    """
    from peft.tuners.lora.layer import LoraLayer

    ours = (MaskDropout, SharedInputDropout, nn.Dropout, nn.Identity)
    for name, module in model.named_modules():
        if not isinstance(module, LoraLayer):
            continue
        dropouts = getattr(module, "lora_dropout", None)
        if not isinstance(dropouts, nn.ModuleDict):
            raise TrainingError(
                f"PEFT's LoRA layer {name} has no `lora_dropout` ModuleDict (this PEFT lays its dropout"
                " out differently); install the PEFT version pyproject.toml names"
            )
        for adapter, dropout in dropouts.items():
            if not isinstance(dropout, ours):
                raise TrainingError(
                    f"PEFT's LoRA dropout of {name} (adapter {adapter}) is a {type(dropout).__name__},"
                    " not the torch.nn.Dropout loralab expects; install the PEFT version pyproject.toml"
                    " names"
                )


def draws_fast_masks(dropout: nn.Module) -> bool:
    """Whether a LoRA dropout module draws `fast_mask`s (directly or shared)."""
    if isinstance(dropout, SharedInputDropout):
        dropout = dropout.dropout
    return isinstance(dropout, MaskDropout) and dropout.rng == "fast" and dropout.p > 0


def replaces_dropout(p: float, impl: str, sharing: str, rng: str) -> bool:
    """Whether `install_dropout` has anything to do: dropout is on and not PEFT's own modules."""
    return p != 0 and (impl, sharing, rng) != ("peft", "module", "torch")


def install_dropout(
    model: nn.Module, p: float, *, impl: str = "peft", sharing: str = "module", rng: str = "torch"
) -> int:
    """Replace the LoRA dropout modules of `model` as `impl`/`sharing`/`rng` say; returns how many changed.

    Only plain LoRA layers change (a `lora_A` that is a bias-free `nn.Linear`); others (AdaLoRA's
    parameters, DoRA, LoRA biases) keep PEFT's dropout, which is always correct.
    """
    if not replaces_dropout(p, impl, sharing, rng):
        return 0
    check_peft_layout(model)

    def make() -> nn.Module:
        if impl == "compact":
            return CompactDropout(p, rng)
        if impl == "mask" or rng == "fast":
            return MaskDropout(p, rng)
        return nn.Dropout(p)

    shared = SharedInputDropout(make()) if sharing == "input" else None
    changed = 0
    for module in model.modules():
        dropouts, lora_a = getattr(module, "lora_dropout", None), getattr(module, "lora_A", None)
        if not isinstance(dropouts, nn.ModuleDict) or not isinstance(lora_a, nn.ModuleDict):
            continue
        for name in list(dropouts):
            a = lora_a[name] if name in lora_a else None  # noqa: SIM401 (a ModuleDict has no get)
            plain = type(a) in (nn.Linear, CompactLoraA) and a.bias is None
            if not plain or name in getattr(module, "lora_variant", {}):
                continue
            if impl == "compact":
                a.__class__ = CompactLoraA
            dropouts[name] = shared if shared is not None else make()
            changed += 1
    return changed

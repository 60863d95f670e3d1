"""`spectrum`: rank from the singular-value spectrum of each pretrained weight (data-free).

Each weight's compressibility is measured by its relative effective rank: the effective rank of
Roy & Vetterli 2007 ("The effective rank: a measure of effective dimensionality", EUSIPCO), exp of the
entropy of the singular values normalised to sum 1, divided by min(d_in, d_out); or, with
`metric: energy`, the fraction of singular values needed to hold `energy` of the squared spectrum.
Values near 1 mean a flat spectrum (incompressible), near 0 a weight dominated by a few directions.

Which direction helps is an open question that this strategy exists to test; we know of no derivation
that settles it, and both are offered:
- `less-compressible` (default): more rank where the spectrum is flat. Intuition only: such a weight
  has no small dominant subspace, so an update confined to a few directions can reach less of what
  the weight does, and the task may need more of them. Related in spirit: AlphaLoRA (Qing et al.
  2024, EMNLP) gives more LoRA experts to layers whose eigenspectra are less heavy-tailed.
- `more-compressible`: more rank where the spectrum is concentrated. Intuition only: pretraining
  packed those weights into few directions, and a rank-r update is then a comparatively large change
  to what they compute, so they may be where adaptation has most leverage.
With c_i the relative rank above, ranks ~ c_i^temperature (less-compressible) or c_i^-temperature
(more-compressible).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import Field

from loralab.errors import StrategyError
from loralab.modules import TargetModule
from loralab.strategies.base import Signals, StrategyOptions
from loralab.strategies.gradient import require_signal
from loralab.strategies.registry import register_strategy
from loralab.strategies.weighted import WeightedStrategy


class SpectrumOptions(StrategyOptions):
    metric: Literal["effective-rank", "energy"] = Field(
        "effective-rank",
        description="effective-rank (Roy & Vetterli 2007) or energy (rank for `energy` share).",
    )
    energy: float = Field(
        0.9, gt=0.0, le=1.0, description="Share of the squared spectrum that metric=energy must hold."
    )
    direction: Literal["less-compressible", "more-compressible"] = Field(
        "less-compressible",
        description="Give more rank to flat spectra (less-) or to concentrated ones (more-).",
    )
    temperature: float = Field(
        1.0, ge=0.0, description="Exponent on relative rank: 0 uniform, larger sharper."
    )


def effective_rank(singular_values: Sequence[float]) -> float:
    """exp(entropy) of the singular values normalised to sum 1 (Roy & Vetterli 2007); 0 for a zero matrix."""
    s = [max(0.0, float(v)) for v in singular_values]
    total = sum(s)
    if total <= 0:
        return 0.0
    entropy = -sum((v / total) * math.log(v / total) for v in s if v > 0)
    return math.exp(entropy)


def energy_rank(singular_values: Sequence[float], energy: float) -> int:
    """Fewest leading singular values whose squares hold `energy` of the total; 0 for a zero matrix."""
    sq = sorted((float(v) ** 2 for v in singular_values), reverse=True)
    total = sum(sq)
    if total <= 0:
        return 0
    acc = 0.0
    for k, v in enumerate(sq, start=1):
        acc += v
        if acc >= energy * total * (1 - 1e-12):
            return k
    return len(sq)


def relative_rank(singular_values: Sequence[float], module: TargetModule, opts: SpectrumOptions) -> float:
    """The module's rank metric divided by min(d_in, d_out): in (0, 1], 1 for a flat spectrum."""
    if opts.metric == "energy":
        r = float(energy_rank(singular_values, opts.energy))
    else:
        r = effective_rank(singular_values)
    return r / module.max_rank


@register_strategy("spectrum")
class Spectrum(WeightedStrategy):
    description = "Rank from each pretrained weight's spectrum (effective rank); data-free."
    Options = SpectrumOptions
    needs = frozenset({"spectra"})

    def weights(
        self, modules: list[TargetModule], signals: Signals, options: SpectrumOptions
    ) -> tuple[dict[str, float], dict[str, Any]]:
        require_signal(signals.spectra, modules, "spectra", self.name)
        rel = {m.name: relative_rank(signals.spectra[m.name], m, options) for m in modules}  # type: ignore[index]
        zero = [n for n, v in rel.items() if v <= 0]
        if zero:
            raise StrategyError(
                f"the pretrained weight of {zero[0]!r} is all zeros; it has no spectrum to use"
            )
        sign = 1.0 if options.direction == "less-compressible" else -1.0
        return {n: v ** (sign * options.temperature) for n, v in rel.items()}, {"relative_rank": rel}

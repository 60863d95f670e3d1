"""Does a strategy's difference from the baseline change with the context? (strategy × budget)

A study that varies a context field (the budget, the model) beside the strategy asks more than one
question per context: whether an allocation's advantage at a scarce budget survives at an ample one.
That is an interaction contrast. For strategy s, baseline u, a field with levels l0 (the first in
natural order, e.g. r2) and l, on every seed k trained in all four cells,

    I_k = Δ_k(l0) − Δ_k(l),   Δ_k(l) = value(s, l, k) − value(u, l, k),

the per-seed difference of the per-seed paired differences the verdicts already rest on. The unit
of inference stays the training seed: the interval is a t-interval of the mean of I_k over seeds,
simultaneous over the family of contrasts and the design's looks (Bonferroni, like the verdicts of
the comparisons; `stats.interval_confidence`), and read against the same δ:

- **changes**: the interval excludes 0 (and does not lie inside ±δ): the difference from the
  baseline is not the same at the two levels;
- **same**: the interval lies inside ±δ: the difference changes by less than δ between the levels;
- **unresolved**: neither, or fewer than two seeds in all four cells.

The contrasts form their own family (corrected on their own), like a secondary metric: a reader can
take the comparisons' verdicts and these at 1 − alpha each.
"""

from __future__ import annotations

import numpy as np

from loralab.analysis import stats as S
from loralab.analysis.labels import label_of, natural_key
from loralab.analysis.schema import Comparison, Interaction, Interval, Settings

VERDICT_OF = {"better": "changes", "worse": "changes", "equivalent": "same", "unresolved": "unresolved"}


def _per_seed(c: Comparison) -> dict[int, float]:
    return {d.seed: d.difference for d in c.per_seed}


def _contrasts(comparisons: list[Comparison]) -> list[tuple[str, dict, Comparison, Comparison]]:
    """(field, other fields, comparison at the first level, comparison at another level) for every
    strategy and context field with two or more levels."""
    out = []
    fields = sorted({f for c in comparisons for f in c.context})
    for field in fields:
        groups: dict[tuple, list[Comparison]] = {}
        for c in comparisons:
            if field not in c.context:
                continue
            rest = tuple(sorted((k, str(v)) for k, v in c.context.items() if k != field))
            groups.setdefault((c.a, c.b, rest), []).append(c)
        for _, group in sorted(groups.items(), key=lambda kv: natural_key(list(kv[0]))):
            group = sorted(group, key=lambda c: natural_key([c.context[field]]))
            if len({c.context[field] for c in group}) < 2:
                continue
            first = group[0]
            others = {k: v for k, v in first.context.items() if k != field}
            out += [(field, others, first, c) for c in group[1:]]
    return out


def interactions(comparisons: list[Comparison], settings: Settings, margin: float) -> list[Interaction]:
    """The strategy × context contrasts of the family of comparisons with the baseline."""
    family = [c for c in comparisons if c.kind == "vs_baseline"]
    prepared = []
    for field, others, first, other in _contrasts(family):
        d0, d1 = _per_seed(first), _per_seed(other)
        seeds = sorted(set(d0) & set(d1))
        if not seeds:
            continue  # no seed trained in all four cells: nothing to pair (the coverage table shows it)
        d = np.array([d0[k] - d1[k] for k in seeds], float)
        prepared.append((field, others, first, other, seeds, d))
    size = sum(len(p[4]) >= 2 for p in prepared)
    level = S.interval_confidence(settings.alpha, size, settings.looks)
    factor = max(size, 1) * settings.looks
    out = []
    for field, others, first, other, seeds, d in prepared:
        ci, p_adj, verdict = None, None, "unresolved"
        if len(seeds) >= 2:
            lo, hi = S.t_interval(d, level)
            ci = Interval(
                low=float(lo),
                high=float(hi),
                method=f"t over per-seed contrasts, simultaneous: {level:.4g} each (Bonferroni over"
                f" {size} contrast{'s' if size != 1 else ''}"
                f"{f' and {settings.looks} looks' if settings.looks > 1 else ''})",
                confidence=level,
            )
            p = float(S.paired_t(d)[1])
            p_adj = min(1.0, p * factor) if np.isfinite(p) else None
            verdict = VERDICT_OF[S.verdict_of(ci.low, ci.high, margin)]
        a0, a1 = first.context[field], other.context[field]
        where = f" | {label_of(others)}" if others else ""
        out.append(
            Interaction(
                id=f"{first.a} vs {first.b} | {field}: {a0} vs {a1}{where}",
                strategy=first.a,
                baseline=first.b,
                field=field,
                level_a=a0,
                level_b=a1,
                context=others,
                n_seeds=len(seeds),
                seeds=seeds,
                difference_a=float(np.mean([_per_seed(first)[k] for k in seeds])),
                difference_b=float(np.mean([_per_seed(other)[k] for k in seeds])),
                difference=float(d.mean()),
                difference_ci=ci,
                p_adjusted=p_adj,
                margin=margin,
                verdict=verdict,
            )
        )
    return out

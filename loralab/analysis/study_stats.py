"""A study's statistics: per-cell summaries, comparisons against the baseline, coverage -> `StudyStats`.

The example-level bootstrap is shared: every run evaluated on the same examples is resampled with
the same example resamples, once (`Resampled`), and each comparison or cell only resamples seeds on
top. That makes a 1,000-run study a handful of matrix products.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from loralab.analysis import stats as S
from loralab.analysis.compare import Arm, compare_arms, correct, example_contributions
from loralab.analysis.convergence import convergence
from loralab.analysis.interaction import interactions
from loralab.analysis.labels import label_of, natural_key
from loralab.analysis.load import StudyData, example_matrix
from loralab.analysis.schema import (
    CellSummary,
    Comparison,
    CoverageRow,
    Interval,
    MetricStats,
    Settings,
    StudyStats,
)
from loralab.errors import AnalysisError
from loralab.results import EVAL_LOSS, Metric, get_metric

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Resampled:
    """Per run: its metric, and the metric under the shared example resamples `(R,)`."""

    metric: Metric
    loss: dict[str, float]  # run_id -> the run's metric (named for the default one, the eval loss)
    boot: dict[str, np.ndarray]
    examples: dict[str, np.ndarray]  # run_id -> example ids (to check pairing)


def resample_runs(data: StudyData, settings: Settings, metric: Metric = EVAL_LOSS) -> Resampled:
    """`metric` of every analysable run that recorded it, under the shared example resamples."""
    loss, boot, examples = {}, {}, {}
    groups: dict[bytes, list[str]] = {}
    for rid, frame in data.examples.items():
        if not set(metric.columns) <= set(frame.columns):
            continue
        ids = frame["example"].to_numpy()
        examples[rid] = ids
        groups.setdefault(np.asarray(ids).tobytes() + str(ids.dtype).encode(), []).append(rid)
    for rids in groups.values():
        rids = sorted(rids)
        _, value, weight = example_matrix([data.examples[r] for r in rids], metric)
        # weights (token counts) are the same for every run of a model: resample each distinct row once
        rows, inverse = np.unique(weight, axis=0, return_inverse=True)
        num = _resampled_sums(value, settings)
        den = _resampled_sums(rows, settings)[np.ravel(inverse)]
        for i, rid in enumerate(rids):
            loss[rid] = float(value[i].sum() / weight[i].sum())
            boot[rid] = num[i] / den[i]
    return Resampled(metric, loss, boot, examples)


def _resampled_sums(values: np.ndarray, settings: Settings) -> np.ndarray:
    """Σ over each example resample of `values` `(rows, examples) -> (rows, R)`."""
    chunks = S.example_weights(values.shape[1], settings.n_resamples, settings.seed)
    return np.concatenate([values @ w.T for w in chunks], axis=1)


def arm(data: StudyData, res: Resampled, runs: pd.DataFrame, label: str) -> Arm:
    """The arm made of `runs` (one per seed), with their resampled losses."""
    runs = runs.sort_values("seed", kind="stable")
    rids = list(runs["run_id"])
    _, value, weight = example_matrix([data.examples[r] for r in rids], res.metric)
    params = pd.to_numeric(runs["trainable_params"], errors="coerce").mean()
    return Arm(
        label=label,
        seeds=tuple(int(s) for s in runs["seed"]),
        run_ids=tuple(rids),
        value=value,
        weight=weight,
        params=None if pd.isna(params) else float(params),
        boot=np.stack([res.boot[r] for r in rids]),
        metric=res.metric,
    )


def cell_key(row: pd.Series | dict, fields: list[str]) -> tuple:
    """A hashable key of a row's values on `fields`."""
    return tuple(_py(row[f]) for f in fields)


def strategy_order(strategies: list[str], baseline: str) -> list[str]:
    """The baseline first, then the others by name."""
    return [s for s in [baseline] if s in strategies] + sorted(s for s in set(strategies) if s != baseline)


def summarize_cells(data: StudyData, res: Resampled, settings: Settings) -> list[CellSummary]:
    """One summary per cell with at least one analysable run that recorded the metric."""
    done = data.done[data.done["run_id"].isin(list(res.loss))]
    metric = res.metric
    out = []
    for key, runs in _groups(done, data.cell_fields):
        cell = dict(zip(data.cell_fields, key, strict=True))
        runs = runs.sort_values("seed", kind="stable")
        rids = list(runs["run_id"])
        losses = np.array([res.loss[r] for r in rids])
        reps = S.seed_resample_mean(np.stack([res.boot[r] for r in rids]), settings.seed)
        lo, hi = S.percentile_interval(reps, settings.confidence)
        t_lo, t_hi = S.t_interval(losses, settings.confidence)
        base = [S.token_loss(*b) for b in (_base(data, r, metric) for r in rids) if b is not None]
        params = pd.to_numeric(runs["trainable_params"], errors="coerce").mean()
        peak = pd.to_numeric(runs["peak_trainable_params"], errors="coerce").mean()
        mean = float(losses.mean())
        out.append(
            CellSummary(
                cell=cell,
                label=label_of(cell),
                strategy=str(cell["strategy"]),
                n_seeds=len(rids),
                seeds=[int(s) for s in runs["seed"]],
                n_examples=len(data.examples[rids[0]]),
                mean=mean,
                sd=float(losses.std(ddof=1)) if len(rids) > 1 else None,
                shown=metric.display(mean),
                t_ci=None
                if len(rids) < 2
                else Interval(low=float(t_lo), high=float(t_hi), method="t over seeds"),
                bootstrap_ci=Interval(low=lo, high=hi, method="two-level bootstrap (seeds, then examples)"),
                shown_ci=Interval(
                    low=metric.display(lo),
                    high=metric.display(hi),
                    method="exp of bootstrap_ci"
                    if metric.transform == "exp"
                    else f"bootstrap_ci, {metric.transform}",
                ),
                trainable_params=None if pd.isna(params) else float(params),
                peak_trainable_params=None if pd.isna(peak) else float(peak),
                base=float(np.mean(base)) if base else None,
                by_task=_by_task([data.examples[r] for r in rids], metric),
                base_by_task=_by_task(
                    [data.base_examples[r] for r in rids if r in data.base_examples], metric
                ),
            )
        )
    order = strategy_order([s.strategy for s in out], data.baseline)
    return sorted(out, key=lambda s: (_sort_key(s.cell, data.context_fields), order.index(s.strategy)))


def _by_task(frames: list[pd.DataFrame], metric: Metric) -> dict[str, float] | None:
    """The metric per task, mean over the runs' frames; None unless every frame names tasks."""
    if not frames or any(
        "task" not in f.columns or not set(metric.columns) <= set(f.columns) for f in frames
    ):
        return None
    per_run = []
    for f in frames:
        named = f[f["task"].fillna("") != ""]
        weight = named[metric.weighting] if metric.weighting else pd.Series(1.0, index=named.index)
        sums = pd.DataFrame(
            {"task": named["task"], "v": named[metric.value_column].astype(float), "w": weight}
        )
        grouped = sums.groupby("task", sort=True)[["v", "w"]].sum()
        per_run.append(grouped["v"] / grouped["w"])
    if not per_run or per_run[0].empty:
        return None
    mean = pd.concat(per_run, axis=1).mean(axis=1)
    return {str(k): float(v) for k, v in mean.items()}


def _base(data: StudyData, rid: str, metric: Metric) -> tuple[np.ndarray, np.ndarray] | None:
    """The base model's per-example values and weights in run `rid`'s eval, if it recorded them."""
    f = data.base_examples.get(rid)
    if f is None or not set(metric.columns) <= set(f.columns):
        return None
    _, value, weight = example_matrix([f], metric)
    return value[0], weight[0]


def pair_comparisons(
    data: StudyData,
    res: Resampled,
    settings: Settings,
    pairs: list[tuple[str, str]],
    kind: str,
    progress: Progress | None = None,
) -> list[Comparison]:
    """Compare strategy a with b in every context where both have analysable runs; corrected as a family."""
    done = data.done[data.done["run_id"].isin(list(res.loss))]
    prepared = []
    for key, runs in _groups(done, data.context_fields):
        context = dict(zip(data.context_fields, key, strict=True))
        by_strategy = {s: g for s, g in runs.groupby("strategy", sort=True)}
        for a_name, b_name in pairs:
            if a_name not in by_strategy or b_name not in by_strategy:
                if kind == "vs_baseline" and b_name not in by_strategy:
                    raise AnalysisError(
                        f"the baseline {b_name!r} has no finished run in {label_of(context)}; finish those"
                        " runs or analyse with another --baseline"
                    )
                continue
            a, b = arm(data, res, by_strategy[a_name], a_name), arm(data, res, by_strategy[b_name], b_name)
            example_matrix(
                [data.examples[a.run_ids[0]], data.examples[b.run_ids[0]]], res.metric
            )  # same examples
            seeds = sorted(set(a.seeds) & set(b.seeds))
            if not seeds:
                continue  # no pair: shown as a gap in the coverage table
            prepared.append((context, a.take(seeds), b.take(seeds)))
    if not prepared and kind == "pairwise":
        raise AnalysisError(f"no context has finished runs of both {pairs[0][0]!r} and {pairs[0][1]!r}")
    example_p = _batched_example_p(prepared, settings)
    out = []
    for i, ((context, a, b), p) in enumerate(zip(prepared, example_p, strict=True)):
        out.append(
            compare_arms(
                a,
                b,
                settings=settings,
                context=context,
                context_label=label_of(context),
                kind=kind,
                example_p=p,
            )
        )
        if progress is not None and (i + 1) % 50 == 0:
            progress(f"compared {i + 1}/{len(prepared)}")
    return correct(out, settings, res.metric.margin(margin_spec(data, settings, res.metric)), res.metric)


def _batched_example_p(prepared: list[tuple[dict, Arm, Arm]], settings: Settings) -> list[float | None]:
    """Example-level p-values of all comparisons sharing token counts, one permutation matrix per size."""
    p: list[float | None] = [None] * len(prepared)
    by_size: dict[int, list[tuple[int, np.ndarray]]] = {}
    for i, (_, a, b) in enumerate(prepared):
        x = example_contributions(a, b)
        if x is not None:
            by_size.setdefault(len(x), []).append((i, x))
    for items in by_size.values():
        ps = S.example_sign_flip_batch(np.stack([x for _, x in items]), settings.n_resamples, settings.seed)
        for (i, _), value in zip(items, ps, strict=True):
            p[i] = float(value)
    return p


def margin_spec(data: StudyData, settings: Settings, metric: Metric | None = None) -> str:
    """δ of `metric` (default: the primary) as declared: for the primary the analysis option if given,
    else the study file's; for another metric the study file's, else the metric's default."""
    if metric is None or metric.name == data.primary_metric:
        return settings.equivalence_margin or data.margin_spec
    return data.margin_specs.get(metric.name) or metric.default_margin


def coverage(data: StudyData) -> list[CoverageRow]:
    """One row per expected cell: expected seeds, and which are done, failed, running, pending, missing."""
    fields = data.cell_fields
    all_seeds = sorted({int(s) for s in data.runs["seed"].dropna()} | _plan_seeds(data.expected))
    expected: dict[tuple, set[int]] = {}
    if len(data.expected):
        for _, row in data.expected.iterrows():
            expected.setdefault(cell_key(row, fields), set()).add(int(row["seed"]))
    present_dirs: dict[tuple, dict[int, str]] = {}
    for _, row in data.runs.iterrows():
        if pd.isna(row["seed"]):
            continue
        state = "done" if row["analysable"] else ("failed" if row["state"] == "done" else row["state"])
        present_dirs.setdefault(cell_key(row, fields), {})[int(row["seed"])] = state
    rows = []
    for key in sorted(set(expected) | set(present_dirs), key=natural_key):
        seeds_here = present_dirs.get(key, {})
        want = sorted(expected.get(key) or set(all_seeds))
        by = {
            s: [x for x, st in seeds_here.items() if st == s]
            for s in ("done", "failed", "running", "pending")
        }
        cell = dict(zip(fields, key, strict=True))
        rows.append(
            CoverageRow(
                cell=cell,
                label=label_of(cell),
                strategy=str(cell.get("strategy")),
                expected_seeds=want,
                done=sorted(by["done"]),
                failed=sorted(by["failed"]),
                running=sorted(by["running"]),
                pending=sorted(by["pending"]),
                missing=sorted(set(want) - set(seeds_here)),
                complete=set(want) <= set(by["done"]),
            )
        )
    return rows


def _plan_seeds(expected: pd.DataFrame) -> set[int]:
    return {int(s) for s in expected["seed"]} if len(expected) and "seed" in expected else set()


def study_stats(data: StudyData, settings: Settings, progress: Progress | None = None) -> StudyStats:
    """Summaries, the family of comparisons against the baseline (corrected), its strategy × context
    contrasts, and coverage."""
    if data.done.empty:
        states = ", ".join(f"{n} {s}" for s, n in data.runs["state"].value_counts().sort_index().items())
        raise AnalysisError(f"no finished runs to analyse in {data.directory} ({states or 'no runs'})")
    if data.looks > settings.looks:  # an adaptive design's final analysis: the looks it took count
        settings = settings.model_copy(update={"looks": data.looks})
    strategies = strategy_order(list(data.done["strategy"].unique()), data.baseline)
    if data.baseline not in strategies:
        raise AnalysisError(
            f"the baseline {data.baseline!r} has no finished run; strategies with finished runs:"
            f" {', '.join(strategies)}"
        )
    pairs = [(s, data.baseline) for s in strategies if s != data.baseline]
    sections = [metric_stats(data, settings, get_metric(m), pairs, progress) for m in data.metrics]
    primary, secondary = sections[0], sections[1:]
    cov = coverage(data)
    loss_margin = EVAL_LOSS.margin(margin_spec(data, settings, EVAL_LOSS))
    lc = data.learning_curve
    conv = (
        convergence(
            lc,
            int(lc["step"].max()),
            loss_margin,
            settings.confidence,
            strategy=data.baseline,
            study=data.learning_curve_study or data.name,
        )
        if not lc.empty
        else None
    )
    return StudyStats(
        study=data.name,
        settings=settings,
        varied=data.varied,
        cell_fields=data.cell_fields,
        baseline=data.baseline,
        n_runs=len(data.runs),
        n_done=len(data.done),
        metric=primary.metric,
        summaries=primary.summaries,
        comparisons=primary.comparisons,
        family_size=primary.family_size,
        margin=primary.margin,
        margin_spec=primary.margin_spec,
        simultaneous_confidence=1 - settings.alpha,
        coverage=cov,
        complete=all(r.complete for r in cov),
        convergence=conv,
        secondary=secondary,
        interactions=interactions(primary.comparisons, settings, primary.margin),
    )


def metric_stats(
    data: StudyData,
    settings: Settings,
    metric: Metric,
    pairs: list[tuple[str, str]],
    progress: Progress | None = None,
) -> MetricStats:
    """One metric's cells and its family of comparisons against the baseline (corrected on its own)."""
    res = resample_runs(data, settings, metric)
    if progress:
        progress(f"{metric.name}: resampled {len(res.loss)} runs × {settings.n_resamples} example resamples")
    missing = sorted(set(data.done["run_id"]) - set(res.loss))
    if missing:
        raise AnalysisError(
            f"{len(missing)} finished run(s) did not record {metric.name} (e.g. {missing[0]}); rerun them"
            " with train.eval_metrics naming it, or leave it out of the study file's analysis.metrics"
        )
    comparisons = pair_comparisons(data, res, settings, pairs, "vs_baseline", progress) if pairs else []
    spec = margin_spec(data, settings, metric)
    return MetricStats(
        metric=metric.name,
        summaries=summarize_cells(data, res, settings),
        comparisons=comparisons,
        family_size=sum(c.n_seeds >= 2 for c in comparisons),
        margin=metric.margin(spec),
        margin_spec=spec,
    )


def _groups(frame: pd.DataFrame, fields: list[str]) -> list[tuple[tuple, pd.DataFrame]]:
    """Groups of `frame` by `fields` (None kept as a value), in a stable order."""
    if not fields:
        return [((), frame)]
    keyed: dict[tuple, list[int]] = {}
    for i, (_, row) in enumerate(frame.iterrows()):
        keyed.setdefault(cell_key(row, fields), []).append(i)
    order = sorted(keyed, key=natural_key)
    return [(k, frame.iloc[keyed[k]]) for k in order]


def _sort_key(cell: dict[str, Any], fields: list[str]) -> tuple:
    return natural_key([cell.get(f) for f in fields])


def _py(v: Any) -> Any:
    """A plain JSON scalar (numpy scalars unwrapped, NaN as None)."""
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and v != v:
        return None
    return v

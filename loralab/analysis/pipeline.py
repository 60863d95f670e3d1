"""`loralab analyze` and `loralab compare` as functions: load, compute, write every artifact.

`analyze` writes `<study dir>/analysis/`:
runs.parquet, examples.parquet, stats.json, figures/, tables/, report.html. Every file is a pure
function of the store and the settings, so running it twice gives identical bytes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from loralab.analysis.load import StudyData, load_study_dir
from loralab.analysis.schema import Artifacts, Settings, StudyStats
from loralab.analysis.study_stats import margin_spec, pair_comparisons, resample_runs, study_stats
from loralab.errors import AnalysisError
from loralab.results import get_metric
from loralab.results.study_record import StudyRecord
from loralab.store import atomic_write_parquet, atomic_write_text
from loralab.store.frames import normalise_dtypes

Echo = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


def analyze(
    directory: str | Path,
    *,
    plan: StudyRecord | None = None,
    settings: Settings | None = None,
    baseline: str | None = None,
    out: Path | None = None,
    echo: Echo = _quiet,
) -> tuple[StudyStats, Path]:
    """Analyse the study in `directory` and write its artifacts; returns (stats, analysis dir)."""
    settings = settings or Settings()
    t0 = time.perf_counter()
    data = load(directory, plan, baseline, echo)
    echo(f"loaded {len(data.runs)} runs ({len(data.done)} finished) in {time.perf_counter() - t0:.1f}s")
    stats = study_stats(data, settings, progress=echo)
    echo(f"statistics: {len(stats.summaries)} cells, {len(stats.comparisons)} comparisons")
    out = Path(out) if out else data.directory / "analysis"
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_parquet(out / "runs.parquet", runs_frame(data))
    atomic_write_parquet(out / "examples.parquet", examples_frame(data))
    from loralab.analysis.tables import write_tables

    tables = write_tables(stats, out / "tables")
    echo("writing figures")
    from loralab.analysis.figures import write_figures

    figures = write_figures(stats, data, out / "figures")
    artifacts = Artifacts(
        figures={k: [str(p.relative_to(out)) for p in v] for k, v in figures.items()},
        tables={k: [str(p.relative_to(out)) for p in v] for k, v in tables.items()},
    )
    stats = stats.model_copy(update={"artifacts": artifacts})
    atomic_write_text(out / "stats.json", stats.model_dump_json(indent=2) + "\n")
    from loralab.analysis.report import write_report

    write_report(stats, data, out)
    echo(f"wrote {out} in {time.perf_counter() - t0:.1f}s")
    return stats, out


def load(directory: str | Path, plan: StudyRecord | None, baseline: str | None, echo: Echo) -> StudyData:
    """Load a study, showing progress every 100 runs; `baseline` overrides the study's."""

    def progress(i: int, n: int) -> None:
        if i % 100 == 0 or i == n:
            echo(f"reading runs {i}/{n}")

    data = load_study_dir(directory, plan, progress=progress, warn=echo)
    if baseline:
        data = StudyData(**{**data.__dict__, "baseline": baseline})
    return data


def compare(
    directory: str | Path,
    a: str,
    b: str,
    *,
    plan: StudyRecord | None = None,
    settings: Settings | None = None,
    echo: Echo = _quiet,
) -> StudyStats:
    """Compare strategies (or run ids) `a` and `b`, paired, in every context both have; corrected."""
    if a == b:
        raise AnalysisError(
            f"compare needs two different strategies or run ids (both are {a!r}); name another"
        )
    settings = settings or Settings()
    data = load(directory, plan, None, echo)
    if data.done.empty:
        raise AnalysisError(f"no finished runs to analyse in {data.directory}")
    run_ids = set(data.done["run_id"])
    if a in run_ids and b in run_ids:
        data = _as_single_runs(data, a, b)
    else:
        known = sorted(set(data.done["strategy"]))
        for name in (a, b):
            if name not in known:
                raise AnalysisError(
                    f"{name!r} is neither a strategy with finished runs ({', '.join(known)}) nor a finished"
                    " run id of this study"
                )
    metric = get_metric(data.primary_metric)
    res = resample_runs(data, settings, metric)
    comparisons = pair_comparisons(data, res, settings, [(a, b)], "pairwise", echo)
    return StudyStats(
        study=data.name,
        settings=settings,
        varied=data.varied,
        cell_fields=data.cell_fields,
        baseline=b,
        n_runs=len(data.runs),
        n_done=len(data.done),
        summaries=[],
        comparisons=comparisons,
        family_size=sum(c.n_seeds >= 2 for c in comparisons),
        metric=metric.name,
        margin=metric.margin(margin_spec(data, settings)),
        margin_spec=margin_spec(data, settings),
        simultaneous_confidence=1 - settings.alpha,
        coverage=[],
        complete=True,
    )


def _as_single_runs(data: StudyData, a: str, b: str) -> StudyData:
    """Two runs as two one-seed arms named by run id, in one context (paired by example only)."""
    runs = data.runs[data.runs["run_id"].isin([a, b])].copy()
    runs["strategy"] = runs["run_id"]
    runs["seed"] = 0
    return StudyData(**{**data.__dict__, "runs": runs, "varied": ["strategy", "seed"]})


def runs_frame(data: StudyData) -> pd.DataFrame:
    """runs.parquet: one row per run with its state, varied fields and final metrics (mixed columns as
    text, as in the study's index.parquet)."""
    return normalise_dtypes(data.runs)


def examples_frame(data: StudyData) -> pd.DataFrame:
    """examples.parquet: run × eval example (NLL sum, tokens), finished runs only."""
    frames = [f.assign(run_id=rid) for rid, f in sorted(data.examples.items())]
    if not frames:
        return pd.DataFrame(columns=["run_id", "example", "nll_sum", "tokens"])
    return pd.concat(frames, ignore_index=True)[["run_id", "example", "nll_sum", "tokens"]]

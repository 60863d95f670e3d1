"""A study's run directories as tidy frames: runs, examples, curves, allocations, and what is missing.

A run is *analysable* when it is done and has readable eval files; every other run (failed, running,
pending, or done with eval files missing or damaged) stays in `runs` with its state and shows in the
coverage table, never silently dropped; a damaged file is also named in a warning line. A study
directory may hold `study.yaml` (written by `loralab study`): its `runs` list is the expected grid,
so runs that never started count as missing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from loralab.config import DEFAULT_EQUIVALENCE_MARGIN
from loralab.errors import AnalysisError, ConfigError, StoreError
from loralab.results import EVAL_LOSS, Metric, get_metric, registered_metrics
from loralab.results.allocation import read_allocation
from loralab.results.study_record import STUDY_RECORD, StudyRecord, read_study_record
from loralab.store import RunDir, Store
from loralab.store.frames import config_columns, flatten, read_run

# Config fields with a short column name; any other varied field keeps its dotted name.
SHORT = {"model.name": "model", "lora.strategy": "strategy", "lora.budget": "budget", "train.seed": "seed"}
# Fields never compared: options that go with a strategy (where results go and how they are tracked
# are not run config: `config_columns` leaves them out).
IGNORED_PREFIXES = ("lora.strategy_options",)
EVAL_FIELDS = ("eval_loss", "eval_ppl", "base_eval_loss", "trainable_params", "peak_trainable_params")
# What each run did, from its record (train/eval split sizes, optimizer steps, budget in parameters).
RECORD_FIELDS = ("n_examples", "n_train", "n_eval", "train_steps", "budget_params")


@dataclass(frozen=True)
class StudyData:
    """Everything the analysis reads from one study directory."""

    name: str
    directory: Path
    baseline: str
    margin_spec: str  # the study file's analysis.equivalence_margin (δ as declared)
    looks: int  # the looks of an adaptive design (1: a fixed grid); verdict intervals widen with it
    runs: pd.DataFrame  # one row per run directory: run_id, state, varied fields, eval metrics
    varied: list[str]  # varied columns of `runs`, seed included
    expected: pd.DataFrame  # one row per expected run (plan), columns of `varied` + run_id
    # run_id -> per-example frame sorted by example: example, nll_sum, tokens and each other metric's
    # columns the run recorded (exact_match, task)
    examples: dict[str, pd.DataFrame] = field(default_factory=dict)
    base_examples: dict[str, pd.DataFrame] = field(default_factory=dict)  # the base model's, per run
    curves: pd.DataFrame = field(
        default_factory=pd.DataFrame
    )  # run_id, kind (train|eval), step, loss, tokens
    # run_id, module, layer, kind, rank, dynamic; rows in model order (as allocation.json lists them)
    allocations: pd.DataFrame = field(default_factory=pd.DataFrame)
    trajectories: pd.DataFrame = field(default_factory=pd.DataFrame)  # run_id, step, params
    configs: dict[str, dict[str, Any]] = field(default_factory=dict)  # run_id -> resolved config (spec.yaml)
    # eval curves that tell whether training converged: seed, step, loss of the baseline's runs, from
    # this study or from the companion study named by the study file's analysis.learning_curve
    learning_curve: pd.DataFrame = field(default_factory=pd.DataFrame)
    learning_curve_study: str = ""
    # the metrics analysed, the primary first (its verdicts lead); δ of the others as declared
    metrics: tuple[str, ...] = ("eval_loss",)
    margin_specs: dict[str, str] = field(default_factory=dict)

    @property
    def primary_metric(self) -> str:
        """The metric whose verdicts are the study's (stats.json's top level)."""
        return self.metrics[0]

    @property
    def cell_fields(self) -> list[str]:
        """Varied fields without the seed."""
        return [f for f in self.varied if f != "seed"]

    @property
    def context_fields(self) -> list[str]:
        """Cell fields without the strategy: what two compared arms share."""
        return [f for f in self.cell_fields if f != "strategy"]

    @property
    def done(self) -> pd.DataFrame:
        """Analysable runs."""
        return self.runs[self.runs["analysable"]]


def study_record(directory: Path) -> StudyRecord | None:
    """The study record `loralab study` saved in the study directory, if any."""
    try:
        return read_study_record(directory / STUDY_RECORD)
    except StoreError as e:
        raise AnalysisError(str(e)) from None


def _ignore(message: str) -> None:
    pass


def load_study_dir(
    directory: str | Path,
    plan: StudyRecord | None = None,
    progress: Any = None,
    warn: Callable[[str], None] = _ignore,
    follow_companion: bool = True,
) -> StudyData:
    """Read a study directory `<root>/<study>`; `plan` (a study record) overrides its study.yaml.

    A run whose eval examples cannot be read is kept as not analysable, and `warn` names the file.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise AnalysisError(f"{directory} is not a study directory (expected <root>/<study>/)")
    plan = plan or study_record(directory) or StudyRecord(name=directory.name)
    name = plan.name
    run_dirs = list(Store(directory.parent).runs(directory.name))
    if not run_dirs and not plan.runs:
        raise AnalysisError(f"no runs in {directory}; run the study first (`loralab study FILE`)")
    records, nll, base_nll, configs = [], {}, {}, {}
    curves, allocs, trajs = [], [], []
    for i, rd in enumerate(run_dirs):
        record = _run_record(rd)
        configs[rd.run_id] = record.pop("_config")
        records.append(record)
        _read_per_example(rd, record, nll, base_nll, warn)
        curves.append(_curve(rd))
        alloc, traj = _allocation(rd)
        allocs.append(alloc)
        trajs.append(traj)
        if progress is not None:
            progress(i + 1, len(run_dirs))
    runs = pd.DataFrame.from_records(records) if records else pd.DataFrame(columns=["run_id", "analysable"])
    expected = pd.DataFrame.from_records([{"run_id": r.run_id, **_short(r.point)} for r in plan.runs])
    varied = _varied(runs, expected)
    # model and budget always (a reader of runs.parquet expects them), then every varied field
    keep = [
        "run_id",
        "state",
        "analysable",
        "error",
        "model",
        "budget",
        *varied,
        *EVAL_FIELDS,
        *RECORD_FIELDS,
    ]
    for col in keep:
        if col not in runs:
            runs[col] = None
    runs = runs[list(dict.fromkeys(keep))].sort_values(["run_id"], ignore_index=True)
    baseline = plan.baseline
    curves_frame = _concat(curves, CURVE_COLUMNS)
    companion = plan.section("analysis").get("learning_curve")
    if companion and follow_companion:
        lc, lc_study = _companion_curve(directory, str(companion), baseline, runs, configs, warn)
    else:
        lc, lc_study = _eval_curves(runs, curves_frame, baseline), name
    return StudyData(
        name=name,
        directory=directory,
        baseline=baseline,
        margin_spec=str(plan.section("analysis").get("equivalence_margin", DEFAULT_EQUIVALENCE_MARGIN)),
        looks=len(plan.section("adaptive").get("looks") or [0]),
        runs=runs,
        varied=varied,
        expected=expected,
        examples=nll,
        base_examples=base_nll,
        curves=curves_frame,
        allocations=_concat(allocs, ALLOCATION_COLUMNS),
        trajectories=_concat(trajs, ["run_id", "step", "params"]),
        configs=configs,
        learning_curve=lc,
        learning_curve_study=lc_study,
        metrics=study_metrics(plan.section("analysis"), nll),
        margin_specs={str(k): str(v) for k, v in (plan.section("analysis").get("margins") or {}).items()},
    )


def study_metrics(analysis: dict[str, Any], examples: dict[str, pd.DataFrame]) -> tuple[str, ...]:
    """The metrics a study analyses, the primary first: the study file's `analysis.metrics` (checked
    to be registered), else the primary (default eval_loss) and every registered metric that each
    analysable run recorded per example."""
    primary = str(analysis.get("primary_metric") or EVAL_LOSS.name)
    chosen = analysis.get("metrics")
    if chosen:
        names = [str(m) for m in chosen]
    else:
        names = [
            m.name
            for m in registered_metrics()
            if examples and all(set(m.columns) <= set(f.columns) for f in examples.values())
        ]
    for name in [primary, *names]:
        get_metric(name)  # a ConfigError naming the known ones
    missing = sorted(r for r, f in examples.items() if not set(get_metric(primary).columns) <= set(f.columns))
    if missing:
        raise ConfigError(
            f"primary_metric {primary!r} was not recorded by {len(missing)} of {len(examples)} finished"
            f" run(s) (e.g. {missing[0]}); rerun them with train.eval_metrics naming it, or set the study"
            f" file's analysis.primary_metric to one they recorded (default {EVAL_LOSS.name})"
        )
    return (primary, *(n for n in dict.fromkeys(names) if n != primary))


LEARNING_CURVE_COLUMNS = ["seed", "step", "loss"]
# What a companion learning-curve study must share with the baseline runs it stands for.
CURVE_MATCH = (
    "model.name",
    "data.source",
    "data.cutoff_len",
    "data.val_set_size",
    "data.split_seed",
    "lora.budget",
    "train.max_steps",
    "train.batch_size",
    "train.grad_accum",
    "train.lr",
    "train.schedule",
)


def _eval_curves(runs: pd.DataFrame, curves: pd.DataFrame, strategy: str) -> pd.DataFrame:
    """seed, step, loss of the eval curves of `strategy`'s analysable runs."""
    done = runs[runs["analysable"].astype(bool) & (runs.get("strategy") == strategy)]
    if done.empty or curves.empty:
        return pd.DataFrame(columns=LEARNING_CURVE_COLUMNS)
    ev = curves[(curves["kind"] == "eval") & curves["run_id"].isin(done["run_id"])]
    seeds = done.set_index("run_id")["seed"]
    out = ev.assign(seed=ev["run_id"].map(seeds))[LEARNING_CURVE_COLUMNS]
    return out.sort_values(["seed", "step"], ignore_index=True)


def _companion_curve(
    directory: Path,
    companion: str,
    baseline: str,
    runs: pd.DataFrame,
    configs: dict[str, dict[str, Any]],
    warn: Callable[[str], None],
) -> tuple[pd.DataFrame, str]:
    """The eval curves of the companion study `analysis.learning_curve` names, checked to repeat this
    study's baseline training (same model, data, budget and schedule)."""
    path = directory.parent / companion
    if not path.is_dir():
        raise AnalysisError(
            f"analysis.learning_curve names {companion!r}, but {path} is not a study directory; run that"
            " study first or remove learning_curve from the study file"
        )
    other = load_study_dir(path, warn=warn, follow_companion=False)
    mine = [flatten(configs[r]) for r in runs.loc[runs["strategy"] == baseline, "run_id"]]
    for rid in other.done["run_id"]:
        theirs = flatten(other.configs[rid])
        for key in CURVE_MATCH:
            if mine and all(theirs.get(key) != m.get(key) for m in mine):
                raise AnalysisError(
                    f"the learning-curve study {companion!r} has {key} = {theirs.get(key)!r}, unlike this"
                    f" study's {baseline} runs; it must repeat their training (fix it or remove"
                    " analysis.learning_curve)"
                )
    return _eval_curves(other.runs, other.curves, baseline), other.name


def _read_per_example(
    rd: RunDir,
    record: dict[str, Any],
    nll: dict[str, pd.DataFrame],
    base_nll: dict[str, pd.DataFrame],
    warn: Callable[[str], None],
) -> None:
    """Read an analysable run's per-example eval columns into `nll` (the base model's into `base_nll`);
    an unreadable eval file makes the run not analysable, with the file named in `warn` and its row."""
    if record["analysable"]:
        try:
            nll[rd.run_id] = _read_examples(rd.eval_examples)
        except UnreadableFile as e:
            warn(f"warning: {e}; run {rd.run_id} is left out (shown as unreadable in the coverage)")
            record["analysable"] = False
            record["error"] = str(e)
    if record["analysable"] and rd.base_eval_examples.exists():
        try:
            base_nll[rd.run_id] = _read_examples(rd.base_eval_examples)
        except UnreadableFile as e:  # optional: the run is analysed without its base-model losses
            warn(f"warning: {e}; run {rd.run_id} is analysed without its base-model losses")


def _run_record(rd: RunDir) -> dict[str, Any]:
    """The run's row of `runs`, from the store's one reader (config and record as the index reads them)."""
    run = read_run(rd)
    state = run.state
    record: dict[str, Any] = {"run_id": rd.run_id, "state": state, "error": run.error}
    flat = config_columns(run)
    record.update({SHORT.get(k, k): v for k, v in flat.items() if not k.startswith(IGNORED_PREFIXES)})
    evaluation = run.record if state == "done" else None
    record.update({k: getattr(evaluation, k, None) for k in EVAL_FIELDS})
    record["n_examples"] = getattr(evaluation, "eval_examples", None)
    record["n_train"] = evaluation.data.n_train if evaluation else None
    record["n_eval"] = evaluation.data.n_eval if evaluation else None
    record["train_steps"] = getattr(evaluation, "train_steps", None)
    record["budget_params"] = getattr(evaluation, "budget_params", None)
    analysable = evaluation is not None and rd.eval_examples.exists()
    if state == "done" and not analysable:
        record["error"] = run.problem or f"done but {rd.eval_examples.name} is missing"
    record["analysable"] = analysable
    record["_config"] = run.config
    return record


class UnreadableFile(Exception):
    """A store file that exists but cannot be read (truncated, empty, not parquet, wrong columns)."""


def _read_examples(path: Path) -> pd.DataFrame:
    """The per-example columns of a run's eval file that some metric reads (and the task)."""
    try:
        have = set(pq.read_schema(path).names)
        extra = sorted({c for m in registered_metrics() for c in m.columns} - set(EXAMPLE_COLUMNS))
        table = pq.read_table(path, columns=[*EXAMPLE_COLUMNS, *(c for c in [*extra, "task"] if c in have)])
    except (OSError, ValueError, KeyError, pa.ArrowException) as e:
        # pyarrow reports a truncated or empty file as ArrowInvalid (a ValueError) or OSError
        raise UnreadableFile(f"{path} is damaged or unreadable ({str(e).splitlines()[0][:120]})") from None
    return table.to_pandas().sort_values("example", kind="stable", ignore_index=True)


EXAMPLE_COLUMNS = ["example", "nll_sum", "tokens"]  # every eval file has them
CURVE_COLUMNS = ["run_id", "kind", "step", "loss", "tokens"]


def _curve(rd: RunDir) -> pd.DataFrame:
    """Train steps (loss, supervised tokens) and evals (base at step 0, any intermediate, final)."""
    rows = []
    for m in rd.metrics_rows():  # a damaged line is skipped: the curve keeps the others
        if m.type == "train" and m.loss is not None:
            rows.append((rd.run_id, "train", m.step, m.loss, float(m.tokens or 1)))
        elif m.type == "eval" and m.eval_loss is not None:
            rows.append((rd.run_id, "eval", m.step, m.eval_loss, float(m.eval_tokens or 1)))
    return pd.DataFrame(rows, columns=CURVE_COLUMNS)


ALLOCATION_COLUMNS = ["run_id", "module", "layer", "kind", "rank", "dynamic"]


def _allocation(rd: RunDir) -> tuple[pd.DataFrame, pd.DataFrame]:
    try:
        record = read_allocation(rd.allocation)
        modules = [(rd.run_id, m.name, m.layer, m.kind, m.rank, record.dynamic) for m in record.final.modules]
        traj = [(rd.run_id, int(t["step"]), float(t["params"])) for t in record.trajectory or []]
    except (StoreError, KeyError, TypeError, ValueError):  # missing or damaged: no map
        return pd.DataFrame(), pd.DataFrame()
    return (
        pd.DataFrame(modules, columns=ALLOCATION_COLUMNS),
        pd.DataFrame(traj, columns=["run_id", "step", "params"]),
    )


def _varied(runs: pd.DataFrame, expected: pd.DataFrame) -> list[str]:
    """Columns whose value differs between runs (or in the plan); strategy and seed always."""
    not_config = ("run_id", "state", "error", "analysable", *EVAL_FIELDS, *RECORD_FIELDS)
    candidates = [c for c in runs.columns if c not in not_config]
    varied = {"strategy", "seed"}
    for frame in (runs, expected):
        for col in frame.columns:
            if col in candidates or (frame is expected and col != "run_id"):
                values = {json.dumps(v, sort_keys=True, default=str) for v in frame[col]}
                if len(values) > 1:
                    varied.add(col)
    order = ["model", "budget", "strategy"]
    rest = sorted(varied - {*order, "seed"})
    return [c for c in order if c in varied] + rest + ["seed"]


def _short(point: dict[str, Any]) -> dict[str, Any]:
    return {SHORT.get(k, k): v for k, v in point.items()}


def _concat(frames: list[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)


def example_matrix(
    frames: list[pd.DataFrame], metric: Metric = EVAL_LOSS
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stack runs' per-example frames on their shared example ids: (example ids, values, weights) of
    `metric` (its value column, and its weighting column or ones): Σ values / Σ weights per row is
    the run's metric."""
    ids = frames[0]["example"].to_numpy()
    for f in frames[1:]:
        if len(f) != len(ids) or not np.array_equal(f["example"].to_numpy(), ids):
            raise AnalysisError(
                "runs compared with each other were evaluated on different eval examples; check that"
                " data.split_seed, data.val_set_size and data.source are the same in the study"
            )
    missing = [c for c in metric.columns if any(c not in f.columns for f in frames)]
    if missing:
        raise AnalysisError(
            f"runs compared on {metric.name} did not record its column(s) {', '.join(missing)}"
        )
    values = np.stack([f[metric.value_column].to_numpy(float) for f in frames])
    if metric.weighting is None:
        return ids, values, np.ones_like(values)
    return ids, values, np.stack([f[metric.weighting].to_numpy(float) for f in frames])

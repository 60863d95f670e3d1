"""A study: a base run config and a grid (strategies × budgets × seeds × any config field).

`expand` turns a study into run configs deterministically. Each run's id is the hash of its resolved
config (`RunConfig.run_id`), so editing the grid adds or removes runs and never renames finished ones.

```yaml
name: alloc-r8              # runs land in <base.output.root>/alloc-r8/<run_id>/
baseline: uniform           # the strategy others are compared against
base:                       # a run config tree, or the path of a run config YAML
  model: {name: tiny-gpt2}
  train: {max_steps: 200, threads: 1}
grid:
  strategies: [uniform, linear-decay]
  budgets: [r4, r8]
  seeds: [0, 1, 2]
  fields: {train.lr: [1.0e-4, 3.0e-4]}   # any dotted field; `train.lr: [...]` directly in grid works too
strategy_options:           # per strategy; others keep their defaults
  linear-decay: {ratio: 4}
```
"""

from __future__ import annotations

import difflib
import itertools
from pathlib import Path
from typing import Any, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from loralab.config import (
    DEFAULT_EQUIVALENCE_MARGIN,
    RunConfig,
    apply_overrides,
    build_config,
    load_yaml,
    set_dotted,
)
from loralab.errors import ConfigError, StoreError, validation_message
from loralab.results import get_metric
from loralab.results.study_record import read_study_record

STUDY_KEYS = (
    "unknown key (a study has name, base, grid, baseline, strategy_options and analysis; grid has"
    " strategies, budgets, seeds and fields)"
)

# Fields that grid axes own; giving them under `fields` would silently fight the axis.
_AXIS_FIELDS = {"lora.strategy": "strategies", "lora.budget": "budgets", "train.seed": "seeds"}


class Grid(BaseModel):
    """The axes of a study; an absent axis keeps the base config's value (an empty list is refused)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    strategies: tuple[str, ...] = Field((), description="Strategy names (lora.strategy).")
    budgets: tuple[str, ...] = Field((), description="Budgets such as 'r8', '1500000', '0.5%' (lora.budget).")
    seeds: tuple[int, ...] = Field((), description="Run seeds (train.seed).")
    fields: dict[str, tuple[Any, ...]] = Field(
        default_factory=dict, description="Any other dotted config field -> its values, e.g. train.lr."
    )

    @model_validator(mode="before")
    @classmethod
    def _dotted_keys_are_fields(cls, data: Any) -> Any:
        # `grid: {train.lr: [...]}` reads better than nesting under `fields`; both mean the same.
        if isinstance(data, dict) and any("." in str(k) for k in data):
            data = dict(data)
            fields = dict(data.get("fields") or {})
            for key in [k for k in data if "." in str(k)]:
                fields[key] = data.pop(key)
            data["fields"] = fields
        return data

    @field_validator("budgets", mode="before")
    @classmethod
    def _budgets_as_text(cls, v: Any) -> Any:
        return tuple(str(b).strip() for b in v) if isinstance(v, list | tuple) else v


class StudyAnalysis(BaseModel):
    """How the study's comparisons are judged, declared before any run."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    equivalence_margin: str = Field(
        DEFAULT_EQUIVALENCE_MARGIN,
        description="δ of the primary metric, the smallest difference that matters, in its terms: for"
        " eval_loss 'P%' (perplexity within 1 ± P%) or nats/token, for a percent metric (exact_match) 'P%'"
        " percentage points, else its unit. A comparison whose interval lies inside ±δ is 'equivalent'.",
    )

    learning_curve: str | None = Field(
        None,
        description="A companion study in the same store root that repeats the baseline with evaluations"
        " during training (`train.eval_every`); its eval curve tells whether training had converged.",
    )
    metrics: tuple[str, ...] | None = Field(
        None,
        description="Metrics to analyse (registered names); default: the primary and every metric all runs"
        " recorded (`train.eval_metrics`). Each metric other than the primary is a family of its own.",
    )
    primary_metric: str = Field(
        "eval_loss",
        description="The metric the verdicts lead with (stats.json's top level, the abstract's verdicts);"
        " `equivalence_margin` is its δ.",
    )
    margins: dict[str, str] = Field(
        default_factory=dict,
        description="δ of the other metrics by name ('2%' is 2 percentage points for exact_match);"
        " default: each metric's own.",
    )

    @model_validator(mode="after")
    def _known_metrics(self) -> StudyAnalysis:
        for name in [self.primary_metric, *(self.metrics or ()), *self.margins]:
            get_metric(name)  # a ConfigError naming the known ones
        get_metric(self.primary_metric).margin(self.equivalence_margin)  # δ in the primary's terms
        for name, spec in self.margins.items():
            get_metric(name).margin(spec)
        return self

    @field_validator("equivalence_margin", mode="before")
    @classmethod
    def _margin_text(cls, v: Any) -> str:
        return str(v).strip()  # checked against the primary metric once it is known (_known_metrics)

    @field_validator("learning_curve")
    @classmethod
    def _valid_study_name(cls, v: str | None) -> str | None:
        if v is not None and (not v.strip() or "/" in v or v.strip() in (".", "..")):
            raise ValueError(f"learning_curve names a study in the same store root, not a path: {v!r}")
        return v


class AdaptiveDesign(BaseModel):
    """Seeds added in looks until each comparison is resolved (docs/studies.md, "Adaptive studies")."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    looks: tuple[int, ...] = Field(
        (3, 6, 10),
        description="Seeds per strategy at each look, increasing: the pilot first, the cap last. The"
        " verdicts' error is split over the looks (Bonferroni), so every look costs power.",
    )
    max_runs: int | None = Field(
        None,
        ge=1,
        description="Compute budget: stop adding seeds once the study would exceed this many runs.",
    )

    @field_validator("looks")
    @classmethod
    def _increasing(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if not v or v[0] < 2 or any(b <= a for a, b in itertools.pairwise(v)):
            raise ValueError("must be increasing seed counts starting at 2 or more, e.g. [3, 6, 10]")
        return v


class PaperAuthor(BaseModel):
    """One author of the generated paper."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(description="The author's name as printed under the title.")
    affiliation: str | None = Field(None, description="The author's affiliation, printed under the name.")


class PaperInfo(BaseModel):
    """Front matter of the paper `loralab paper build` writes (docs/paper.md)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    title: str | None = Field(
        None, description="The paper's title (None: a generated title naming the study)."
    )
    authors: tuple[PaperAuthor, ...] = Field(
        (),
        description="Authors in order, each {name, affiliation}. None listed: the placeholder"
        " 'Anonymous', which `loralab paper build` and `paper check` warn about.",
    )


class StudyConfig(BaseModel):
    """A named grid of runs over a base run config, with the baseline strategy for comparisons."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(description="Study name: its runs live in <root>/<name>/<run_id>/.")
    base: RunConfig = Field(default_factory=RunConfig, description="The run config every run starts from.")
    grid: Grid = Field(default_factory=Grid, description="Axes to expand the base config over.")
    baseline: str = Field("uniform", description="Strategy the analysis compares the others against.")
    analysis: StudyAnalysis = Field(
        default_factory=StudyAnalysis, description="The equivalence margin δ the verdicts use."
    )
    adaptive: AdaptiveDesign | None = Field(
        None, description="Add seeds in looks only where comparisons are unresolved (None: a fixed grid)."
    )
    paper: PaperInfo = Field(
        default_factory=PaperInfo, description="Title and authors of the generated paper."
    )
    strategy_options: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description=(
            "Options per strategy, e.g. {linear-decay: {ratio: 4}}. A strategy not listed gets"
            " base.lora.strategy_options if it is the base's strategy, otherwise its defaults."
        ),
    )

    @field_validator("name")
    @classmethod
    def _safe_name(cls, v: str) -> str:
        if not v or "/" in v or v.startswith(".") or v != v.strip():
            raise ValueError("must be a plain directory name without '/' or a leading '.'")
        return v

    @property
    def strategies(self) -> tuple[str, ...]:
        """The strategies the study runs (the grid axis, or the base config's one)."""
        return self.grid.strategies or (self.base.lora.strategy,)

    @model_validator(mode="after")
    def _adaptive_seeds(self) -> StudyConfig:
        if self.adaptive and self.grid.seeds and len(self.grid.seeds) < self.adaptive.looks[-1]:
            raise ValueError(
                f"adaptive.looks reaches {self.adaptive.looks[-1]} seeds but grid.seeds lists"
                f" {len(self.grid.seeds)}; list at least that many seeds or leave grid.seeds out"
            )
        return self

    def adaptive_seeds(self) -> tuple[int, ...]:
        """The seeds an adaptive study draws from, in order (grid.seeds, else 0, 1, 2, ...)."""
        assert self.adaptive is not None
        return tuple(self.grid.seeds) or tuple(range(self.adaptive.looks[-1]))


def _check_field(key: str) -> None:
    """Raise a ConfigError unless `key` is a dotted path to a RunConfig field (or into a dict field)."""
    model: type[BaseModel] = RunConfig
    parts = key.split(".")
    for i, part in enumerate(parts):
        known = model.model_fields
        if part not in known:
            where = ".".join(parts[:i]) or "the run config"
            close = difflib.get_close_matches(part, list(known), n=1)
            hint = f"did you mean {'.'.join([*parts[:i], close[0]])!r}? " if close else ""
            raise ConfigError(
                f"grid field {key!r} is not a config field: {where} has no {part!r}; {hint}"
                f"fields there: {', '.join(known)}"
            )
        ann = known[part].annotation
        last = i == len(parts) - 1
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            if last:
                raise ConfigError(
                    f"grid field {key!r} is a whole section; name one of its fields, e.g."
                    f" {key}.{next(iter(ann.model_fields))}"
                )
            model = ann
            continue
        if last or get_origin(ann) is dict or ann is dict:
            return  # a leaf, or a key inside a free-form dict such as lora.strategy_options
        raise ConfigError(f"grid field {key!r}: {'.'.join(parts[: i + 1])} is a value, not a section")


def _check_grid(study: StudyConfig) -> None:
    grid = study.grid
    for key, values in grid.fields.items():
        _check_field(key)
        if key in _AXIS_FIELDS:
            raise ConfigError(f"grid field {key!r}: use grid.{_AXIS_FIELDS[key]} for it")
        if key.split(".")[0] in ("output", "tracking"):
            raise ConfigError(
                f"grid field {key!r}: output and tracking fields do not change a run's id, so its runs"
                " would collide; set it in base instead"
            )
        if not values:
            raise ConfigError(f"grid field {key!r} has no values")
    axes = {"strategies": grid.strategies, "budgets": grid.budgets, "seeds": grid.seeds}
    axes.update({f"fields.{k}": v for k, v in grid.fields.items()})
    for axis, values in axes.items():
        seen = [repr(v) for v in values]
        dupes = sorted({v for v in seen if seen.count(v) > 1})
        if dupes:
            raise ConfigError(f"grid.{axis} lists {', '.join(dupes)} more than once")
    unknown = sorted(set(study.strategy_options) - set(study.strategies))
    if unknown:
        raise ConfigError(
            f"strategy_options names {', '.join(unknown)}, which the study does not run"
            f" ({', '.join(study.strategies)})"
        )
    if study.baseline not in study.strategies:
        raise ConfigError(
            f"baseline {study.baseline!r} is not one of the study's strategies"
            f" ({', '.join(study.strategies)}); add it to grid.strategies or change baseline"
        )


def expand(study: StudyConfig) -> list[RunConfig]:
    """The study's run configs, in a fixed order (seed-major, so early results are comparisons)."""
    _check_grid(study)
    grid = study.grid
    base_tree = study.base.model_dump(mode="json")
    axes: list[tuple[str, tuple[Any, ...]]] = [
        ("train.seed", grid.seeds or (study.base.train.seed,)),
        ("lora.budget", grid.budgets or (study.base.lora.budget,)),
        *grid.fields.items(),
        ("lora.strategy", study.strategies),
    ]
    runs: list[RunConfig] = []
    seen: dict[str, dict[str, Any]] = {}
    for combo in itertools.product(*(values for _, values in axes)):
        tree = _copy_tree(base_tree)
        point = dict(zip((k for k, _ in axes), combo, strict=True))
        # per-strategy options first, so a grid field inside lora.strategy_options still applies
        set_dotted(tree, "lora.strategy_options", _options_for(study, point["lora.strategy"]))
        for key, value in point.items():
            set_dotted(tree, key, value)
        set_dotted(tree, "output.study", study.name)
        set_dotted(tree, "tracking.group", study.name)
        try:
            cfg = build_config(tree)
        except ConfigError as e:
            raise ConfigError(f"study run {_describe(point)}: {e}") from None
        rid = cfg.run_id()
        if rid in seen:  # e.g. a field value that validation normalises to another one
            raise ConfigError(f"study runs {_describe(seen[rid])} and {_describe(point)} are the same run")
        seen[rid] = point
        runs.append(cfg)
    return runs


def _options_for(study: StudyConfig, strategy: str) -> dict[str, Any]:
    """A run's strategy options: the study's for that strategy, else the base's if it is the base's."""
    if strategy in study.strategy_options:
        return dict(study.strategy_options[strategy])
    return dict(study.base.lora.strategy_options) if strategy == study.base.lora.strategy else {}


def _copy_tree(tree: dict[str, Any]) -> dict[str, Any]:
    return {k: _copy_tree(v) if isinstance(v, dict) else v for k, v in tree.items()}


def _describe(point: dict[str, Any]) -> str:
    return "(" + ", ".join(f"{k}={v}" for k, v in point.items()) + ")"


def parse_study(tree: dict[str, Any], base_dir: Path | None = None) -> StudyConfig:
    """Validate a study tree; `base` may be a run config tree or a YAML path relative to `base_dir`."""
    tree = _resolve_base(tree, base_dir or Path())
    try:
        return StudyConfig.model_validate(tree)
    except ValidationError as e:
        raise ConfigError(f"study {validation_message(e, unknown_key=STUDY_KEYS)}") from None


def _check_empty_axes(grid: Any) -> None:
    """An axis given as an empty list is a mistake (it would run the base value); an absent one is not."""
    if not isinstance(grid, dict):
        return
    for axis, one in (("strategies", "strategy"), ("budgets", "budget"), ("seeds", "seed")):
        values = grid.get(axis)
        if isinstance(values, list | tuple) and not values:
            raise ConfigError(f"grid.{axis} is empty; list at least one {one} or remove the key")


def _resolve_base(tree: dict[str, Any], base_dir: Path) -> dict[str, Any]:
    tree = dict(tree)
    if isinstance(tree.get("base"), str):
        path = Path(tree["base"]).expanduser()
        tree["base"] = load_yaml(path if path.is_absolute() else base_dir / path)
    return tree


SAVED_STUDY = "study.yaml"  # the resolved study a study directory keeps (runner/study_record.py)


def load_study(path: str | Path, overrides: list[str] | None = None) -> StudyConfig:
    """Read a study YAML, or the study a study directory saved, and apply `key=value` overrides to
    its tree (e.g. `base.train.max_steps=4`)."""
    p = Path(path)
    # a file's `base` is resolved before overrides, which may set base.* keys
    tree = _saved_study(p) if p.is_dir() else _resolve_base(load_yaml(p), p.parent)
    tree = apply_overrides(tree, list(overrides or []))
    if not p.is_dir():  # a saved study writes its absent axes as []
        _check_empty_axes(tree.get("grid"))
    return parse_study(tree)


def _saved_study(directory: Path) -> dict[str, Any]:
    """The study tree saved in `<root>/<study>/study.yaml`, its store root pointing at `<root>`, so
    that `status`, `study` and `analyze` on the directory need none of the original overrides."""
    saved = directory / SAVED_STUDY
    if not saved.is_file():
        raise ConfigError(
            f"{directory} holds no {SAVED_STUDY}: give the study YAML, or a study directory"
            " that `loralab study` or `loralab demo` wrote"
        )
    try:
        record = read_study_record(saved)
    except StoreError as e:
        raise ConfigError(str(e)) from None
    tree = record.definition if record is not None else None
    if not tree or tree.get("name") != directory.name:
        raise ConfigError(f"{saved} is not a saved study of {directory.name!r}; rerun its study file")
    tree = dict(tree)
    base = dict(tree.get("base") or {})
    base["output"] = {**dict(base.get("output") or {}), "root": str(directory.resolve().parent)}
    tree["base"] = base
    return tree

"""What a study measures: the `Metric` type and its registry.

A metric names the per-example columns it is computed from, how they aggregate over examples (and
with which weights), which direction is better, how it is shown (eval loss as perplexity) and the
words the paper uses for it. Built-in metrics register here with `register_metric`; others through
the `loralab.metrics` entry-point group (a module that calls `register_metric` when imported, or an
object that is a `Metric`), loaded once like strategies are.
"""

from __future__ import annotations

import difflib
import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from importlib.metadata import entry_points
from typing import Literal, TypeVar, overload

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from loralab.errors import ConfigError

ENTRY_POINT_GROUP = "loralab.metrics"
# What the eval NLL pass writes per example besides `example` (loralab/evaluate.py): the columns a
# metric without a scorer can be computed from in a run.
NLL_COLUMNS = ("nll_sum", "tokens", "nll_mean")
TRANSFORMS: dict[str, Callable[[float], float]] = {
    "identity": lambda x: x,
    "exp": lambda x: float(
        np.exp(x)
    ),  # numpy's exp, as the analysis always used (math.exp can differ by an ulp)
    "percent": lambda x: 100 * x,
}


class Metric(BaseModel):
    """One measured quantity: columns, aggregation, direction, display and the paper's words."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(description="Registry name, also the column of the run record (eval_loss).")
    description: str = Field(description="One line: what it measures.")
    columns: tuple[str, ...] = Field(
        description="Per-example columns it is computed from (eval_examples.parquet); the first is the"
        " value summed over an example, the weighting column (if any) must be among them."
    )
    aggregation: Literal["mean", "weighted_mean"] = Field(
        description="Over examples: mean of the value, or sum(value) / sum(weight) (token-weighted)."
    )
    weighting: str | None = Field(None, description="Weight column of a weighted mean (tokens).")
    direction: Literal["lower", "higher"] = Field(description="Which is better.")
    transform: Literal["identity", "exp", "percent"] = Field(
        "identity",
        description="How the aggregate is shown: exp turns a mean NLL into perplexity, percent a"
        " fraction into a percentage.",
    )
    display_name: str = Field(description="Name of the shown value (perplexity).")
    unit: str = Field(description="Unit of the aggregate (nats/token).")
    paper_name: str = Field(description="The words the paper uses for it (eval loss).")
    scorer: str | None = Field(
        None,
        description="Where a run computes the per-example columns: 'module:attribute' naming a scorer"
        " (loralab/scoring.py), loaded when a run chooses the metric; None: the eval NLL pass makes them"
        " (columns among NLL_COLUMNS), or the metric is analysed from columns written elsewhere.",
    )
    default_margin: str = Field(
        "1%",
        description="δ when the study file declares none: for an exp metric 'P%' is a ratio of the shown"
        " value within 1 ± P% (perplexity), for a percent metric P percentage points; else in `unit`.",
    )

    @model_validator(mode="after")
    def _check_weighting(self) -> Metric:
        if not self.columns:
            raise ValueError(f"metric {self.name!r}: columns must name at least the value column")
        if (self.aggregation == "weighted_mean") != (self.weighting is not None):
            raise ValueError(f"metric {self.name!r}: weighting is needed by weighted_mean, and only by it")
        if self.weighting is not None and self.weighting not in self.columns:
            raise ValueError(f"metric {self.name!r}: weighting {self.weighting!r} is not one of its columns")
        return self

    @property
    def from_nll(self) -> bool:
        """Whether the eval NLL pass makes every column of the metric (no scorer needed)."""
        return self.scorer is None and set(self.columns) <= set(NLL_COLUMNS)

    @property
    def computable(self) -> bool:
        """Whether a run can compute the metric (`train.eval_metrics`): from the NLL pass or its scorer."""
        return self.from_nll or self.scorer is not None

    @property
    def value_column(self) -> str:
        """The per-example column that is aggregated (nll_sum)."""
        return self.columns[0]

    def aggregate(self, columns: Mapping[str, Sequence[float]]) -> float:
        """The metric over examples from its per-example columns (one value per example each)."""
        values = [float(v) for v in columns[self.value_column]]
        if not values:
            raise ValueError(f"metric {self.name!r}: no examples to aggregate")
        if self.weighting is None:
            return sum(values) / len(values)
        weights = [float(w) for w in columns[self.weighting]]
        return sum(values) / sum(weights)

    def display(self, value: float) -> float:
        """The aggregate as shown (perplexity for a mean NLL)."""
        return TRANSFORMS[self.transform](value)

    @property
    def sign(self) -> int:
        """+1 when lower is better, -1 when higher is: `sign * (a - b) < 0` means a is better."""
        return 1 if self.direction == "lower" else -1

    def margin(self, spec: str | float) -> float:
        """δ in the metric's unit from its declaration: 'P%' (exp: log(1 + P/100), a ratio of the
        shown value; percent: P/100, percentage points) or a number in `unit`; a ConfigError if it is
        not a positive margin."""
        text = str(spec).strip()
        try:
            if text.endswith("%") and self.transform == "identity":
                raise ValueError
            if text.endswith("%"):
                p = float(text[:-1]) / 100
                value = math.log1p(p) if self.transform == "exp" else p
            else:
                value = float(text)
        except ValueError:
            value = float("nan")
        if not (math.isfinite(value) and value > 0):
            pct = {
                "exp": f"a {self.display_name} ratio such as '1%'",
                "percent": "percentage points such as '1%'",
            }
            raise ConfigError(
                f"equivalence margin {spec!r} of {self.name} is not a positive margin; give"
                f" {pct.get(self.transform, 'a number')} or {self.unit} such as 0.01"
            )
        return value

    def effect(self, difference: float) -> float:
        """A difference a − b as shown: the ratio of shown values for exp (perplexity ratio), percentage
        points for percent, the difference itself otherwise."""
        if self.transform == "exp":
            return float(np.exp(difference))
        return self.display(difference)

    @property
    def effect_name(self) -> str:
        """What `effect` gives, in words."""
        return {"exp": f"{self.display_name} ratio", "percent": "percentage points"}.get(
            self.transform, f"difference ({self.unit})"
        )

    def better(self, a: float, b: float) -> bool:
        """Whether value `a` is strictly better than `b`."""
        return a < b if self.direction == "lower" else a > b


_REGISTRY: dict[str, Metric] = {}
_PLUGINS_LOADED = False
_PLUGIN_ERRORS: dict[str, str] = {}  # entry-point name -> why it failed to load
F = TypeVar("F", bound=Callable[[], Metric])


@overload
def register_metric(metric: Metric) -> Metric: ...
@overload
def register_metric(metric: F) -> F: ...
def register_metric(metric: Metric | F) -> Metric | F:
    """Register a `Metric`, or (as a decorator) the one a zero-argument function returns; a name is
    registered once (the same metric again is accepted)."""
    made = metric if isinstance(metric, Metric) else metric()
    if not isinstance(made, Metric):
        raise TypeError(f"{metric!r} is not a loralab Metric nor returns one")
    if made.name in _REGISTRY and _REGISTRY[made.name] != made:
        raise ConfigError(f"metric name {made.name!r} is already registered with another definition")
    _REGISTRY[made.name] = made
    return metric


def load_plugins() -> None:
    """Import metrics advertised in the `loralab.metrics` entry-point group (once); one that fails to
    load is skipped with a warning, and asking for it by name raises the import error."""
    global _PLUGINS_LOADED
    if _PLUGINS_LOADED:
        return
    _PLUGINS_LOADED = True
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            loaded = ep.load()
            if isinstance(loaded, Metric):
                register_metric(loaded)
        except Exception as e:
            _PLUGIN_ERRORS[ep.name] = f"metric plug-in {ep.name!r} ({ep.value}) failed to load: {e}"
            warnings.warn(_PLUGIN_ERRORS[ep.name], stacklevel=2)


def metric_names() -> list[str]:
    """Names of all registered metrics, sorted."""
    load_plugins()
    return sorted(_REGISTRY)


def registered_metrics() -> list[Metric]:
    """All registered metrics, by name."""
    return [get_metric(n) for n in metric_names()]


def get_metric(name: str) -> Metric:
    """The metric registered as `name`, or a ConfigError naming the known ones."""
    load_plugins()
    if name not in _REGISTRY:
        if name in _PLUGIN_ERRORS:
            raise ConfigError(_PLUGIN_ERRORS[name])
        close = difflib.get_close_matches(name, list(_REGISTRY), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ConfigError(f"unknown metric {name!r}; {hint}known: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


EVAL_LOSS = register_metric(
    Metric(
        name="eval_loss",
        description="Mean negative log-likelihood per supervised response token on the eval split.",
        columns=("nll_sum", "tokens"),
        aggregation="weighted_mean",
        weighting="tokens",
        direction="lower",
        transform="exp",
        display_name="perplexity",
        unit="nats/token",
        paper_name="eval loss",
    )
)

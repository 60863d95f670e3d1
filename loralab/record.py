"""The run record: the schema of a run's `eval.json`, written once by the run and read by `show`,
`status`, the index and the analysis through this type only.

Token counts say what they count: `train_supervised_tokens` are the supervised (loss-bearing) tokens
the optimizer trained on, summed over steps; `data.train_set_tokens` / `data.train_set_supervised_tokens`
describe the training split itself, once. A record written before `schema_version` existed (version 0)
is read by renaming its ambiguous keys.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

SCHEMA_VERSION = 2

Precision = Literal["fp32", "bf16", "fp16"]

# Fields of opt-in metrics (train.eval_metrics): left out of eval.json when not measured, so a run
# without them writes the record it wrote before they existed.
OPT_IN_FIELDS = ("scores",)
# Version 1 kept exact_match's results in fields of their own; version 2 keeps every scored metric's
# in `scores` (old name -> MetricScore field).
V1_EXACT_MATCH = {
    "base_exact_match": "base",
    "exact_match": "final",
    "base_exact_match_by_task": "base_by_task",
    "exact_match_by_task": "final_by_task",
    "exact_match_seconds": "seconds",
}


class MetricScore(BaseModel):
    """One scored metric of a run (`train.eval_metrics` beyond the eval loss, loralab/scoring.py):
    the base model's and the adapted model's aggregate, per task where records name tasks."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    base: float = Field(description="the base model's value (adapters at identity), in the metric's unit")
    final: float = Field(description="the adapted model's value after training")
    base_by_task: dict[str, float] | None = Field(None, description="the base value per task")
    final_by_task: dict[str, float] | None = Field(None, description="the final value per task")
    seconds: float | None = Field(None, description="wall time of scoring the adapted model, s")


class DataStats(BaseModel):
    """What the data stage produced: split sizes, lengths (tokens) and padding at a fixed batch size."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    n_records: int = Field(description="records read from the source (after subsampling)")
    n_train: int = Field(description="training examples kept")
    n_eval: int = Field(description="eval examples kept")
    dropped_no_supervised: int = Field(description="examples dropped: nothing supervised after the cut")
    dropped_no_supervised_train: int = Field(description="of those, from the training split")
    dropped_no_supervised_eval: int = Field(description="of those, from the eval split")
    mean_length: float = Field(description="mean example length over both splits, tokens")
    max_length: int = Field(description="longest example, tokens")
    train_set_tokens: int = Field(description="all tokens of the training split (prompt + response)")
    train_set_supervised_tokens: int = Field(description="supervised tokens of the training split")
    padding_batch_size: int = Field(description="batch size the padding fractions are measured at")
    padding_fraction_grouped: float = Field(description="padding fraction with length-grouped batches")
    padding_fraction_random: float = Field(description="padding fraction with random batches")


class RunSetup(BaseModel):
    """What ran, read back from the adapted model after setup (`adapters.read_setup`), not the config."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    device: str = Field(description="device of the model's parameters, e.g. `cpu`, `cuda:0`")
    param_dtype: str = Field(description="dtype of the model's parameters (several: joined by `+`)")
    train_autocast: str | None = Field(description="autocast dtype of training passes; None: none")
    eval_autocast: str | None = Field(description="autocast dtype of eval passes; None: param_dtype")
    attn_implementation: str | None = Field(description="the model config's attention implementation")
    lora_layers: int = Field(description="LoRA layers: adapted modules times adapters")
    plain_lora_layers: int = Field(description="of those, plain LoRA (loralab's dropout can replace)")
    dropout_modules: dict[str, int] = Field(description="class of each layer's LoRA dropout -> count")
    fast_mask_modules: int = Field(description="LoRA dropout modules drawing the fast masks")


class RunRecord(BaseModel):
    """Final metrics of one finished run (`eval.json`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: int = Field(SCHEMA_VERSION, description="version of this schema")
    strategy: str = Field(description="rank-allocation strategy")
    seed: int = Field(description="training seed")
    budget_spec: str = Field(description="the budget as configured, e.g. `uniform_r8`")
    budget_params: int = Field(description="the budget in trainable parameters")
    allocated_params: int = Field(description="parameters of the (final) allocation")
    budget_status: str = Field(description="how the allocation meets the budget (within tolerance or not)")
    trainable_params: int = Field(description="trainable parameters at the end (final ranks if dynamic)")
    peak_trainable_params: int = Field(description="most trainable parameters at any time (dynamic)")
    total_params: int = Field(description="all parameters of the adapted model")
    base_eval_loss: float = Field(description="eval loss of the base model (adapters at identity), nats")
    base_eval_ppl: float = Field(description="perplexity of the base model")
    eval_loss: float = Field(description="final eval loss, mean NLL per supervised token, nats")
    eval_ppl: float = Field(description="final eval perplexity")
    eval_tokens: int = Field(description="supervised eval tokens")
    eval_examples: int = Field(description="eval examples")
    eval_seconds: float = Field(description="wall time of the final eval, s")
    eval_tokens_per_s: float | None = Field(None, description="final eval throughput, tokens/s")
    scores: dict[str, MetricScore] | None = Field(
        None, description="each scored metric of train.eval_metrics by name (exact_match); absent if none"
    )
    train_steps: int = Field(description="optimizer steps taken")
    train_supervised_tokens: int = Field(description="supervised tokens trained on, summed over steps")
    train_examples: int = Field(description="examples trained on, summed over steps")
    train_wall_s: float = Field(description="training compute time summed over resumes, s")
    train_supervised_tokens_per_s: float | None = Field(None, description="training throughput")
    final_train_loss: float | None = Field(description="last logged training loss")
    signals_wall_s: float = Field(description="time spent measuring signals for the allocation, s")
    total_wall_s: float = Field(description="compute time of the run's work, summed over resumes, s")
    session_wall_s: float | None = Field(None, description="wall time of the last session only, s")
    precision: Precision = Field(description="training precision actually used")
    eval_precision: Precision = Field("fp32", description="precision of the eval forward passes")
    device: str = Field(description="torch device the run used")
    peak_rss_mb: float = Field(description="peak resident memory of the run, MiB")
    peak_cuda_mb: float | None = Field(None, description="peak CUDA allocator memory, MiB (CUDA only)")
    data: DataStats = Field(description="what the data stage produced")
    setup: RunSetup | None = Field(None, description="what ran, read back from the model (newer runs)")

    @model_validator(mode="before")
    @classmethod
    def _upgrade(cls, raw: Any) -> Any:
        """Read a version-0 record (before `schema_version`): rename its ambiguous token keys; and a
        version-1 record: its exact_match fields become `scores['exact_match']`."""
        if not isinstance(raw, dict):
            return raw
        if raw.get("schema_version") == 1 and V1_EXACT_MATCH.keys() & raw.keys():
            raw = dict(raw, schema_version=SCHEMA_VERSION)
            entry = {new: raw.pop(old) for old, new in V1_EXACT_MATCH.items() if old in raw}
            raw["scores"] = {"exact_match": entry}
        if "schema_version" in raw:
            return raw
        raw = dict(raw, schema_version=SCHEMA_VERSION)
        renames = {
            "train_tokens": "train_supervised_tokens",
            "train_tokens_per_s": "train_supervised_tokens_per_s",
        }
        for old, new in renames.items():
            if old in raw:
                raw[new] = raw.pop(old)
        if isinstance(raw.get("data"), dict):
            data = dict(raw["data"])
            data["train_set_tokens"] = data.pop("train_tokens", None)
            data["train_set_supervised_tokens"] = data.pop("train_supervised_tokens", None)
            raw["data"] = data
        return raw

    def final_value(self, metric: str) -> tuple[float | None, str]:
        """The adapted model's value of a metric by name and where eval.json holds it: a scored metric's
        `scores.<name>.final`, else the record's own field (`eval_loss`); (None, "") if not recorded."""
        if self.scores and metric in self.scores:
            return self.scores[metric].final, f"scores.{metric}.final"
        if metric in type(self).model_fields and isinstance(getattr(self, metric), float):
            return getattr(self, metric), metric
        return None, ""

    def to_json(self) -> dict[str, Any]:
        """The record as eval.json holds it: opt-in metric fields only where measured."""
        return self.model_dump(mode="json", exclude={k for k in OPT_IN_FIELDS if getattr(self, k) is None})

    def summary(self) -> str:
        """Two human lines: strategy, budget and how the eval loss moved."""
        return (
            f"strategy {self.strategy}  budget {self.budget_spec} = {self.budget_params} params"
            f"  trainable {self.trainable_params}  check {self.budget_status}\n"
            f"eval loss {self.base_eval_loss:.4f} -> {self.eval_loss:.4f}  (ppl {self.eval_ppl:.3f})"
            f"  steps {self.train_steps}  wall {self.total_wall_s:.1f}s"
        )

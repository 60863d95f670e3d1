from pathlib import Path

import pytest

from loralab.config import (
    ADDED_FIELDS,
    RunConfig,
    apply_overrides,
    build_config,
    load_config,
    parse_budget,
    with_added_fields,
)
from loralab.errors import ConfigError


def test_defaults_replicate_the_study():
    cfg = RunConfig()
    assert cfg.model.name == "microsoft/DialoGPT-medium"
    assert cfg.data.source == "tatsu-lab/alpaca"
    assert cfg.data.val_set_size == 2000


def test_overrides_are_typed():
    cfg = load_config(None, ["train.lr=1e-4", "train.max_steps=3", "lora.targets=[attn]", "lora.budget=0.5%"])
    assert cfg.train.lr == pytest.approx(1e-4)
    assert cfg.train.max_steps == 3
    assert cfg.lora.targets == ("attn",)
    assert cfg.lora.budget == "0.5%"


def test_yaml_round_trip(tmp_path: Path):
    cfg = load_config(None, ["train.seed=3", "model.name=tiny-llama"])
    path = tmp_path / "c.yaml"
    path.write_text(cfg.to_yaml())
    again = load_config(path)
    assert again == cfg
    assert again.run_id() == cfg.run_id()


def test_run_id_stable_and_sensitive():
    a = load_config(None, ["train.seed=1"])
    assert a.run_id() == load_config(None, ["train.seed=1"]).run_id()
    assert a.run_id() != load_config(None, ["train.seed=2"]).run_id()
    # where results go and how they are tracked do not change the experiment
    assert (
        a.run_id()
        == load_config(None, ["train.seed=1", "output.root=/elsewhere", "tracking.wandb=true"]).run_id()
    )
    assert len(a.run_id()) == 12


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        (["train.lr=-1"], "train.lr"),
        (["train.bogus=1"], "train.bogus: unknown key"),
        (["lora.budget=r0"], "budget"),
        (["lora.min_rank=5", "lora.max_rank=2"], "min_rank"),
        (["train.lr"], "not key=value"),
        (["output.study=a/b"], "output.study"),
    ],
)
def test_bad_config_names_the_key(overrides, needle):
    with pytest.raises(ConfigError) as e:
        load_config(None, overrides)
    assert needle in str(e.value)
    assert "\n" not in str(e.value)


def test_budget_forms():
    assert parse_budget("r8").kind == "rank" and parse_budget("r8").value == 8
    assert parse_budget("1500000").kind == "params"
    assert parse_budget("1.5e6").value == 1_500_000
    assert parse_budget("0.5%").value == pytest.approx(0.005)
    for bad in ("8", "r", "rx", "-3", "0%", "150%", "abc"):
        if bad == "8":
            continue  # a bare count is a parameter count
        with pytest.raises(ConfigError):
            parse_budget(bad)


def test_missing_file_is_config_error(tmp_path: Path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")


def test_apply_overrides_nests():
    tree = apply_overrides({"train": {"lr": 1}}, ["train.seed=4", "data.source=x.json"])
    assert tree == {"train": {"lr": 1, "seed": 4}, "data": {"source": "x.json"}}
    assert build_config(tree).data.source == "x.json"


def test_config_command_prints_the_resolved_config_and_id(tmp_path):
    from typer.testing import CliRunner

    from loralab.cli import app

    out = CliRunner().invoke(app, ["config", "train.seed=3", "lora.budget=R8"])
    assert out.exit_code == 0, out.output
    first, body = out.output.split("\n", 1)
    cfg = load_config(None, ["train.seed=3"])
    assert first == f"# run id {cfg.run_id()}"  # 'R8' is the same budget as 'r8'
    path = tmp_path / "resolved.yaml"
    path.write_text(body)
    assert load_config(path) == cfg


def test_an_added_field_at_its_legacy_value_keeps_earlier_run_ids():
    # ids computed before train.eval_precision existed: earlier run directories must still be found.
    # lora.dropout_rng's default became `fast` after those runs; at `torch` (what they ran) the id holds
    legacy = ["lora.dropout_rng=torch", "train.max_forward_tokens=null"]
    assert load_config(None, legacy).run_id() == "de133c9e74d8"
    assert load_config(None, [*legacy, "train.precision=bf16", "lora.budget=r4"]).run_id() == "d7500a3b61f1"
    assert load_config(None, [*legacy, "train.eval_precision=bf16"]).run_id() != "de133c9e74d8"
    assert load_config(None, []).run_id() != "de133c9e74d8"  # today's default masks are other masks
    assert load_config(None, [*legacy, "train.eval_metrics=[eval_loss]"]).run_id() == "de133c9e74d8"
    assert load_config(None, [*legacy, "train.eval_metrics=[exact_match]"]).run_id() != "de133c9e74d8"


def test_eval_metrics_are_registered_names_in_one_canonical_order():
    cfg = load_config(None, ["train.eval_metrics=[exact_match, eval_loss, exact_match]"])
    assert cfg.train.eval_metrics == ("eval_loss", "exact_match")
    assert load_config(None, ["train.eval_metrics=exact_match"]).run_id() == cfg.run_id()  # eval_loss always
    with pytest.raises(ConfigError) as err:
        load_config(None, ["train.eval_metrics=[eval_loss, exact_mach]"])
    message = str(err.value)
    assert "\n" not in message and "train.eval_metrics" in message
    assert "did you mean 'exact_match'" in message and "known: eval_loss, exact_match" in message


def test_a_stored_config_without_an_added_field_reads_as_its_legacy_value():
    old = load_config(None, ["lora.dropout_rng=torch", "train.max_forward_tokens=null"]).model_dump(
        mode="json"
    )
    for section, key, _ in ADDED_FIELDS:
        del old[section][key]  # a spec.yaml written before these fields existed
    filled = with_added_fields(old)
    assert filled["lora"]["dropout_rng"] == "torch" and filled["lora"]["dropout_impl"] == "peft"
    assert "dropout_rng" not in old["lora"]  # the input is not changed
    cfg = RunConfig.model_validate(filled)
    assert cfg.lora.dropout_rng == "torch" and cfg.run_id() == "de133c9e74d8"
    assert RunConfig.model_validate(old).lora.dropout_rng == "fast"  # what reading it naively would say
    given = with_added_fields({**old, "lora": {**old["lora"], "dropout_rng": "fast"}})
    assert given["lora"]["dropout_rng"] == "fast"  # a value the spec holds is kept


def test_a_registered_metric_that_runs_do_not_compute_is_refused(monkeypatch):
    """A plug-in may register a metric's definition without a scorer (analysed from columns written
    elsewhere); choosing it for a run that would never compute it is a one-line error, not a record
    silently without it. A metric of the NLL pass's own columns needs no scorer."""
    from loralab.results import metric as metric_module

    plugin = metric_module.Metric(
        name="bleu_plugin",
        description="a plug-in's definition",
        columns=("bleu",),
        aggregation="mean",
        direction="higher",
        display_name="BLEU",
        unit="score",
        paper_name="BLEU",
    )
    monkeypatch.setitem(metric_module._REGISTRY, "bleu_plugin", plugin)
    with pytest.raises(ConfigError) as err:
        load_config(None, ["train.eval_metrics=[bleu_plugin]"])
    message = str(err.value)
    assert "\n" not in message and "without a scorer" in message and "give its Metric a scorer" in message
    per_example = plugin.model_copy(update={"name": "nll_mean_plugin", "columns": ("nll_mean",)})
    monkeypatch.setitem(metric_module._REGISTRY, "nll_mean_plugin", per_example)
    assert "nll_mean_plugin" in load_config(None, ["train.eval_metrics=[nll_mean_plugin]"]).train.eval_metrics

"""The Metric type and its registry: eval_loss by hand, unknown names, entry points."""

from __future__ import annotations

import math
from importlib.metadata import EntryPoint

import pytest
from pydantic import ValidationError

from loralab.errors import ConfigError
from loralab.results import metric as metric_mod
from loralab.results.metric import EVAL_LOSS, Metric, get_metric, metric_names, register_metric


def test_eval_loss_is_token_weighted_nll_shown_as_perplexity():
    m = get_metric("eval_loss")
    assert m is EVAL_LOSS
    assert m.columns == ("nll_sum", "tokens") and m.weighting == "tokens"
    # two examples: 3 nats over 1 token and 1 nat over 3 tokens -> 4 nats / 4 tokens, not mean(3, 1/3)
    loss = m.aggregate({"nll_sum": [3.0, 1.0], "tokens": [1, 3]})
    assert loss == pytest.approx(1.0)
    assert m.display(loss) == pytest.approx(math.e)
    assert m.better(0.9, 1.0) and not m.better(1.0, 1.0)
    assert (m.unit, m.paper_name, m.display_name) == ("nats/token", "eval loss", "perplexity")


def test_a_metric_is_frozen_and_checks_its_weighting():
    with pytest.raises(ValidationError):
        EVAL_LOSS.unit = "bits"  # type: ignore[misc]
    fields = dict(name="acc", description="d", columns=("correct",), direction="higher")
    fields |= dict(display_name="accuracy", unit="fraction", paper_name="accuracy")
    with pytest.raises(ValidationError, match="weighting"):
        Metric(aggregation="weighted_mean", **fields)
    with pytest.raises(ValidationError, match="not one of its columns"):
        Metric(aggregation="weighted_mean", weighting="tokens", **fields)
    acc = Metric(aggregation="mean", **fields)
    assert acc.aggregate({"correct": [1, 0, 1, 1]}) == 0.75 and acc.better(0.8, 0.7)


def test_unknown_metric_names_the_known_ones():
    with pytest.raises(
        ConfigError, match=r"unknown metric 'eval_los'; did you mean 'eval_loss'\?.*known: .*eval_loss"
    ):
        get_metric("eval_los")


def test_register_metric_as_decorator_and_refuses_a_different_definition(monkeypatch):
    monkeypatch.setattr(metric_mod, "_REGISTRY", dict(metric_mod._REGISTRY))

    @register_metric
    def bits() -> Metric:
        return EVAL_LOSS.model_copy(update={"name": "eval_bits", "unit": "bits/token"})

    assert get_metric("eval_bits").unit == "bits/token" and "eval_bits" in metric_names()
    register_metric(get_metric("eval_bits"))  # the same again: fine
    with pytest.raises(ConfigError, match="already registered"):
        register_metric(EVAL_LOSS.model_copy(update={"name": "eval_bits"}))


def test_entry_point_metrics_load_and_a_broken_one_is_named(monkeypatch):
    monkeypatch.setattr(metric_mod, "_REGISTRY", dict(metric_mod._REGISTRY))
    monkeypatch.setattr(metric_mod, "_PLUGINS_LOADED", False)
    monkeypatch.setattr(metric_mod, "_PLUGIN_ERRORS", {})
    good = EntryPoint("nll", "loralab.results.metric:EVAL_LOSS", metric_mod.ENTRY_POINT_GROUP)
    bad = EntryPoint("broken", "no_such_module_xyz:M", metric_mod.ENTRY_POINT_GROUP)
    monkeypatch.setattr(metric_mod, "entry_points", lambda group: [good, bad] if group == good.group else [])
    with pytest.warns(UserWarning, match="broken"):
        assert "eval_loss" in metric_names()
    with pytest.raises(ConfigError, match=r"metric plug-in 'broken'.*failed to load"):
        get_metric("broken")

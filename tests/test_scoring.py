"""Outcome metrics as plug-ins: a metric defined in one module of its own (its `Metric` with a scorer,
registered through the `loralab.metrics` entry point) is computed by runs, recorded, and analysed
beside the eval loss, with nothing of loralab edited; the scorer's output is checked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import ClassVar

import pandas as pd
import pytest
import torch

from loralab.errors import ConfigError
from loralab.results import metric as metric_module
from loralab.scoring import EvalSet, Score, load_scorer, score

from .conftest import cli_env
from .runner.conftest import TINY_BASE, write_study

# The whole plug-in: one module. Its metric: whether the model's most likely first answer token is
# the reference's first token (per example 0/1, higher is better, shown in %).
PLUGIN = """
import pandas as pd
import torch

from loralab.data import format_prompt
from loralab.results import Metric, register_metric

FIRST_TOKEN = register_metric(
    Metric(
        name="first_token",
        description="Share of eval examples whose most likely first answer token is the reference's.",
        columns=("first_token",),
        aggregation="mean",
        direction="higher",
        transform="percent",
        display_name="first-token accuracy (%)",
        unit="fraction",
        paper_name="first-token accuracy",
        scorer="lab_first_token:SCORER",
    )
)


class FirstToken:
    key = {"version": 1}

    def __call__(self, eval_set):
        tok, rows = eval_set.tokenizer, []
        for record, index in zip(eval_set.records, eval_set.indices):
            prompt = tok(format_prompt(record), return_tensors="pt").input_ids.to(eval_set.device)
            target = tok(record.output, add_special_tokens=False).input_ids[0]
            guess = int(eval_set.model(input_ids=prompt).logits[0, -1].argmax())
            rows.append({"example": index, "task": record.task, "first_token": int(guess == target)})
        return pd.DataFrame(rows)


SCORER = FirstToken()
"""


def _install(root: Path) -> None:
    """The plug-in as an installed distribution: its module and an entry point, nothing else."""
    info = root / "lab_first_token-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: lab_first_token\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[loralab.metrics]\nfirst_token = lab_first_token\n")
    (root / "lab_first_token.py").write_text(textwrap.dedent(PLUGIN))


def _cli(*args: str, cwd: Path, plugins: Path) -> subprocess.CompletedProcess:
    env = {**cli_env(), "PYTHONPATH": os.pathsep.join([str(plugins), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(
        [sys.executable, "-m", "loralab", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.slow
def test_a_plugin_metric_is_scored_recorded_and_analysed_with_no_loralab_edit(tmp_path: Path):
    plugins = tmp_path / "plugins"
    _install(plugins)
    base = {**TINY_BASE, "train": {**TINY_BASE["train"], "eval_metrics": ["eval_loss", "first_token"]}}
    grid = {"strategies": ["uniform", "attention-heavy"], "seeds": [0, 1]}
    study = write_study(tmp_path / "study.yaml", tmp_path / "runs", name="ft", base=base, grid=grid)
    ran = _cli("study", str(study), "--workers", "2", cwd=tmp_path, plugins=plugins)
    assert ran.returncode == 0, ran.stderr

    runs = sorted((tmp_path / "runs" / "ft").glob("*/eval.json"))
    assert len(runs) == 4
    for path in runs:
        scores = json.loads(path.read_text())["scores"]
        assert set(scores) == {"first_token"}  # recorded under its own name, nothing else added
        for name, key in (("eval_examples.parquet", "final"), ("base_eval_examples.parquet", "base")):
            frame = pd.read_parquet(path.parent / name)
            assert set(frame["first_token"]) <= {0, 1} and frame["task"].notna().all()
            assert frame["first_token"].mean() == pytest.approx(scores["first_token"][key])
        assert set(scores["first_token"]["final_by_task"]) == set(frame["task"])

    analysed = _cli("analyze", str(study), "--resamples", "500", cwd=tmp_path, plugins=plugins)
    assert analysed.returncode == 0, analysed.stderr
    stats = json.loads((tmp_path / "runs" / "ft" / "analysis" / "stats.json").read_text())
    assert stats["metric"] == "eval_loss"  # the primary stays the loss
    (secondary,) = [s for s in stats["secondary"] if s["metric"] == "first_token"]
    (comparison,) = secondary["comparisons"]
    assert comparison["a"] == "attention-heavy" and comparison["b"] == "uniform"
    assert comparison["n_seeds"] == 2 and comparison["difference_ci"] is not None

    # without the plug-in installed, choosing its metric is a one-line error, and nothing is written
    missing = _cli(
        "run", "model.name=tiny-gpt2", "train.eval_metrics=[first_token]", cwd=tmp_path, plugins=tmp_path
    )
    assert missing.returncode == 2 and "unknown metric 'first_token'" in missing.stderr
    assert "Traceback" not in missing.stderr


class _Constant(torch.nn.Module):
    def forward(self, input_ids):  # pragma: no cover - never called by the fake scorers
        return input_ids


def _eval_set(indices: list[int]) -> EvalSet:
    return EvalSet(_Constant(), None, [], indices, 4, 0, torch.device("cpu"), 32, None)


def _metric(monkeypatch, scorer) -> metric_module.Metric:
    module = type(sys)("fake_scorer_module")
    module.SCORER = scorer
    monkeypatch.setitem(sys.modules, "fake_scorer_module", module)
    metric = metric_module.Metric(
        name="fake",
        description="d",
        columns=("hit",),
        aggregation="mean",
        direction="higher",
        display_name="hit",
        unit="fraction",
        paper_name="hit rate",
        scorer="fake_scorer_module:SCORER",
    )
    return metric


class _Frame:
    key: ClassVar[dict[str, int]] = {"version": 1}

    def __init__(self, frame: pd.DataFrame):
        self.frame = frame

    def __call__(self, eval_set: EvalSet) -> pd.DataFrame:
        return self.frame


def test_a_scorer_is_aggregated_by_its_metric_overall_and_per_task(monkeypatch):
    frame = pd.DataFrame({"example": [7, 3, 5, 9], "hit": [1, 0, 1, 1], "task": ["b", "a", "a", "b"]})
    result = score(_metric(monkeypatch, _Frame(frame)), _eval_set([3, 5, 7, 9]))
    assert isinstance(result, Score) and result.value == 0.75
    assert result.by_task == {"a": 0.5, "b": 1.0}
    assert result.per_example["example"].tolist() == [3, 5, 7, 9]  # source order


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (pd.DataFrame({"example": [1, 2]}), "returned no column"),
        (pd.DataFrame({"example": [1, 1], "hit": [1, 0]}), "one row per eval example"),
        (pd.DataFrame({"example": [1], "hit": [1]}), "one row per eval example"),
        (pd.DataFrame({"example": [1, 2], "hit": [1.0, float("nan")]}), "non-finite"),
        (pd.DataFrame({"example": [1, 2], "hit": ["yes", "no"]}), "non-numeric"),
    ],
)
def test_a_wrong_scorer_frame_stops_the_run_with_what_is_wrong(monkeypatch, frame, message):
    with pytest.raises(ValueError, match=message):
        score(_metric(monkeypatch, _Frame(frame)), _eval_set([1, 2]))


def test_a_scorer_that_cannot_be_loaded_is_a_config_error(monkeypatch):
    metric = _metric(monkeypatch, object())
    with pytest.raises(ConfigError, match="is not a scorer"):
        load_scorer(metric)
    gone = metric.model_copy(update={"scorer": "no_such_module_xyz:SCORER"})
    with pytest.raises(ConfigError, match=r"cannot be loaded.*remove 'fake' from train.eval_metrics"):
        load_scorer(gone)

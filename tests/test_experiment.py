"""End-to-end runs of the real pipeline on a tiny model, through the CLI."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
from peft import PeftModel

from loralab.config import load_config
from loralab.data import prepare_data
from loralab.evaluate import evaluate
from loralab.models import load_model
from loralab.results.allocation import read_allocation
from loralab.store import RunDir
from tests.conftest import cli_env, run_cli

RUN_FILES = [
    "spec.yaml",
    "status.json",
    "metrics.jsonl",
    "allocation.json",
    "base_eval.json",
    "eval.json",
    "eval_examples.parquet",
    "base_eval_examples.parquet",
    "adapter/adapter_config.json",
    "adapter/adapter_model.safetensors",
]


def _run_dir(root: Path) -> RunDir:
    (path,) = [
        p for p in (root / "default").iterdir() if p.is_dir() and not p.name.startswith(".")
    ]  # not .cache
    return RunDir(path)


def _train_losses(rd: RunDir) -> list[float]:
    return [r["loss"] for r in rd.read_metrics() if r["type"] == "train"]


@pytest.mark.slow
def test_tiny_run_via_cli_writes_every_file_and_reloads(tmp_path, tiny_overrides):
    res = run_cli("run", *tiny_overrides, "train.eval_every=3")
    assert res.returncode == 0, res.stderr
    rd = _run_dir(tmp_path / "store")
    for name in RUN_FILES:
        assert (rd.path / name).exists(), name
    assert not rd.checkpoint.exists()  # removed once the adapter and eval are written
    status = rd.read_status()
    assert status["state"] == "done"
    e = json.loads(rd.eval.read_text())
    assert e["trainable_params"] == e["allocated_params"] == e["budget_params"]
    assert e["train_steps"] == 6 and e["eval_loss"] < e["base_eval_loss"]
    # what ran, read back from the model: the default fast masks in each of the 16 LoRA layers
    autocast = {"fp32": None, "bf16": "bfloat16"}
    assert e["setup"] == {
        "device": "cpu",
        "param_dtype": "float32",
        "train_autocast": autocast[e["precision"]],
        "eval_autocast": autocast[e["eval_precision"]],
        "attn_implementation": e["setup"]["attn_implementation"],
        "lora_layers": 16,
        "plain_lora_layers": 16,
        "dropout_modules": {"MaskDropout": 16},
        "fast_mask_modules": 16,
    }
    assert e["setup"]["attn_implementation"] in ("eager", "sdpa")
    spec = rd.read_spec()
    assert spec["run_id"] == rd.run_id and spec["provenance"]["packages"]["torch"]
    alloc = read_allocation(rd.allocation)
    assert alloc.initial == alloc.final and alloc.final.achieved_params == e["trainable_params"]
    evals = [r for r in rd.read_metrics() if r["type"] == "eval"]
    assert [r["step"] for r in evals] == [0, 3, 6]
    per = pd.read_parquet(rd.eval_examples)
    assert set(per.columns) >= {"example", "nll_sum", "tokens"} and len(per) == e["eval_examples"]
    base = pd.read_parquet(rd.base_eval_examples)  # paired with `per`, example by example
    assert base.example.tolist() == per.example.tolist() and base.tokens.tolist() == per.tokens.tolist()
    assert base.nll_sum.sum() / base.tokens.sum() == pytest.approx(e["base_eval_loss"])

    # `loralab show` describes it; a second `run` does nothing and keeps the results
    shown = run_cli("show", str(rd.path))
    assert (
        shown.returncode == 0
        and "done" in shown.stdout
        and "allocation: 16 modules, rank 8..8" in shown.stdout
    )
    before = rd.eval.read_bytes()
    again = run_cli("run", *tiny_overrides, "train.eval_every=3")
    assert again.returncode == 0 and "already done" in again.stdout
    assert rd.eval.read_bytes() == before

    # the adapter loads with plain PEFT on a fresh base and gives the same eval loss
    cfg = load_config(None, tiny_overrides)
    base = load_model(cfg.model)
    data = prepare_data(cfg.data, base.tokenizer)
    model = PeftModel.from_pretrained(base.model, str(rd.adapter))
    result = evaluate(
        model, data.eval, batch_size=8, pad_id=base.tokenizer.pad_token_id, device=torch.device("cpu")
    )
    assert result.loss == pytest.approx(e["eval_loss"], rel=1e-6)


@pytest.mark.slow
def test_same_seed_same_metrics_and_sigkill_resume_is_bit_exact(tmp_path):
    common = [
        "model.name=tiny-gpt2", "data.source=synthetic", "data.synthetic_size=400", "data.val_set_size=24",
        "data.cutoff_len=96", "train.batch_size=4", "train.max_steps=120", "train.lr=3e-3",
        "train.checkpoint_every=10", "train.threads=1", "tracking.progress=false", "lora.dropout=0.1",
    ]  # fmt: skip
    ref_root, twin_root, killed_root = tmp_path / "ref", tmp_path / "twin", tmp_path / "killed"
    assert run_cli("run", *common, f"output.root={ref_root}").returncode == 0
    assert run_cli("run", *common, f"output.root={twin_root}").returncode == 0
    ref, twin = _run_dir(ref_root), _run_dir(twin_root)
    assert _train_losses(ref) == _train_losses(twin)
    assert json.loads(ref.eval.read_text())["eval_loss"] == json.loads(twin.eval.read_text())["eval_loss"]

    proc = subprocess.Popen(
        [sys.executable, "-m", "loralab", "run", *common, f"output.root={killed_root}"],
        env=cli_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.time() + 300
    killed_at = None
    while time.time() < deadline and proc.poll() is None:
        rows = _train_losses(_run_dir(killed_root)) if (killed_root / "default").exists() else []
        if len(rows) >= 35 and (_run_dir(killed_root).checkpoint / "state.pt").exists():
            proc.send_signal(signal.SIGKILL)
            killed_at = len(rows)
            break
        time.sleep(0.02)
    proc.wait()
    assert killed_at is not None, "the run finished before it could be killed; make it longer"
    rd = _run_dir(killed_root)
    assert rd.state == "running" and not rd.eval.exists()
    res = run_cli("run", *common, f"output.root={killed_root}")
    assert res.returncode == 0, res.stderr
    assert rd.read_status()["attempts"] == 2
    assert _train_losses(rd) == _train_losses(ref)
    a, b = json.loads(rd.eval.read_text()), json.loads(ref.eval.read_text())
    assert a["eval_loss"] == b["eval_loss"] and a["train_supervised_tokens"] == b["train_supervised_tokens"]
    pd.testing.assert_frame_equal(pd.read_parquet(rd.eval_examples), pd.read_parquet(ref.eval_examples))


@pytest.mark.slow
def test_divergence_fails_the_run_with_the_step(tmp_path, tiny_overrides):
    res = run_cli(
        "run", *tiny_overrides, "train.lr=1e30", "train.max_grad_norm=null", "train.schedule=constant"
    )
    assert res.returncode == 2
    assert res.stderr.count("\n") == 1 and "non-finite" in res.stderr and "Traceback" not in res.stderr
    rd = _run_dir(tmp_path / "store")
    status = rd.read_status()
    assert status["state"] == "failed" and "step" in status["error"]
    assert not rd.eval.exists()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["train.batch_size=0"], "train.batch_size"),
        (["lora.strategy=unifrom"], "did you mean 'uniform'"),
        (["data.source=/nonexistent/alpaca.json"], "does not exist"),
        (["lora.targets=[nonsense]"], "matches no module"),
        (["model.name=/nonexistent/model.gguf"], "does not exist"),
        (["lora.budget=r"], "budget"),
    ],
)
def test_bad_input_is_one_line_exit_2(tmp_path, tiny_overrides, args, needle):
    res = run_cli("run", *tiny_overrides, *args)
    assert res.returncode == 2, res.stderr
    assert res.stderr.startswith("error: ") and res.stderr.count("\n") == 1, res.stderr
    assert needle in res.stderr


# PEFT lays its LoRA layers out so that `install_dropout` finds none: lora_A is another class.
_OTHER_PEFT = """
import sys
import torch.nn as nn
import loralab.adapters as adapters
from loralab.cli import main

class OtherLinear(nn.Linear):
    pass

real = adapters.get_peft_model

def other_layout(model, config):
    peft_model = real(model, config)
    for module in peft_model.modules():
        for linear in getattr(module, "lora_A", {}).values():
            linear.__class__ = OtherLinear
    return peft_model

adapters.get_peft_model = other_layout
sys.argv = ["loralab", *sys.argv[1:]]
main()
"""


def test_a_setup_other_than_the_config_asked_for_is_one_line_exit_2(tmp_path, tiny_overrides):
    res = subprocess.run(
        [sys.executable, "-c", _OTHER_PEFT, "run", *tiny_overrides],
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 2, res.stderr
    assert res.stderr.startswith("error: ") and res.stderr.count("\n") == 1, res.stderr
    assert "dropout_rng=fast" in res.stderr and "replaced 0 (fast masks: 0) of the 16" in res.stderr
    status = _run_dir(tmp_path / "store").read_status()
    assert status["state"] == "failed" and "bug" not in status  # the user's to fix, not a bug


@pytest.mark.slow
def test_a_run_being_executed_is_not_started_twice(tmp_path, tiny_overrides):
    args = [*tiny_overrides, "train.max_steps=800", "train.checkpoint_every=0"]
    first = subprocess.Popen(
        [sys.executable, "-m", "loralab", "run", *args],
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.time() + 120
    while time.time() < deadline and not list((tmp_path / "store").glob("default/*/metrics.jsonl")):
        time.sleep(0.05)
    second = run_cli("run", *args)
    _, err = first.communicate(timeout=600)
    assert first.returncode == 0, err
    assert second.returncode == 2 and "is being executed by" in second.stderr, second.stderr
    rd = _run_dir(tmp_path / "store")
    assert rd.read_status()["attempts"] == 1 and rd.state == "done"


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (none on this machine)")
def test_tiny_run_on_cuda_with_auto_precision(tmp_path, tiny_overrides):
    args = ["train.device=cuda", "train.precision=auto", "lora.strategy=adalora"]
    res = run_cli("run", *tiny_overrides, *args)
    assert res.returncode == 0, res.stderr
    e = json.loads(_run_dir(tmp_path / "store").eval.read_text())
    assert e["device"].startswith("cuda") and e["precision"] in ("bf16", "fp16") and e["peak_cuda_mb"] > 0


@pytest.mark.parametrize(
    "args", [["lora.strategy=nope"], ["lora.strategy=random", "lora.strategy_options.bogus=1"]]
)
def test_strategy_typos_leave_no_run_directory(tmp_path, tiny_overrides, args):
    res = run_cli("run", *tiny_overrides, *args)
    assert res.returncode == 2 and res.stderr.startswith("error: ")
    assert not (tmp_path / "store").exists()

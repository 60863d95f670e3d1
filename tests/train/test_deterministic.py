"""train.deterministic: the field, the run id at its default, and the torch switches it sets."""

import os

import torch

from loralab.config import load_config
from loralab.train.determinism import set_deterministic


def test_deterministic_parses_and_leaves_the_run_id_alone_at_its_default():
    base = load_config(None, [])
    assert base.train.deterministic is False
    assert load_config(None, ["train.deterministic=false"]).run_id() == base.run_id()
    on = load_config(None, ["train.deterministic=true"])
    assert on.train.deterministic is True and on.run_id() != base.run_id()


def test_set_deterministic_switches_torch_and_cublas(monkeypatch):
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    before = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
    )
    bench = torch.backends.cudnn.benchmark
    try:
        set_deterministic(False)
        assert torch.are_deterministic_algorithms_enabled() == before[0]
        assert "CUBLAS_WORKSPACE_CONFIG" not in os.environ
        set_deterministic(True)
        assert torch.are_deterministic_algorithms_enabled()
        assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
        assert torch.backends.cudnn.benchmark is False
    finally:
        torch.use_deterministic_algorithms(before[0], warn_only=before[1])
        torch.backends.cudnn.benchmark = bench

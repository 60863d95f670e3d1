"""Fixtures of the strategy tests."""

from __future__ import annotations

import pytest
from strategy_fixtures import MODULE_SETS

from loralab.modules import TargetModule


@pytest.fixture(params=sorted(MODULE_SETS))
def modules(request: pytest.FixtureRequest) -> list[TargetModule]:
    """Each module set in turn: a GPT-2-like and a Llama-like list of 4 layers."""
    return MODULE_SETS[request.param]()


@pytest.fixture(autouse=True)
def one_torch_thread() -> object:
    """Tiny models run fastest on one thread, and do not suffer when other processes share the CPU."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)

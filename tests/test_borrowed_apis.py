"""Private library APIs that loralab relies on, fenced: the installed versions are inside the range
pyproject.toml pins, and each private name we use is still there. A failure names what moved, so an
upgrade is a decision (adapt loralab/strategies/adalora/callback.py or loop.py, then widen the pin),
not a surprise.
"""

from __future__ import annotations

import inspect
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest
from packaging.requirements import Requirement

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
FENCED = ("peft", "accelerate")  # packages whose private APIs we use: each needs an upper bound


def _requirements() -> dict[str, Requirement]:
    deps = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    return {r.name: r for r in map(Requirement, deps)}


@pytest.mark.parametrize("package", FENCED)
def test_fenced_packages_are_pinned_and_installed_within_the_pin(package: str):
    req = _requirements()[package]
    assert any(s.operator in ("<", "<=", "~=", "==") for s in req.specifier), (
        f"{package} has private APIs in use but no upper bound in pyproject.toml ({req})"
    )
    installed = version(package)
    assert req.specifier.contains(installed, prereleases=True), (
        f"{package} {installed} is outside the tested range {req.specifier} in pyproject.toml;"
        " install a version in range, or check loralab against it and widen the pin"
    )


def test_accelerate_state_can_be_reset_between_runs_in_one_process():
    from accelerate.state import AcceleratorState, GradientState

    for cls, params in ((AcceleratorState, {"reset_partial_state"}), (GradientState, set())):
        reset = getattr(cls, "_reset_state", None)
        assert callable(reset), (
            f"accelerate {version('accelerate')} has no {cls.__name__}._reset_state, which"
            " loralab/train/loop.py calls so that a study worker can run runs of different precisions"
        )
        missing = params - set(inspect.signature(reset).parameters)
        assert not missing, f"{cls.__name__}._reset_state lost its parameter(s) {missing}"


def test_peft_rank_allocator_internals_that_adalora_budgets_subclass():
    from peft.tuners.adalora import AdaLoraModel, RankAllocator

    where = f"peft {version('peft')}: RankAllocator"
    for method in ("_set_budget_scheduler", "_element_score", "budget_schedule", "mask_to_budget"):
        assert callable(getattr(RankAllocator, method, None)), (
            f"{where}.{method} is gone; loralab/strategies/adalora/callback.py overrides or calls it"
        )
    source = inspect.getsource(RankAllocator)
    for attribute in ("init_bgt", "target_bgt", "adapter_name", "ipt", "exp_avg_ipt", "exp_avg_unc"):
        assert f"self.{attribute}" in source, (
            f"{where} no longer sets self.{attribute};"
            " loralab/strategies/adalora/callback.py reads or checkpoints it"
        )
    assert "rankallocator" in inspect.getsource(AdaLoraModel), "AdaLoraModel.rankallocator is gone"
    assert callable(getattr(AdaLoraModel, "update_and_allocate", None)), (
        "AdaLoraModel.update_and_allocate is gone"
    )

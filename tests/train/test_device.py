"""Device choice and the measured `auto` precision."""

import time

import pytest
import torch

from loralab.errors import ConfigError
from loralab.train.device import resolve_device, resolve_precision

CPU = torch.device("cpu")


def _probe(slow: torch.dtype | None):
    def step(dtype):
        torch.rand(1)  # consumes RNG like dropout would
        time.sleep(0.02 if dtype == slow else 0.001)

    return step


def test_auto_precision_measures_and_keeps_rng():
    torch.manual_seed(0)
    expected = torch.rand(2)
    torch.manual_seed(0)
    assert resolve_precision("auto", CPU, _probe(slow=torch.bfloat16)) == "fp32"
    assert torch.equal(torch.rand(2), expected)  # the probe ran inside a forked RNG
    assert resolve_precision("auto", CPU, _probe(slow=None)) == "bf16"
    assert resolve_precision("auto", CPU, None) == "fp32"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error of a machine without CUDA")
def test_cuda_without_a_gpu_is_a_config_error():
    with pytest.raises(ConfigError, match="no CUDA device"):
        resolve_device("cuda")
    assert resolve_device("auto") == CPU


def test_explicit_precision_and_fp16_on_cpu():
    assert resolve_precision("bf16", CPU) == "bf16"
    with pytest.raises(ConfigError, match="fp16 needs a CUDA"):
        resolve_precision("fp16", CPU)

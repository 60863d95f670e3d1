"""How inputs are named for readers: file names for local files, quantisation of GGUF models."""

from __future__ import annotations

import pytest

from loralab.analysis.setup import data_name, is_quantised, model_name, named_config, quantisation


@pytest.mark.parametrize(
    ("source", "name"),
    [
        ("/home/me/data/alpaca_data.json", "alpaca_data.json"),
        ("./local.jsonl", "local.jsonl"),
        ("tatsu-lab/alpaca", "tatsu-lab/alpaca"),
        ("synthetic", "synthetic"),
    ],
)
def test_data_name_never_shows_a_path(source, name):
    assert data_name(source) == name


@pytest.mark.parametrize(
    ("model", "quantised", "quant", "name"),
    [
        ("smollm2-135m", True, "Q4_1", "smollm2-135m"),
        ("/models/SmolLM2-135M-Instruct.Q4_K_M.gguf", True, "Q4_K_M", "SmolLM2-135M-Instruct.Q4_K_M.gguf"),
        ("/models/llama-7b-IQ3_XXS.gguf", True, "IQ3_XXS", "llama-7b-IQ3_XXS.gguf"),
        ("/models/plain.gguf", True, None, "plain.gguf"),
        ("gpt2", False, None, "gpt2"),
        ("/home/me/checkpoints/my-model", False, None, "my-model"),
    ],
)
def test_model_naming_and_quantisation(model, quantised, quant, name):
    assert is_quantised(model) is quantised
    assert quantisation(model) == quant
    assert model_name(model) == name


def test_named_config_drops_the_store_root_and_names_inputs():
    config = {
        "data": {"source": "/x/y/d.json"},
        "model": {"name": "/x/m.gguf", "tokenizer": None},
        "output": {"root": "/x/runs", "study": "s"},
    }
    named = named_config(config)
    assert named == {"data": {"source": "d.json"}, "model": {"name": "m.gguf", "tokenizer": None},
                     "output": {"study": "s"}}  # fmt: skip
    assert config["output"]["root"] == "/x/runs"  # the input is not changed

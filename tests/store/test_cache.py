"""The study cache: a study's runs read shared work back, and get exactly what they would compute."""

from __future__ import annotations

import json
import multiprocessing as mp
from pathlib import Path

import pandas as pd
import pytest

from loralab.config import load_config
from loralab.experiment import execute_run
from loralab.store.cache import CACHE_DIR, StudyCache, cache_key
from tests.conftest import TINY_RUN


def _run(root: Path, strategy: str, seed: int, cache: bool):
    overrides = [
        *TINY_RUN, f"output.root={root}", f"output.cache={str(cache).lower()}", f"lora.strategy={strategy}",
        f"train.seed={seed}", "train.max_steps=3",
    ]  # fmt: skip
    return execute_run(load_config(None, overrides)).run_dir


def _outputs(rd) -> dict:
    eval_ = json.loads((rd.path / "eval.json").read_text())
    base = json.loads((rd.path / "base_eval.json").read_text())
    return {
        "eval_loss": eval_["eval_loss"],
        "base_eval_loss": base["eval_loss"],
        "data": eval_["data"],
        "allocation": {
            k: v
            for k, v in json.loads((rd.path / "allocation.json").read_text()).items()
            if k != "signals_wall_s"
        },
        "signals": (rd.path / "signals.json").read_text() if (rd.path / "signals.json").exists() else None,
        "base_examples": pd.read_parquet(rd.path / "base_eval_examples.parquet"),
        "examples": pd.read_parquet(rd.path / "eval_examples.parquet"),
        "losses": [r["loss"] for r in rd.read_metrics() if r["type"] == "train"],
    }


def _assert_same(a: dict, b: dict) -> None:
    for k in a:
        if isinstance(a[k], pd.DataFrame):
            pd.testing.assert_frame_equal(a[k], b[k], check_exact=True)
        else:
            assert a[k] == b[k], k


@pytest.mark.slow
def test_cached_study_equals_uncached(tmp_path):
    """Runs 2.. of a cached study read data, base eval and signals back, and equal uncached runs exactly."""
    grid = [("gradient", 0), ("gradient", 1), ("uniform", 0), ("spectrum", 1)]
    cached = [_run(tmp_path / "cached", s, seed, True) for s, seed in grid]
    plain = [_run(tmp_path / "plain", s, seed, False) for s, seed in grid]
    for c, p in zip(cached, plain, strict=True):
        _assert_same(_outputs(c), _outputs(p))
    assert not (tmp_path / "plain" / "default" / CACHE_DIR).exists()
    kinds = sorted(f.name.split("-")[0] for f in (tmp_path / "cached" / "default" / CACHE_DIR).glob("*.pkl"))
    assert kinds == ["base", "data", "signals", "signals"]  # one data, one base eval, two signal kinds
    later = [json.loads((rd.path / "base_eval.json").read_text()) for rd in cached[1:]]
    assert all(b.get("cached") for b in later)
    assert not json.loads((cached[0].path / "base_eval.json").read_text()).get("cached")


def _slow_value(directory: str, log: str) -> None:
    def compute() -> list[int]:
        with open(log, "a") as f:
            f.write("computed\n")
        return list(range(1000))

    assert StudyCache(Path(directory)).get("thing", {"a": 1}, compute) == list(range(1000))


def test_concurrent_workers_compute_once_and_agree(tmp_path):
    log = tmp_path / "log"
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_slow_value, args=(str(tmp_path / "c"), str(log))) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    assert [p.exitcode for p in procs] == [0, 0, 0]
    assert log.read_text() == "computed\n"  # the others waited on the lock and read it back
    assert not list((tmp_path / "c").glob(".*.pkl.*"))  # no temp file left behind


def test_key_changes_with_every_part_and_a_broken_entry_is_recomputed(tmp_path):
    assert cache_key({"a": 1, "b": 2}) == cache_key({"b": 2, "a": 1})
    assert cache_key({"a": 1}) != cache_key({"a": 2})
    cache = StudyCache(tmp_path)
    assert cache.get("x", {"a": 1}, lambda: 1) == 1
    (path,) = tmp_path.glob("x-*.pkl")
    path.write_bytes(b"torn")
    assert cache.get("x", {"a": 1}, lambda: 2) == 2 and cache.hits == []
    assert cache.get("x", {"a": 1}, lambda: 3) == 2 and cache.hits == ["x"]
    assert StudyCache(None).get("x", {"a": 1}, lambda: 4) == 4


def test_a_cached_model_reads_back_equal(tmp_path):
    """The model cache (GGUF sources) stores the loaded model and tokenizer; read back, they are equal."""
    import torch

    from loralab.config import ModelConfig, RunConfig
    from loralab.models import load_model
    from loralab.store.cache import worth_caching_model

    assert worth_caching_model(RunConfig(model=ModelConfig(name="smollm2-135m")))
    assert not worth_caching_model(RunConfig(model=ModelConfig(name="tiny-gpt2")))
    cache = StudyCache(tmp_path)
    first = cache.get("model", {"m": "tiny-llama"}, lambda: load_model(ModelConfig(name="tiny-llama")))
    again = cache.get("model", {"m": "tiny-llama"}, lambda: None)
    assert cache.hits == ["model"] and again is not first
    ids = torch.arange(12).unsqueeze(0)
    with torch.no_grad():
        assert torch.equal(first.model(input_ids=ids).logits, again.model(input_ids=ids).logits)
    assert again.tokenizer("a b").input_ids == first.tokenizer("a b").input_ids
    assert not any(p.requires_grad for p in again.model.parameters())
    assert again.model.training == first.model.training

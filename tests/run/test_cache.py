"""The study cache: a study's runs read shared work back, and get exactly what they would compute."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
from pathlib import Path

import pandas as pd
import pytest

from loralab.config import load_config
from loralab.experiment import execute_run
from loralab.run.cache import StudyCache, cache_key
from loralab.store import CACHE_DIR
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


def test_a_pickle_this_user_did_not_sign_is_never_loaded(tmp_path):
    """A value planted in a study's cache (a copied study directory, another user) is not unpickled."""
    import pickle

    cache = StudyCache(tmp_path)
    assert cache.get("x", {"a": 1}, lambda: 1) == 1
    (path,) = tmp_path.glob("x-*.pkl")

    class Boom:
        def __reduce__(self):
            return (exec, ("raise SystemExit('unpickled a foreign value')",))

    path.write_bytes(b"\0" * 32 + pickle.dumps(Boom()))  # no valid signature
    assert cache.get("x", {"a": 1}, lambda: 2) == 2 and cache.hits == []
    assert cache.get("x", {"a": 1}, lambda: 3) == 2 and cache.hits == ["x"]  # replaced by a signed one


def test_deferred_values_are_written_only_by_flush(tmp_path):
    """Before a run's directory exists the cache reads and computes but writes nothing."""
    cache = StudyCache(tmp_path / ".cache")
    with cache.deferred():
        assert cache.get("x", {"a": 1}, lambda: 1) == 1
    assert not (tmp_path / ".cache").exists()
    cache.flush()
    assert cache.get("x", {"a": 1}, lambda: 2) == 1 and cache.hits == ["x"]
    failed = StudyCache(tmp_path / "other")
    with pytest.raises(ValueError), failed.deferred():
        failed.get("x", {"a": 1}, lambda: 1)
        raise ValueError("bad input")
    failed.flush()
    assert not (tmp_path / "other").exists()  # a run that never started stores nothing


def test_a_data_file_rewritten_with_the_same_size_and_mtime_is_tokenised_again(tmp_path):
    """The cache keys a data file by its content digest, as the run id does (one fingerprint), not by
    size and mtime: a rewrite that keeps both (os.utime) still gets a new key and is re-tokenised."""
    from loralab.data import prepare_data
    from loralab.models import load_model
    from loralab.run.cache import data_parts

    def records(word: str) -> str:
        rows = [{"instruction": f"Say {word} {i}.", "input": "", "output": f"{word} {i}"} for i in range(40)]
        return json.dumps(rows)

    path = tmp_path / "alpaca.json"
    path.write_text(records("alpha"))
    st = path.stat()
    cfg = load_config(None, [*TINY_RUN, f"data.source={path}", "data.val_set_size=8"])
    tokenizer = load_model(cfg.model).tokenizer
    cache = StudyCache(tmp_path / CACHE_DIR)

    def tokenised():
        return cache.get("data", data_parts(cfg), lambda: prepare_data(cfg.data, tokenizer))

    first, key = tokenised(), cache_key(data_parts(cfg))
    assert tokenised() == first and cache.hits == ["data"]  # unchanged: read back

    path.write_text(records("omega"))  # same length, other content
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_size == st.st_size and path.stat().st_mtime_ns == st.st_mtime_ns
    assert cache_key(data_parts(cfg)) != key
    again = tokenised()
    assert cache.hits == ["data"]  # computed, not read back
    assert again.train != first.train
    assert cfg.input_fingerprints()["data"] == data_parts(cfg)["source"]  # the run id's fingerprint

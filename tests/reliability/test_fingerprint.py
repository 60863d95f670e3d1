"""Point 5: a run's identity covers its input files' content, not only their paths."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from loralab import fingerprint
from loralab.config import load_config
from loralab.errors import StoreError
from tests.reliability.conftest import tiny, write_alpaca


def _cfg(data: Path, *extra: str):
    return load_config(None, [*tiny(data.parent / "store"), f"data.source={data}", *extra])


def test_rewritten_data_file_gets_a_new_run_id(tmp_path: Path) -> None:
    data = write_alpaca(tmp_path / "d.json")
    before = _cfg(data).run_id()
    write_alpaca(data, salt="x")
    assert _cfg(data).run_id() != before
    write_alpaca(data)  # the old content again: the old id again
    assert _cfg(data).run_id() == before


def test_same_size_rewrite_is_seen(tmp_path: Path) -> None:
    data = tmp_path / "d.json"
    data.write_text(json.dumps([{"instruction": "a", "input": "", "output": "b"}] * 20))
    st = data.stat()
    before = _cfg(data).run_id()
    data.write_text(json.dumps([{"instruction": "a", "input": "", "output": "c"}] * 20))
    import os

    os.utime(data, ns=(st.st_atime_ns, st.st_mtime_ns))  # same size and mtime: ctime still moves
    assert _cfg(data).run_id() != before


def test_builtin_inputs_keep_their_ids() -> None:
    assert load_config(None, ["model.name=tiny-gpt2", "data.source=synthetic"]).input_fingerprints() == {}
    # hub ids have no local file: the default config's id (at torch's dropout masks, the default then)
    # is what it was before fingerprints
    legacy = ["lora.dropout_rng=torch", "train.max_forward_tokens=null"]  # the defaults then
    assert load_config(None, legacy).run_id() == "de133c9e74d8"


def test_digest_is_cached_by_path_size_and_times(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = write_alpaca(tmp_path / "d.json", n=2000)
    first = fingerprint.file_digest(data)
    cache = json.loads(fingerprint.cache_path().read_text())
    assert cache[str(data.resolve())]["digest"] == first
    fingerprint._MEMO.clear()
    calls = []
    real = fingerprint.hashlib.sha256
    monkeypatch.setattr(fingerprint.hashlib, "sha256", lambda *a: calls.append(1) or real(*a))
    assert fingerprint.file_digest(data) == first  # from the cache file: no rehash
    assert calls == []
    write_alpaca(data, n=2000, salt="y")
    assert fingerprint.file_digest(data) != first
    assert calls == [1]


def test_local_model_directory_and_tokenizer_are_fingerprinted(tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    (model / "model.safetensors").write_bytes(b"\0" * 64)
    found = fingerprint.input_fingerprints("synthetic", str(model), str(model))
    assert set(found) == {"model", "tokenizer"}
    assert set(found["model"]) == {"config.json", "model.safetensors"}


def test_spec_records_inputs_and_resume_checks_them(tmp_path: Path, cli) -> None:
    data = write_alpaca(tmp_path / "d.json", n=60)
    store = tmp_path / "store"
    args = [*tiny(store), f"data.source={data}", "train.max_steps=2"]
    first = cli("run", *args)
    assert first.code == 0, first.err
    cfg = load_config(None, args)
    runs = lambda: [p for p in (store / "default").iterdir() if not p.name.startswith(".")]  # noqa: E731
    (rd,) = runs()  # the study cache (.cache) sits beside the run directories
    spec = yaml.safe_load((rd / "spec.yaml").read_text())
    assert spec["run_id"] == rd.name == cfg.run_id()
    assert spec["inputs"]["data"]["digest"] == fingerprint.file_digest(data)

    write_alpaca(data, n=60, salt="new")  # same path, new content: a new run, never "already done"
    second = cli("run", *args)
    assert second.code == 0, second.err
    assert "already done" not in second.out
    assert len(runs()) == 2

    # a stale cache entry cannot hide a change either: the spec's record is checked on resume
    spec["inputs"]["data"]["digest"] = "sha256:" + "0" * 64
    (rd / "spec.yaml").write_text(yaml.safe_dump(spec))
    with pytest.raises(StoreError, match="other contents of its data file"):
        fingerprint.check_spec(spec, rd.name, {"data": fingerprint.path_fingerprint(data)}, str(rd))

import json
from pathlib import Path

import pytest

from loralab.errors import StoreError
from loralab.store import Store, atomic_write_json, recover_dir, replace_dir


def test_create_status_and_no_overwrite_of_done(tmp_path: Path):
    store = Store(tmp_path)
    rd = store.create("s", "abc", {"run_id": "abc"})
    assert rd.state == "pending"
    rd.set_status("running")
    assert rd.read_status()["attempts"] == 1
    rd.set_status("done", eval_loss=1.0)
    status = rd.read_status()
    assert status["state"] == "done" and status["finished"] >= status["started"] >= status["created"]
    with pytest.raises(StoreError, match="already done"):
        store.create("s", "abc", {"run_id": "abc"})
    assert [r.run_id for r in store.runs("s")] == ["abc"]


def test_failed_status_keeps_error_and_running_clears_it(tmp_path: Path):
    rd = Store(tmp_path).create("s", "r", {})
    rd.set_status("failed", error="boom")
    assert rd.read_status()["error"] == "boom"
    rd.set_status("running")
    assert "error" not in rd.read_status()


def test_metrics_ignore_torn_line_and_truncate(tmp_path: Path):
    rd = Store(tmp_path).create("s", "r", {})
    for step in range(1, 5):
        rd.append_metrics({"type": "train", "step": step, "loss": 1.0 / step})
    with open(rd.metrics, "a") as f:
        f.write('{"step": 5, "lo')  # a kill in the middle of a write
    assert [r["step"] for r in rd.read_metrics()] == [1, 2, 3, 4]
    rd.truncate_metrics(2)
    assert [r["step"] for r in rd.read_metrics()] == [1, 2]


def test_atomic_write_leaves_no_temp_files(tmp_path: Path):
    atomic_write_json(tmp_path / "a.json", {"x": 1})
    assert json.loads((tmp_path / "a.json").read_text()) == {"x": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_replace_dir_and_recover(tmp_path: Path):
    final = tmp_path / "ckpt"
    for version in ("1", "2"):
        tmp = tmp_path / f".tmp{version}"
        tmp.mkdir()
        (tmp / "v").write_text(version)
        replace_dir(tmp, final)
        assert (final / "v").read_text() == version
    # a crash after moving the old dir aside but before the new one landed
    old = tmp_path / ".ckpt.old"
    final.rename(old)
    recover_dir(final)
    assert (final / "v").read_text() == "2" and not old.exists()


def test_a_spec_written_before_a_field_existed_reads_as_what_the_run_ran_with(tmp_path: Path):
    from loralab.config import ADDED_FIELDS, load_config

    cfg = load_config(None, ["lora.dropout_rng=torch", "train.max_forward_tokens=null"])
    old = cfg.model_dump(mode="json")
    for section, key, _ in ADDED_FIELDS:
        del old[section][key]
    rd = Store(tmp_path).create("s", cfg.run_id(), {"run_id": cfg.run_id(), "config": old})
    assert rd.read_spec()["config"]["lora"]["dropout_rng"] == "torch"  # not today's default, fast
    assert rd.read_config() == cfg

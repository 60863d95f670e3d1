"""`run_claimed`, the one path that runs a run under its claim (`loralab run` and study workers)."""

from __future__ import annotations

from pathlib import Path

from loralab.config import build_config
from loralab.runner.claims import Claim
from loralab.runner.worker import run_claimed
from loralab.store import Store

from .fakes import fake_run


def _setup(tmp_path: Path, **options):
    cfg = build_config(
        {"lora": {"strategy_options": options}, "output": {"root": str(tmp_path), "study": "w"}}
    )
    rd = Store(tmp_path).run_dir("w", cfg.run_id())
    return cfg, rd


def _run(cfg, rd, *, retry_failed: bool = False, output: Path | None = None):
    return run_claimed(cfg, rd, Claim(rd.path, settle=0), fake_run, retry_failed=retry_failed, output=output)


def test_a_held_run_is_busy_and_untouched(tmp_path: Path):
    cfg, rd = _setup(tmp_path)
    holder = Claim(rd.path, settle=0)
    assert holder.try_acquire()
    attempt = _run(cfg, rd)
    holder.release()
    assert attempt.state == "busy" and attempt.detail == holder.owner
    assert not rd.executions.exists() and not rd.status_file.exists()


def test_a_run_is_logged_then_skipped_once_done(tmp_path: Path):
    cfg, rd = _setup(tmp_path)
    first = _run(cfg, rd, output=rd.log)
    assert first.state == "done" and first.result is not None and first.error is None
    assert [e["event"] for e in rd.read_executions()] == ["start", "finish"]
    assert "attempt by" in rd.log.read_text()
    assert _run(cfg, rd).state == "skipped"
    assert not (rd.path / "claim.json").exists()


def test_a_failed_run_is_kept_unless_retried_and_its_error_comes_back(tmp_path: Path):
    cfg, rd = _setup(tmp_path, fail=2)
    first = _run(cfg, rd)
    assert first.state == "failed" and isinstance(first.error, RuntimeError)
    assert first.detail == "RuntimeError: fake failure at step 2"
    kept = _run(cfg, rd)
    assert kept.state == "failed" and kept.error is None and "--retry-failed" in kept.detail
    again = _run(cfg, rd, retry_failed=True)
    assert again.state == "failed" and isinstance(again.error, RuntimeError)
    assert [e["event"] for e in rd.read_executions()] == ["start", "failed", "start", "failed"]

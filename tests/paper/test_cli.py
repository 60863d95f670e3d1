"""`loralab paper draft|build|check` as a user meets them, with output piped."""

import os
import subprocess
import sys

import pytest

from tests.paper.conftest import needs_latex


def _loralab(*args, cwd=None):
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    return subprocess.run(
        [sys.executable, "-m", "loralab", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def test_build_prints_paths_and_plain_progress_only(study):
    res = _loralab("paper", "build", study, "--no-pdf")
    assert res.returncode == 0, res.stderr
    assert "paper.tex" in res.stdout and "arxiv.tar.gz" in res.stdout and "skipped" in res.stdout
    progress = res.stderr.splitlines()
    assert progress and all(line.startswith("paper: ") for line in progress), res.stderr  # no library noise
    assert "\x1b[" not in res.stderr + res.stdout  # plain lines when piped


def test_draft_refuses_to_overwrite_an_edit_with_one_line(study):
    assert _loralab("paper", "draft", study).returncode == 0
    draft = study / "paper" / "draft.md"
    draft.write_text(draft.read_text() + "\nmine\n")
    res = _loralab("paper", "draft", study)
    assert res.returncode == 2
    errors = [line for line in res.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "--force" in errors[0] and "Traceback" not in res.stderr
    assert _loralab("paper", "draft", study, "--force").returncode == 0


def test_user_errors_are_one_line_exit_2(tmp_path):
    res = _loralab("paper", "build", tmp_path / "nope")
    assert (
        res.returncode == 2 and res.stderr.strip().startswith("error: ") and len(res.stderr.splitlines()) == 1
    )
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(b"junk")
    res = _loralab("paper", "check", bad)
    assert res.returncode == 2 and "error: " in res.stderr and "Traceback" not in res.stderr


@pytest.mark.latex
@needs_latex
def test_build_then_check(study):
    res = _loralab("paper", "build", study)
    assert res.returncode == 0, res.stderr
    res = _loralab("paper", "check", study / "paper" / "arxiv.tar.gz")
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("ok: ") and "pages" in res.stdout
    assert "overfull boxes over 10pt" in res.stdout
    assert "warning: the author is the placeholder 'Anonymous'" in res.stdout

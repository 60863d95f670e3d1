"""`loralab analyze` / `loralab compare` end to end on a real tiny study (tiny-gpt2, synthetic tasks)."""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from loralab.analysis.schema import StudyStats
from loralab.store import RunDir

from ..conftest import run_cli
from ..runner.conftest import TINY_BASE, write_study

pytestmark = pytest.mark.slow
GRID = {"strategies": ["uniform", "linear-decay", "attention-heavy"], "seeds": [0, 1]}
FILES = ["runs.parquet", "examples.parquet", "stats.json", "report.html"]
ANALYZE = ["--resamples", "2000"]


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    """A finished 3 strategies × 2 seeds tiny study; returns its study file."""
    tmp = tmp_path_factory.mktemp("tiny-study")
    path = write_study(tmp / "study.yaml", tmp / "runs", name="tiny", base=TINY_BASE, grid=GRID)
    proc = run_cli("study", str(path), "--workers", "2", cwd=tmp)
    assert proc.returncode == 0, proc.stderr
    return path


def digest(directory: Path) -> dict[str, str]:
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def test_study_saves_its_expected_grid(study: Path):
    record = yaml.safe_load((study.parent / "runs" / "tiny" / "study.yaml").read_text())
    assert record["baseline"] == "uniform" and len(record["runs"]) == 6
    assert {r["point"]["lora.strategy"] for r in record["runs"]} == set(GRID["strategies"])


def test_analyze_writes_every_file_and_is_byte_identical_on_rerun(study: Path):
    t0 = time.perf_counter()
    proc = run_cli("analyze", str(study), *ANALYZE, cwd=study.parent)
    wall = time.perf_counter() - t0
    assert proc.returncode == 0, proc.stderr
    out = study.parent / "runs" / "tiny" / "analysis"
    for name in FILES:
        assert (out / name).is_file(), name
    stats = StudyStats.model_validate_json((out / "stats.json").read_text())
    assert stats.n_done == 6 and stats.complete and stats.baseline == "uniform"
    runs = pd.read_parquet(out / "runs.parquet")
    assert len(runs) == 6 and {"model", "budget", "strategy", "seed", "eval_loss", "n_examples"} <= set(runs)
    examples = pd.read_parquet(out / "examples.parquet")
    assert len(examples) == 6 * stats.comparisons[0].n_examples
    assert {c.a for c in stats.comparisons} == {"linear-decay", "attention-heavy"}
    for c in stats.comparisons:  # 2 seeds: verdicts rest on the seeds alone, whatever their number
        assert c.primary_test == "seed_t" and c.caveat is None
        assert c.verdict in ("better", "worse", "equivalent", "unresolved")
        assert c.difference_ci is not None and c.difference_ci.confidence == 1 - 0.05 / 2
        assert c.min_sign_flip_p == 0.5 and c.n_examples > 0
    for name in ("eval_loss", "forest", "curves", "rank_heatmaps", "example_gain"):
        assert [Path(f).suffix for f in stats.artifacts.figures[name]] == [".pdf", ".png"]
        assert all((out / f).stat().st_size > 0 for f in stats.artifacts.figures[name])
    for name in ("main", "comparisons", "per_seed", "coverage"):
        assert (out / f"tables/{name}.tex").read_text().count("\\toprule") == 1
    assert "linear-decay" in proc.stdout and "simultaneous at 95%" in " ".join(proc.stdout.split())
    print(f"analyze wall time on the tiny study: {wall:.1f}s")  # shown with -s

    first = digest(out)
    again = run_cli("analyze", str(study.parent / "runs" / "tiny"), *ANALYZE, cwd=study.parent)
    assert again.returncode == 0, again.stderr
    assert digest(out) == first


def test_compare_two_strategies_and_two_runs(study: Path):
    directory = study.parent / "runs" / "tiny"
    proc = run_cli("compare", str(directory), "linear-decay", "attention-heavy", *ANALYZE)
    assert proc.returncode == 0, proc.stderr
    assert "linear-decay vs attention-heavy" in proc.stdout
    runs = sorted(p.name for p in directory.iterdir() if (p / "eval.json").exists())
    by_runs = run_cli("compare", str(directory), runs[0], runs[1], *ANALYZE)
    assert by_runs.returncode == 0, by_runs.stderr
    assert f"{runs[0]} vs {runs[1]}" in by_runs.stdout


def test_incomplete_study_still_runs_and_reports_the_gaps(study: Path, tmp_path: Path):
    copy = tmp_path / "runs" / "tiny"
    shutil.copytree(study.parent / "runs" / "tiny", copy, ignore=shutil.ignore_patterns("analysis"))
    record = yaml.safe_load((copy / "study.yaml").read_text())
    by_point = {(r["point"]["lora.strategy"], r["point"]["train.seed"]): r["run_id"] for r in record["runs"]}
    shutil.rmtree(copy / by_point[("linear-decay", 1)])  # never started
    failed = RunDir(copy / by_point[("attention-heavy", 0)])
    failed.set_status("failed", error="synthetic")
    proc = run_cli("analyze", str(copy), *ANALYZE)
    assert proc.returncode == 0, proc.stderr
    assert "incomplete: strategy=linear-decay: missing 1" in proc.stdout
    assert "incomplete: strategy=attention-heavy: failed 0" in proc.stdout
    stats = json.loads((copy / "analysis" / "stats.json").read_text())
    assert not stats["complete"] and stats["n_done"] == 4
    gaps = {r["strategy"]: r for r in stats["coverage"] if not r["complete"]}
    assert gaps["linear-decay"]["missing"] == [1] and gaps["attention-heavy"]["failed"] == [0]


@pytest.mark.parametrize(
    "args, message",
    [
        (["compare", "{dir}", "uniform", "nope"], "'nope' is neither a strategy"),
        (["analyze", "{dir}", "--baseline", "nope"], "the baseline 'nope' has no finished run"),
        (["analyze", "{empty}"], "no runs in"),
        (["analyze", "{dir}", "--confidence", "1.5"], "--confidence"),
        (["analyze", "{dir}", "--power", "1.5"], "--power"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(study: Path, tmp_path: Path, args: list[str], message: str):
    (tmp_path / "empty").mkdir()
    fill = {"dir": str(study.parent / "runs" / "tiny"), "empty": str(tmp_path / "empty")}
    proc = run_cli(*[a.format(**fill) for a in args], *ANALYZE)
    assert proc.returncode == 2, proc.stderr
    lines = [x for x in proc.stderr.splitlines() if x.startswith("error:")]
    assert len(lines) == 1 and message in lines[0], proc.stderr

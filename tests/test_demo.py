"""`loralab demo` end to end on a reduced config: study -> analysis -> paper, and a rerun that trains
nothing and rebuilds the same outputs."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from loralab.demo import choose_workers, demo_overrides, load_demo_study
from tests.conftest import run_cli

REDUCED = [
    "model.name=tiny-gpt2",
    "data.synthetic_size=160",
    "data.val_set_size=24",
    "train.eval_batch_size=8",
    "--steps",
    "4",
]


def _digests(directory: Path) -> dict[str, str]:
    """sha256 of every file under `directory` that a rebuild must reproduce (the PDF too)."""
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file() and "build" not in p.parts and p.name not in ("paper.log", "run.log")
    }


@pytest.mark.slow
def test_demo_runs_study_analysis_and_paper_and_reruns_identically(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    first = run_cli("demo", *REDUCED, "--root", str(root), cwd=tmp_path)
    assert first.returncode == 0, first.stderr + first.stdout
    study = root / "demo"
    out = first.stdout
    assert "3 strategies x 2 seeds" in out
    for rel in (
        "analysis/stats.json",
        "analysis/report.html",
        "analysis/runs.parquet",
        "analysis/examples.parquet",
        "analysis/figures/forest.png",
        "analysis/figures/eval_loss.pdf",
        "paper/draft.md",
        "paper/paper.tex",
        "paper/paper.md",
        "paper/arxiv.tar.gz",
    ):
        assert (study / rel).is_file(), rel
    printed = out.split("what the demo wrote:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    paths = [Path(line.split()[-1]) for line in printed]
    n_expected = 8 if shutil.which("latexmk") else 7  # the PDF only where LaTeX is installed
    assert len(paths) == n_expected and all(p.exists() for p in paths), printed
    assert str(study / "analysis" / "report.html") in out
    if shutil.which("latexmk"):  # the demo's paper sets without a box over 10 pt past the margin
        from loralab.paper.latex import overfull_boxes

        log = (study / "paper" / "build" / "paper.log").read_text(errors="replace")
        assert overfull_boxes(log)[0] == 0, overfull_boxes(log)
    assert any((study / "analysis" / "tables").glob("*.md"))
    # exact-match accuracy of the base model and each strategy, paired and tested like the loss
    stats = json.loads((study / "analysis" / "stats.json").read_text())
    (accuracy,) = stats["secondary"]
    assert accuracy["metric"] == "exact_match" and accuracy["family_size"] == 2
    assert all(c["base"] is not None and c["by_task"] for c in accuracy["summaries"])
    assert (study / "analysis" / "tables" / "exact_match_by_task.md").is_file()
    assert "Verdicts on exact-match accuracy (secondary)" in (study / "analysis" / "report.html").read_text()
    assert "Exact-match accuracy (secondary outcome)" in (study / "paper" / "paper.md").read_text()
    assert "next steps:" in out and f"loralab status {study}" in out
    assert len([p for p in study.iterdir() if (p / "eval.json").is_file()]) == 6
    before = _digests(study / "analysis") | _digests(study / "paper")

    again = run_cli("demo", *REDUCED, "--root", str(root), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "0 ran, 6 already done" in again.stdout
    assert _digests(study / "analysis") | _digests(study / "paper") == before

    # the study directory keeps its resolved study: status needs none of the demo's overrides
    status = run_cli("status", str(study), cwd=tmp_path)
    assert status.returncode == 0, status.stderr
    assert "6 done" in status.stdout


def test_demo_overrides_route_run_keys_under_base(tmp_path: Path) -> None:
    data = tmp_path / "alpaca.json"
    data.write_text("[]")
    args = demo_overrides(["train.lr=0.01", "grid.seeds=[0,1,2]"], data=data, steps=7, root=tmp_path)
    study = load_demo_study(args)
    assert study.base.train.eval_metrics == ("eval_loss",)  # free-form Alpaca answers: no exact match
    assert study.base.train.lr == 0.01
    assert study.grid.seeds == (0, 1, 2)
    assert study.base.train.max_steps == 7
    assert study.base.data.source == str(data.resolve())
    assert study.base.output.root == str(tmp_path)


def test_embedded_demo_is_a_real_small_study() -> None:
    study = load_demo_study([])
    assert "uniform" in study.strategies and len(study.strategies) >= 3
    assert len(study.grid.seeds) >= 2
    assert study.base.model.name == "smollm2-135m" and study.base.data.source == "synthetic"
    assert "exact_match" in study.base.train.eval_metrics  # the synthetic tasks have exact answers


@pytest.mark.parametrize(("runs", "cores", "workers"), [(6, 2, 2), (1, 2, 1), (6, 1, 1), (6, 8, 6)])
def test_one_worker_per_core_never_more_than_runs(runs: int, cores: int, workers: int) -> None:
    assert choose_workers(runs, cores) == workers

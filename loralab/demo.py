"""The demo: the whole system on one machine, offline — a small study, its analysis and its paper.

`loralab demo` expands the embedded study (`assets/demo_study.yaml`: SmolLM2-135M on synthetic
Alpaca-format tasks, three strategies × two seeds at the budget of uniform rank 8), runs what is not
done yet, analyses the store and writes the paper. Run again in the same place it trains nothing and
rebuilds the same outputs. It sits at the top of the flow (with the CLI): it only calls the runner,
the analysis and the paper, each through its public function.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from loralab.analysis.pipeline import analyze
from loralab.analysis.schema import StudyStats
from loralab.errors import LoralabError
from loralab.paper import PaperOutputs, write_paper
from loralab.runner.executors.base import available_cpus
from loralab.runner.executors.local import LocalExecutor
from loralab.runner.scheduler import StudyReport, plan_runs, run_study
from loralab.runner.study import StudyConfig, load_study

STUDY_FILE = Path(str(files("loralab") / "assets" / "demo_study.yaml"))
_STUDY_KEYS = ("name", "baseline", "base", "grid", "strategy_options")

Echo = Callable[[str], None]


@dataclass(frozen=True)
class DemoOutputs:
    """What one demo produced: the study's outcome, its directory, the analysis and the paper."""

    report: StudyReport
    study_dir: Path
    analysis_dir: Path
    stats: StudyStats
    paper: PaperOutputs

    def paths(self) -> list[tuple[str, Path]]:
        """(what, path) of everything a reader opens, in reading order."""
        a = self.analysis_dir
        out = [("paper (PDF)", self.paper.pdf)] if self.paper.pdf else []
        out += [("paper (preview)", self.paper.preview)] if self.paper.preview else []
        out += [
            ("paper (LaTeX)", self.paper.tex),
            ("paper (Markdown)", self.paper.markdown),
            ("arXiv bundle", self.paper.bundle),
            ("HTML report", a / "report.html"),
            ("figures", a / "figures"),
            ("tables", a / "tables"),
            ("statistics", a / "stats.json"),
        ]
        return out


def demo_overrides(
    overrides: list[str], *, data: Path | None, steps: int | None, root: Path | None
) -> list[str]:
    """Study-file overrides from the demo's options; a run-config key (`train.lr=...`) means `base.`."""
    out = [o if o.split("=", 1)[0].split(".", 1)[0] in _STUDY_KEYS else f"base.{o}" for o in overrides]
    if data is not None:
        if not data.is_file():
            raise LoralabError(f"--data {data}: no such file; give an Alpaca-format .json/.jsonl/.parquet")
        # a real Alpaca file: a seeded subsample keeps tokenisation and eval inside the demo's minutes;
        # its free-form answers have no exact answer, so only the loss is measured (unless overridden)
        out = [
            f"base.data.source={data.resolve()}",
            "base.data.max_examples=4000",
            "base.train.eval_metrics=[eval_loss]",
            *out,
        ]
    if steps is not None:
        out.append(f"base.train.max_steps={steps}")
    if root is not None:
        out.append(f"base.output.root={root}")
    return out


def load_demo_study(overrides: list[str]) -> StudyConfig:
    """The embedded demo study with `overrides` applied (study-file keys)."""
    return load_study(STUDY_FILE, overrides)


def choose_workers(n_runs: int, cores: int | None = None) -> int:
    """Runs at once: one per core (each with one thread), never more than there are runs.

    `benchmarks/study_wall.py` (docs/performance.md) measured this layout against one worker with two
    threads on a tiny model on a loaded machine, where two-thread runs collapsed; a small model's
    many small ops keep one thread busier than two. The SmolLM2 comparison on an idle machine is
    still to be run (issue 17).
    """
    cores = cores or available_cpus()
    return max(1, min(cores, n_runs))


def run_demo(
    study: StudyConfig, *, workers: int | None = None, echo: Echo = print, pdf: bool = True
) -> DemoOutputs:
    """Run the study's missing runs, analyse it and write the paper; raises if any run failed."""
    runs = plan_runs(study)
    workers = choose_workers(len(runs)) if workers is None else workers  # 0 is refused, not "default"
    report = run_study(study, LocalExecutor(workers))
    echo(report.summary())
    if report.failed:
        raise LoralabError(
            f"{len(report.failed)} demo run(s) failed (see `loralab status {runs[0].output.root}/"
            f"{study.name}`); run the demo again to retry them"
        )
    study_dir = Path(runs[0].output.root) / study.name
    echo("analysing the study")
    stats, analysis_dir = analyze(study_dir, echo=lambda m: echo(f"  {m}"))
    echo("writing the paper")
    paper = write_paper(study_dir, progress=lambda m: echo(f"  {m}"), pdf=pdf)
    return DemoOutputs(report, study_dir, analysis_dir, stats, paper)


NEXT_STEPS = """\
next steps:
  loralab status {study_dir}                   the runs of this study
  loralab compare {study_dir} linear-decay uniform   any two strategies, paired
  loralab allocate --strategy linear-decay --model smollm2-135m --budget r8   a rank map, no training
  loralab strategies                             every strategy and its options
  loralab demo --data alpaca_data.json           the same study on real Alpaca data
  your own study: copy configs/study.yaml, set base, grid and baseline, then `loralab study FILE`"""

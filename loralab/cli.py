"""The `loralab` command. Each command parses its arguments and calls one function elsewhere;
user errors (`LoralabError`) print one line and exit with code 2, anything else is a bug.
"""

from __future__ import annotations

import sys
import traceback
from pathlib import Path

import typer

from loralab.errors import LoralabError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="loralab: LoRA rank-allocation studies at an equal parameter budget.",
    pretty_exceptions_enable=False,
)


def _config_and_overrides(config: Path | None, overrides: list[str] | None) -> tuple[Path | None, list[str]]:
    """`loralab run train.lr=1e-4` (no file): the first positional is then an override, not a path."""
    args = list(overrides or [])
    if config is not None and "=" in str(config) and not config.exists():
        return None, [str(config), *args]
    return config, args


def _at_least(option: str, value: float | None, low: float, *, above: bool = False) -> None:
    """Refuse a numeric option below `low` (or not above it) in one line; None means its default.

    Checked here rather than with typer's `min=`, whose error is a multi-line usage box.
    """
    from loralab.errors import ConfigError

    if value is None:
        return
    if value < low or (above and value == low):
        bound = f"greater than {low:g}" if above else f"at least {low:g}"
        raise ConfigError(f"{option} must be {bound} (got {value:g}); give a larger value or leave it out")


@app.command()
def run(
    config: Path | None = typer.Argument(None, help="Run config YAML (defaults are used when omitted)."),
    overrides: list[str] | None = typer.Argument(None, help="key=value overrides, e.g. train.lr=1e-4"),
    strategy_file: list[Path] | None = typer.Option(None, help="Python file registering extra strategies."),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Check the config and inputs, print the run id; write nothing."
    ),
) -> None:
    """Train and evaluate one run (resumes it if it was interrupted; skips it if done)."""
    from loralab.config import load_config
    from loralab.runner.commands import dry_run_command, run_command
    from loralab.strategies import load_strategy_file

    config, args = _config_and_overrides(config, overrides)
    for f in strategy_file or []:
        load_strategy_file(f)
    cfg = load_config(config, args)
    if dry_run:
        typer.echo(dry_run_command(cfg))
        return
    result = run_command(cfg)
    typer.echo(result.summary())


@app.command()
def config(
    config: Path | None = typer.Argument(None, help="Run config YAML (defaults are used when omitted)."),
    overrides: list[str] | None = typer.Argument(None, help="key=value overrides, e.g. train.lr=1e-4"),
) -> None:
    """Print the resolved run config (every field, defaults filled in) and its run id, without running."""
    from loralab.config import load_config

    config, args = _config_and_overrides(config, overrides)
    cfg = load_config(config, args)
    typer.echo(f"# run id {cfg.run_id()}\n{cfg.to_yaml()}", nl=False)


@app.command()
def show(run_dir: Path = typer.Argument(..., help="A run directory <root>/<study>/<run_id>.")) -> None:
    """Print a run's status, allocation summary and final metrics."""
    from loralab.store.describe import describe_run

    typer.echo(describe_run(run_dir))


@app.command()
def demo(
    overrides: list[str] | None = typer.Argument(
        None, help="key=value overrides: run-config keys (train.lr=...) or study keys (grid.seeds=[0,1,2])."
    ),
    data: Path | None = typer.Option(
        None, help="An Alpaca-format .json/.jsonl/.parquet instead of synthetic tasks (4,000 records drawn)."
    ),
    steps: int | None = typer.Option(None, help="Optimizer steps per run (default 30)."),
    root: Path | None = typer.Option(None, help="Results store root (default runs)."),
    workers: int | None = typer.Option(None, help="Runs at once (default: one per CPU core)."),
) -> None:
    """The whole system offline: a small SmolLM2-135M study, its analysis and its paper."""
    from loralab.demo import NEXT_STEPS, demo_overrides, load_demo_study, run_demo
    from loralab.paper.latex import INSTALL_HINT

    _at_least("--steps", steps, 1)
    _at_least("--workers", workers, 1)
    study = load_demo_study(demo_overrides(list(overrides or []), data=data, steps=steps, root=root))
    typer.echo(
        f"demo: {len(study.strategies)} strategies x {len(study.grid.seeds)} seeds of"
        f" {study.base.model.name} on {study.base.data.source}, budget {study.base.lora.budget},"
        f" {study.base.train.max_steps} steps per run"
    )
    out = run_demo(study, workers=workers, echo=typer.echo)
    if out.paper.pdf is None and out.paper.preview is not None:
        typer.echo(f"PDF: a Typst preview only; for the arXiv PDF {INSTALL_HINT} and run the demo again")
    elif out.paper.pdf is None:
        typer.echo(f"PDF skipped: {out.paper.pdf_skipped}")
    typer.echo("\nwhat the demo wrote:")
    for what, path in out.paths():
        typer.echo(f"  {what:<17} {path}")
    typer.echo("\n" + NEXT_STEPS.format(study_dir=out.study_dir))


@app.command()
def study(
    study_file: Path = typer.Argument(
        ..., help="Study YAML (name, base run config, grid, baseline) or a study directory it wrote."
    ),
    overrides: list[str] | None = typer.Argument(
        None, help="key=value overrides of the study file, e.g. base.train.max_steps=20 grid.seeds=[0,1]"
    ),
    executor: str = typer.Option("local", help="Where runs execute: local (processes) or ray."),
    workers: int = typer.Option(1, help="Runs at once on this machine (local; also sizes a local Ray)."),
    address: str | None = typer.Option(None, help="Ray cluster to join (HOST:PORT); default starts one."),
    cpus_per_run: float = typer.Option(1.0, help="Ray: CPUs each run requests."),
    gpus_per_run: float = typer.Option(0.0, help="Ray: GPUs each run requests (fractions share a GPU)."),
    max_retries: int = typer.Option(3, help="Ray: retries of a run lost with its worker or node."),
    retry_failed: bool = typer.Option(False, help="Also rerun runs that failed before."),
    claim_timeout: float = typer.Option(120.0, help="Seconds without heartbeat before a claim is stale."),
    strategy_file: list[Path] | None = typer.Option(None, help="Python file registering extra strategies."),
) -> None:
    """Run a study's missing runs: skip done ones, resume interrupted ones, each run exactly once."""
    from loralab.runner.commands import make_executor, study_command

    _at_least("--workers", workers, 1)
    _at_least("--max-retries", max_retries, 0)
    _at_least("--claim-timeout", claim_timeout, 0, above=True)
    ex = make_executor(
        executor,
        workers=workers,
        address=address,
        cpus_per_run=cpus_per_run,
        gpus_per_run=gpus_per_run,
        max_retries=max_retries,
    )
    files = tuple(str(f) for f in strategy_file or [])
    from loralab.runner.study import load_study

    definition = load_study(study_file, list(overrides or []))
    if definition.adaptive is not None:
        from loralab.adaptive import run_adaptive

        raise typer.Exit(
            code=run_adaptive(
                definition, ex, retry_failed=retry_failed, claim_timeout=claim_timeout, strategy_files=files
            )
        )
    code = study_command(
        study_file,
        list(overrides or []),
        ex,
        retry_failed=retry_failed,
        claim_timeout=claim_timeout,
        strategy_files=files,
    )
    raise typer.Exit(code=code)


@app.command()
def status(
    study: str = typer.Argument(
        ..., help="A study YAML, a study directory <root>/<study>, or a study name in the store."
    ),
    overrides: list[str] | None = typer.Argument(None, help="key=value overrides of the study file."),
    root: Path = typer.Option(Path("runs"), help="Results store root (when STUDY is a name)."),
) -> None:
    """Table of a study's runs (state, steps, eval loss, wall time); rebuilds its index.parquet."""
    from loralab.runner.commands import status_command

    raise typer.Exit(code=status_command(study, root, overrides=list(overrides or [])))


def _settings(confidence: float, resamples: int, seed: int, alpha: float, margin: str | None, power: float):
    """Statistical settings from CLI options (validated by the schema)."""
    from pydantic import ValidationError

    from loralab.analysis.schema import Settings
    from loralab.config import check_margin
    from loralab.errors import ConfigError

    if margin is not None:
        check_margin(margin)  # a bad margin is one line naming it
    _at_least("--seed", seed, 0)  # numpy seeds are non-negative
    try:
        return Settings(
            confidence=confidence,
            n_resamples=resamples,
            seed=seed,
            alpha=alpha,
            equivalence_margin=margin,
            power=power,
        )
    except ValidationError as e:
        first = e.errors()[0]
        option = _OPTION_OF.get(str(first["loc"][0]), str(first["loc"][0]))
        raise ConfigError(f"--{option}: {first['msg']}") from None


# Settings fields whose CLI option has another name (the error names what the user typed).
_OPTION_OF = {"n_resamples": "resamples", "equivalence_margin": "margin"}


_CONFIDENCE = typer.Option(0.95, help="Confidence level of intervals.")
_RESAMPLES = typer.Option(10_000, help="Bootstrap resamples (and example permutations).")
_SEED = typer.Option(0, help="Seed of every resample (same seed, same bytes).")
_ALPHA = typer.Option(0.05, help="Family-wise error of the verdicts (Bonferroni over the comparisons).")
_MARGIN = typer.Option(
    None,
    help="Equivalence margin δ of the primary metric: '1%' (eval_loss: perplexity ratio; exact_match:"
    " percentage points) or a number in its unit; default: the study file's.",
)
_POWER = typer.Option(0.8, help="Power for which 'seeds needed' plans a next study.")


@app.command()
def analyze(
    study: Path = typer.Argument(..., help="The study YAML or its directory <root>/<study>."),
    overrides: list[str] | None = typer.Argument(None, help="key=value overrides of the study file."),
    baseline: str | None = typer.Option(None, help="Compare against this strategy instead of the study's."),
    confidence: float = _CONFIDENCE,
    resamples: int = _RESAMPLES,
    seed: int = _SEED,
    alpha: float = _ALPHA,
    margin: str | None = _MARGIN,
    power: float = _POWER,
) -> None:
    """Statistics, figures, tables and report.html of a study, under <study dir>/analysis/."""
    from loralab.analysis.pipeline import analyze as run_analysis
    from loralab.analysis.summary import print_summary

    settings = _settings(confidence, resamples, seed, alpha, margin, power)
    directory, plan = _study_target(study, list(overrides or []))
    stats, out = run_analysis(directory, plan=plan, settings=settings, baseline=baseline, echo=_progress)
    print_summary(stats, out)


@app.command()
def compare(
    study: Path = typer.Argument(..., help="The study YAML or its directory <root>/<study>."),
    a: str = typer.Argument(..., help="Strategy (or run id) A."),
    b: str = typer.Argument(..., help="Strategy (or run id) B, the reference."),
    confidence: float = _CONFIDENCE,
    resamples: int = _RESAMPLES,
    seed: int = _SEED,
    alpha: float = _ALPHA,
    margin: str | None = _MARGIN,
    power: float = _POWER,
) -> None:
    """Compare two strategies (or two run ids), paired, with the same statistics as analyze."""
    from loralab.analysis.pipeline import compare as run_compare
    from loralab.analysis.summary import print_comparisons

    settings = _settings(confidence, resamples, seed, alpha, margin, power)
    directory, plan = _study_target(study, [])
    print_comparisons(run_compare(directory, a, b, plan=plan, settings=settings, echo=_progress))


def _progress(message: str) -> None:
    typer.echo(message, err=True)


def _study_target(study: Path, overrides: list[str]) -> tuple[Path, dict | None]:
    """(study directory, expected grid) from a study file, or (the directory, None) for a directory."""
    from loralab.errors import ConfigError

    if study.is_dir():
        return study, None
    if not study.exists():
        raise ConfigError(f"{study} does not exist; give a study YAML or a study directory <root>/<study>")
    from loralab.runner.scheduler import plan_runs
    from loralab.runner.study import load_study
    from loralab.runner.study_record import study_record

    definition = load_study(study, overrides)
    runs = plan_runs(definition)
    return Path(runs[0].output.root) / definition.name, study_record(definition, runs)


@app.command()
def strategies(
    strategy_file: list[Path] | None = typer.Option(None, help="Python file registering extra strategies."),
) -> None:
    """List the registered rank-allocation strategies with their options and descriptions."""
    from rich.console import Console

    from loralab.allocation_report import strategies_table
    from loralab.strategies import load_strategy_file

    for f in strategy_file or []:
        load_strategy_file(f)
    Console().print(strategies_table())


@app.command()
def allocate(
    strategy: str | None = typer.Option(None, help="Strategy name (see `loralab strategies`) [uniform]."),
    model: str | None = typer.Option(
        None, help="Hub id, local dir, .gguf, smollm2-135m, tiny-* [microsoft/DialoGPT-medium]."
    ),
    budget: str | None = typer.Option(None, help="'r8', a parameter count, or a fraction like '0.5%' [r8]."),
    config: Path | None = typer.Option(None, help="A run config to start from (its model/lora/data)."),
    option: list[str] | None = typer.Option(None, "--option", "-o", help="Strategy option key=value."),
    strategy_file: list[Path] | None = typer.Option(None, help="Python file registering extra strategies."),
    json_out: Path | None = typer.Option(None, "--json", help="Also write the allocation record here."),
    overrides: list[str] | None = typer.Argument(None, help="Further run-config key=value overrides."),
) -> None:
    """Print the rank map a strategy gives at a budget (layer x module kind), without training."""
    from rich.console import Console

    from loralab.allocation import preview
    from loralab.allocation_report import allocation_table
    from loralab.config import load_config
    from loralab.store import atomic_write_json
    from loralab.strategies import load_strategy_file

    for f in strategy_file or []:
        load_strategy_file(f)
    # Options given explicitly win over the config file; without a file, unset ones keep the defaults.
    given = {"model.name": model, "lora.strategy": strategy, "lora.budget": budget}
    args = [f"{k}={v}" for k, v in given.items() if v is not None]
    args += [f"lora.strategy_options.{o}" for o in option or []]
    cfg = load_config(config, args + list(overrides or []))
    outcome = preview(cfg)
    Console().print(allocation_table(outcome.allocation))
    if json_out is not None:
        atomic_write_json(json_out, outcome.allocation.to_dict())


paper_app = typer.Typer(
    no_args_is_help=True, help="The paper: Markdown draft, LaTeX/PDF and the arXiv bundle of a study."
)
app.add_typer(paper_app, name="paper")


@paper_app.command("draft")
def paper_draft(
    study_dir: Path = typer.Argument(
        ..., help="Study directory <root>/<study> (analysed by `loralab analyze`)."
    ),
    force: bool = typer.Option(False, "--force", help="Overwrite an edited paper/draft.md."),
) -> None:
    """Write paper/draft.md from the study's analysis (an edited draft is kept unless --force)."""
    from loralab.paper.commands import draft_command

    typer.echo(draft_command(study_dir, force=force))


@paper_app.command("build")
def paper_build(
    study_dir: Path = typer.Argument(..., help="Study directory <root>/<study>."),
    pdf: bool = typer.Option(True, "--pdf/--no-pdf", help="Compile the PDF (needs LaTeX)."),
) -> None:
    """Resolve the draft into paper.md and paper.tex, compile paper.pdf, write arxiv.tar.gz.

    Any other *.bib in paper/ is merged with loralab's references.bib.
    """
    from loralab.paper.commands import build_command

    typer.echo(build_command(study_dir, pdf=pdf))


@paper_app.command("check")
def paper_check(bundle: Path = typer.Argument(..., help="An arXiv bundle (.tar.gz).")) -> None:
    """Compile an arXiv bundle with pdflatex alone in a clean directory; fail on any error."""
    from loralab.paper.commands import check_command

    typer.echo(check_command(bundle))


def main() -> None:
    """Console-script entry point: a user error is one line and exit code 2 (`--debug` adds its
    traceback); library warnings are one line of ours (loralab/notices.py)."""
    from loralab.notices import quiet_libraries

    debug = "--debug" in sys.argv[1:]
    if debug:
        sys.argv = [a for a in sys.argv if a != "--debug"]
    else:
        quiet_libraries()
    try:
        app()
    except LoralabError as e:
        if debug:
            traceback.print_exc()
        typer.echo(error_line(e), err=True)
        sys.exit(2)


def error_line(e: LoralabError) -> str:
    """The one line `main` prints for a user error."""
    message = str(e).splitlines()[0] if str(e) else type(e).__name__
    return f"error: {message}"


if __name__ == "__main__":
    main()

"""The `loralab` command. Each command parses its arguments and calls one function elsewhere;
user errors (`LoralabError`) print one line and exit with code 2, anything else is a bug.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from loralab.errors import LoralabError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="loralab: LoRA rank-allocation studies at an equal parameter budget.",
    pretty_exceptions_enable=False,
)


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=2)


@app.command()
def run(
    config: Path | None = typer.Argument(None, help="Run config YAML (defaults are used when omitted)."),
    overrides: list[str] | None = typer.Argument(None, help="key=value overrides, e.g. train.lr=1e-4"),
    strategy_file: list[Path] | None = typer.Option(None, help="Python file registering extra strategies."),
) -> None:
    """Train and evaluate one run (resumes it if it was interrupted; skips it if done)."""
    from loralab.config import load_config
    from loralab.experiment import execute_run
    from loralab.strategies import load_strategy_file

    # `loralab run train.lr=1e-4` (no file): the first positional is an override.
    args = list(overrides or [])
    if config is not None and "=" in str(config) and not config.exists():
        args.insert(0, str(config))
        config = None
    for f in strategy_file or []:
        load_strategy_file(f)
    cfg = load_config(config, args)
    result = execute_run(cfg)
    typer.echo(result.summary())


@app.command()
def show(run_dir: Path = typer.Argument(..., help="A run directory <root>/<study>/<run_id>.")) -> None:
    """Print a run's status, allocation summary and final metrics."""
    from loralab.experiment import describe_run

    typer.echo(describe_run(run_dir))


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except LoralabError as e:
        message = str(e).splitlines()[0] if str(e) else type(e).__name__
        typer.echo(f"error: {message}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()

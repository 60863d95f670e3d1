"""Fuzzing `loralab config` and `loralab run --dry-run` with generated overrides (hypothesis).

Overrides mix valid field paths of `RunConfig` (collected recursively) with values of wrong types,
out-of-range numbers and garbage strings, unknown keys and malformed `key=value` tokens, on top of a
tiny base (tiny-gpt2, synthetic data) so nothing downloads (HF_HUB_OFFLINE=1). Each example runs the
CLI in-process (typer's CliRunner) with `main`'s error handling and asserts: exit 0 or 2; on 2 one
`error: ...` line and no traceback; nothing written under the working directory. `FUZZ_EXAMPLES`
examples per command, derandomized so CI sees the same inputs every time.

Tokens never start with '-': click parses those as options (its usage errors are its own format).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel
from typer.testing import CliRunner

from loralab.cli import app, error_line
from loralab.config import RunConfig
from loralab.errors import LoralabError
from tests.reliability.conftest import snapshot

FUZZ_EXAMPLES = 150
BASE = ["model.name=tiny-gpt2", "data.source=synthetic", "data.synthetic_size=160", "data.val_set_size=24"]
ENV = {"HF_HUB_OFFLINE": "1", "PYTHONWARNINGS": "ignore"}


def field_paths(model: type[BaseModel] = RunConfig, prefix: str = "") -> list[str]:
    """Every leaf field of a pydantic model as a dotted path (sub-models recursively)."""
    paths = []
    for name, field in model.model_fields.items():
        sub = field.annotation
        if isinstance(sub, type) and issubclass(sub, BaseModel):
            paths += field_paths(sub, f"{prefix}{name}.")
        else:
            paths.append(f"{prefix}{name}")
    return paths


FIELDS = field_paths()
# Text that cannot be taken for an option, nor contain a NUL (argv cannot carry one).
garbage = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=20)
values = st.one_of(
    garbage,
    st.integers(-(10**20), 10**20).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(
        [
            "",
            "null",
            "~",
            "true",
            "no",
            "[]",
            "{}",
            "[1, 2",
            "{a: 1}",
            "'x",
            "nan",
            "-inf",
            "1e400",
            "r0",
            "r-1",
            "0%",
            "150%",
            "..",
            "/",
            ".",
            "a/b",
            "\\",
            "0x10",
            "1_000",
            "!!python/object:os.system",
        ]
    ),
)
keys = st.one_of(
    st.sampled_from(FIELDS),
    st.sampled_from(FIELDS).map(lambda k: k + ".sub"),
    st.sampled_from(FIELDS).map(lambda k: k.split(".")[0]),
    st.sampled_from(["lora.strategy_options.x", "nope", "data.nope", "..", "a..b", "", "data.", ".data"]),
    garbage,
)
plausible = st.one_of(  # values a field may accept, so that examples get past the first token
    st.integers(0, 64).map(str),
    st.floats(0, 1).map(repr),
    st.sampled_from(["true", "false", "null", "r4", "r8", "0.5%", "uniform", "linear-decay", "cpu", "fp32"]),
)
good_token = st.tuples(st.sampled_from(FIELDS), st.one_of(plausible, values)).map(
    lambda kv: f"{kv[0]}={kv[1]}"
)
bad_token = st.one_of(
    st.tuples(keys, values).map(lambda kv: f"{kv[0]}={kv[1]}"),
    st.tuples(keys, values).map(lambda kv: f"{kv[0]}=={kv[1]}"),
    garbage.map(lambda s: s.replace("=", "")),  # no '=' at all
    values.map(lambda v: f"={v}"),
)
override_lists = st.tuples(
    st.lists(good_token, max_size=3), st.lists(bad_token, max_size=1), st.randoms(use_true_random=False)
).map(lambda t: t[2].sample(t[0] + t[1], len(t[0]) + len(t[1])))
override_lists = override_lists.map(lambda ts: [t for t in ts if not t.startswith("-") and "\x00" not in t])

FOUND: list[tuple[str, list[str], str]] = []  # (command, overrides, what went wrong) for the closing note


def invoke(args: list[str]) -> tuple[int, str]:
    """`loralab ARGS` in-process with `main`'s handling of user errors: (exit code, stderr+stdout)."""
    result = CliRunner().invoke(app, args, env=ENV, catch_exceptions=True)
    if isinstance(result.exception, LoralabError):
        return 2, error_line(result.exception)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        import traceback

        tb = "".join(traceback.format_exception(result.exception))
        return 1, f"{result.output}Traceback (uncaught {type(result.exception).__name__}):\n{tb}"
    return result.exit_code, result.output


def check(command: list[str], overrides: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        old = os.getcwd()
        os.chdir(work)
        try:
            args = [*command[:1], *BASE, f"output.root={work / 'store'}", *overrides, *command[1:]]
            before = snapshot(work)
            code, output = invoke(args)
            after = snapshot(work)
        finally:
            os.chdir(old)
    if code not in (0, 2) or after != before:
        FOUND.append((" ".join(command), overrides, output[-2000:]))
    assert code in (0, 2), output
    if code == 2:
        lines = output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), output
    assert "Traceback" not in output
    assert after == before, f"files written: {set(after) ^ set(before)}"


FUZZ = settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=5000,  # milliseconds per example
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    database=None,
)


@pytest.mark.parametrize("command", [["config"], ["run", "--dry-run"]], ids=["config", "dry-run"])
@FUZZ
@given(overrides=override_lists)
def test_fuzz_overrides(command: list[str], overrides: list[str]) -> None:
    check(command, overrides)


def test_field_paths_cover_the_config() -> None:
    assert {"data.source", "model.name", "lora.budget", "train.lr", "output.root"} <= set(FIELDS)

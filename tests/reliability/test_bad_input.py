"""Point 1: bad input everywhere a user types or points, through the real CLI entry point.

Each case asserts the one-line message (what is wrong and the way out), exit code 2, no traceback,
and that the results store is byte-identical afterwards (inputs are checked before any run
directory exists). `BAD_INPUTS` counts the cases for the closing note.
"""

from __future__ import annotations

import gzip
import io
import json
import re
import tarfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.reliability.conftest import snapshot, tiny
from tests.reliability.conftest import tiny_tree as _base

Case = Callable[[Path], list[str]]  # tmp_path -> CLI args (the store is tmp_path / "store")


def _file(tmp: Path, name: str, content: str | bytes) -> Path:
    p = tmp / name
    p.write_bytes(content.encode() if isinstance(content, str) else content)
    return p


def _config(body: str | bytes) -> Case:
    return lambda tmp: ["config", str(_file(tmp, "c.yaml", body))]


def _override(*items: str) -> Case:
    return lambda tmp: ["config", *items]


def _run(*extra: str) -> Case:
    return lambda tmp: ["run", *tiny(tmp / "store"), *extra]


def _run_data(name: str, content: str | bytes, *extra: str) -> Case:
    return lambda tmp: ["run", *tiny(tmp / "store"), f"data.source={_file(tmp, name, content)}", *extra]


def _run_model(name: str, content: bytes) -> Case:
    return lambda tmp: ["run", *tiny(tmp / "store"), f"model.name={_file(tmp, name, content)}"]


def _hf_dir(weights: bytes, config: bool = True) -> Case:
    def build(tmp: Path) -> list[str]:
        d = tmp / "hfmodel"
        d.mkdir()
        if config:
            (d / "config.json").write_text('{"model_type": "gpt2"}')
        (d / "model.safetensors").write_bytes(weights)
        return ["run", *tiny(tmp / "store"), f"model.name={d}"]

    return build


def _safetensors(truncate: int = 0) -> bytes:
    header = json.dumps({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}).encode()
    blob = len(header).to_bytes(8, "little") + header + b"\0" * 16
    return blob[: len(blob) - truncate] if truncate else blob


def _study(body: dict | str, *extra: str) -> Case:
    def build(tmp: Path) -> list[str]:
        text = body if isinstance(body, str) else yaml.safe_dump(body)
        return ["study", str(_file(tmp, "s.yaml", text)), *extra]

    return build


def _grid(**grid) -> Callable[[Path], dict]:
    return lambda tmp: {"name": "s", "base": _base(str(tmp / "store")), "grid": grid}


def _study_tree(make: Callable[[Path], dict], *extra: str) -> Case:
    def build(tmp: Path) -> list[str]:
        return ["study", str(_file(tmp, "s.yaml", yaml.safe_dump(make(tmp)))), *extra]

    return build


def _with_run_dir(setup: Callable[[Path], Path], *args: str) -> Case:
    """A store holding one damaged or foreign directory; `args` may name it as {dir}."""

    def build(tmp: Path) -> list[str]:
        d = setup(tmp / "store")
        return [a.replace("{dir}", str(d)).replace("{store}", str(tmp / "store")) for a in args]

    return build


def _foreign(store: Path) -> Path:
    d = store / "default" / "notarun"
    d.mkdir(parents=True)
    (d / "notes.txt").write_text("mine")
    return d


def _damaged_spec(store: Path) -> Path:
    d = store / "default" / "abc123abc123"
    d.mkdir(parents=True)
    (d / "spec.yaml").write_bytes(b"run_id: [unclosed\n")
    return d


def _half_eval(store: Path) -> Path:
    d = store / "default" / "abc123abc123"
    d.mkdir(parents=True)
    (d / "spec.yaml").write_text("run_id: abc123abc123\nconfig: {}\n")
    (d / "status.json").write_text('{"state": "done"}')
    (d / "eval.json").write_text('{"strategy": "uniform", "seed"')
    return d


def _damaged_allocation(store: Path) -> Path:
    d = _half_eval(store)
    (d / "eval.json").unlink()
    (d / "allocation.json").write_text('{"modules": [{"rank"')
    return d


def _binary_stats(store: Path) -> Path:
    d = _no_finished_runs(store)
    (d / "analysis").mkdir()
    (d / "analysis" / "stats.json").write_bytes(b"\xff\xfe{")
    return d


def _wrong_spec_id(store: Path) -> Path:
    """The directory of the tiny run's id holding a spec of another run id."""
    from loralab.config import load_config

    rid = load_config(None, tiny(store)).run_id()
    d = store / "default" / rid
    d.mkdir(parents=True)
    (d / "spec.yaml").write_text("run_id: abcdefabcdef\nconfig: {}\n")
    (d / "status.json").write_text('{"state": "pending"}')
    return d


def _no_finished_runs(store: Path) -> Path:
    d = store / "s" / "abc123abc123"
    d.mkdir(parents=True)
    (d / "spec.yaml").write_text(yaml.safe_dump({"run_id": "abc123abc123", "config": {}}))
    (d / "status.json").write_text('{"state": "failed"}')
    return d.parent


def _tar(members: dict[str, bytes]) -> Callable[[Path], list[str]]:
    def build(tmp: Path) -> list[str]:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            for name, data in members.items():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        return ["paper", "check", str(_file(tmp, "arxiv.tar.gz", buf.getvalue()))]

    return build


def _allocate(*args: str) -> Case:
    return lambda tmp: ["allocate", *args]


def _allocate_model(name: str, content: bytes, *args: str) -> Case:
    return lambda tmp: ["allocate", "--model", str(_file(tmp, name, content)), *args]


GOOD_ROW = {"instruction": "say hi", "input": "", "output": "hi"}

# (case id, CLI args from tmp_path, regex the one error line must match)
CASES: list[tuple[str, Case, str]] = [
    # --- config files and overrides ------------------------------------------------------------------
    ("config-missing", lambda t: ["config", str(t / "nope.yaml")], r"does not exist"),
    ("config-binary", _config(b"\x00\x01\x02\xff\xfe"), r"not (UTF-8 text|valid YAML)"),
    ("config-latin1", _config("train:\n  lr: 1e-4 # d\xe9j\xe0\n".encode("latin-1")), r"not UTF-8"),
    ("config-gzip", _config(gzip.compress(b"train: {}\n")), r"not (UTF-8 text|valid YAML)"),
    ("config-bad-yaml", _config("train: [1, 2\n"), r"not valid YAML"),
    ("config-tabs", _config("train:\n\tlr: 1\n"), r"not valid YAML"),
    ("config-list", _config("- a\n- b\n"), r"must hold a mapping"),
    ("config-scalar", _config("42\n"), r"must hold a mapping"),
    ("config-unknown-section", _config("trian: {lr: 1}\n"), r"trian: unknown key; did you mean 'train'"),
    ("config-unknown-key", _config("lora:\n  stratgy: uniform\n"), r"did you mean 'strategy'"),
    ("config-unknown-far", _config("lora:\n  zzz: 1\n"), r"lora.zzz: unknown key"),
    ("config-section-not-map", _config("train: 5\n"), r"train: .*(dictionary|mapping|instance)"),
    ("config-wrong-type", _config("train:\n  lr: fast\n"), r"train.lr: .*number"),
    ("config-python-tag", _config("train: !!python/object:os.system {}\n"), r"not valid YAML"),
    ("override-no-equals", _override("train.max_steps=3", "train.lr"), r"not key=value"),
    ("override-empty-key", _override("=3"), r"empty key"),
    ("override-unknown", _override("train.lrr=1"), r"did you mean 'lr'"),
    ("override-negative-steps", _override("train.max_steps=-1"), r"train.max_steps: .*greater than"),
    ("override-zero-batch", _override("train.batch_size=0"), r"train.batch_size"),
    ("override-dropout-1", _override("lora.dropout=1"), r"lora.dropout: .*less than"),
    ("override-warmup-ratio", _override("train.warmup_ratio=2"), r"train.warmup_ratio"),
    ("override-bad-precision", _override("train.precision=fp8"), r"train.precision"),
    ("override-bad-schedule", _override("train.schedule=wave"), r"train.schedule"),
    ("budget-garbage", _override("lora.budget=lots"), r"budget 'lots' is not understood"),
    ("budget-zero-rank", _override("lora.budget=r0"), r"not understood"),
    ("budget-percent-over", _override("lora.budget=150%"), r"not understood"),
    ("budget-fractional-count", _override("lora.budget=10.5"), r"not understood"),
    ("caps-contradict", _override("lora.min_rank=8", "lora.max_rank=4"), r"min_rank \(8\) is above"),
    ("targets-empty", _override("lora.targets=[]"), r"at least one module kind"),
    ("study-name-slash", _override("output.study=a/b"), r"plain directory name"),
    ("study-name-dotdot", _override("output.study=.."), r"plain directory name"),
    # --- strategies ------------------------------------------------------------------------------------
    ("strategy-unknown", _run("lora.strategy=unifrom"), r"unifrom.*(uniform|registered|known)"),
    ("strategy-option-unknown", _run("lora.strategy_options.bogus=1"), r"bogus"),
    ("budget-impossible", _run("lora.budget=1", "lora.min_rank=4"), r"budget|min_rank"),
    ("eval-fp16-on-cpu", _run("train.eval_precision=fp16", "train.device=cpu"), r"fp16 needs a CUDA"),
    ("train-fp16-on-cpu", _run("train.precision=fp16", "train.device=cpu"), r"precision=fp16 needs a CUDA"),
    # --- data ------------------------------------------------------------------------------------------
    ("data-missing", _run("data.source=/nonexistent/alpaca.json"), r"data file .* does not exist"),
    ("data-empty-file", _run_data("d.json", ""), r"not valid JSON"),
    ("data-empty-list", _run_data("d.json", "[]"), r"holds no records"),
    ("data-not-json", _run_data("d.json", "instruction: hi\n"), r"not valid JSON"),
    ("data-object", _run_data("d.json", '{"a": 1}'), r"holds a JSON dict"),
    (
        "data-wrong-fields",
        _run_data("d.json", json.dumps([{"prompt": "a", "answer": "b"}])),
        r"no 'instruction'",
    ),
    (
        "data-wrong-type",
        _run_data("d.json", json.dumps([{"instruction": 1, "output": "b"}])),
        r"not a string",
    ),
    (
        "data-not-utf8",
        _run_data("d.json", '[{"instruction": "caf\xe9"}]'.encode("latin-1")),
        r"not valid JSON",
    ),
    (
        "data-jsonl-bad-line",
        _run_data("d.jsonl", json.dumps(GOOD_ROW) + "\n{oops\n"),
        r"d.jsonl:2 is not valid JSON",
    ),
    ("data-bad-parquet", _run_data("d.parquet", b"PAR1garbage"), r"not a readable parquet"),
    ("data-csv", _run_data("d.csv", "a,b\n"), r"unsupported format"),
    ("data-rows-not-objects", _run_data("d.json", "[1, 2, 3]"), r"record 0 is a int"),
    (
        "data-val-set-all-records",
        _run("data.val_set_size=160"),
        r"val_set_size=160 asks for at least all 160 records.*below 160",
    ),
    (
        "data-val-set-over-file",
        _run_data("d.json", json.dumps([GOOD_ROW] * 30), "data.val_set_size=50"),
        r"val_set_size=50 .* all 30 records",
    ),
    (
        "data-val-set-over-max-examples",
        _run("data.max_examples=20", "data.val_set_size=20"),
        r"val_set_size=20 .* all 20 records",
    ),
    ("data-one-record", _run_data("d.json", json.dumps([GOOD_ROW])), r"cannot be split"),
    (
        "data-truncated-to-nothing",
        _run_data(  # 20 records: the tiny run's val_set_size=24 would be refused first
            "d.json",
            json.dumps([{"instruction": "word " * 400, "input": "", "output": "x"}] * 20),
            "data.val_set_size=4",
        ),
        r"no training examples left .* raise data.cutoff_len",
    ),
    ("data-hub-offline", _run("data.source=someone/some-dataset"), r"(hub|offline).*(local|synthetic)"),
    # --- models ----------------------------------------------------------------------------------------
    ("model-missing-gguf", _run("model.name=/nonexistent/m.gguf"), r"GGUF file .* does not exist"),
    ("model-missing-dir", _run("model.name=./no/such/model"), r"does not exist"),
    ("model-gguf-not-gguf", _run_model("m.gguf", b"not a gguf file at all"), r"not a GGUF file"),
    ("model-gguf-truncated", _run_model("m.gguf", b"GGUF\x03\x00\x00\x00\x05"), r"damaged or truncated GGUF"),
    ("model-safetensors-truncated", _hf_dir(_safetensors(truncate=8)), r"damaged or truncated safetensors"),
    ("model-safetensors-garbage", _hf_dir(b"\xff" * 64), r"damaged or truncated safetensors"),
    ("model-dir-no-config", _hf_dir(_safetensors(), config=False), r"no config.json"),
    (  # Llama-style models have separate q/k/v projections: no fused attn_qkv module to adapt
        "model-no-adaptable-modules",
        _run("model.name=tiny-llama", "lora.targets=[attn_qkv]"),
        r"matches no module; kinds here",
    ),
    (
        "model-hub-offline",
        _run("model.name=someone/some-model"),
        r"cannot load model .* from the Hugging Face hub \(offline.*HF_HUB_OFFLINE",
    ),
    # --- study files -----------------------------------------------------------------------------------
    ("study-missing", lambda t: ["study", str(t / "nope.yaml")], r"does not exist"),
    ("study-not-utf8", _study("name: caf\xe9\n".encode("latin-1").decode("latin-1")), r"."),
    ("study-list", _study("- a\n"), r"must hold a mapping"),
    ("study-empty-axis", _study_tree(_grid(**{"train.lr": []})), r"has no values"),
    (
        "study-not-mapping-grid",
        _study_tree(lambda t: {"name": "s", "base": _base(str(t / "store")), "grid": [1]}),
        r"grid",
    ),
    (
        "study-empty-strategies",
        _study_tree(_grid(strategies=[])),
        r"grid.strategies is empty; list at least one strategy or remove the key",
    ),
    (
        "study-empty-budgets",
        _study_tree(_grid(budgets=[])),
        r"grid.budgets is empty; list at least one budget",
    ),
    ("study-empty-seeds", _study_tree(_grid(seeds=[])), r"grid.seeds is empty; list at least one seed"),
    ("study-empty-seeds-override", _study_tree(_grid(seeds=[0]), "grid.seeds=[]"), r"grid.seeds is empty"),
    ("study-empty-field", _study_tree(_grid(fields={"train.lr": []})), r"has no values"),
    ("study-workers-zero", _study_tree(_grid(seeds=[0]), "--workers", "0"), r"--workers must be at least 1"),
    (
        "study-max-retries-negative",
        _study_tree(_grid(seeds=[0]), "--max-retries", "-1"),
        r"--max-retries must be at least 0",
    ),
    (
        "study-claim-timeout-zero",
        _study_tree(_grid(seeds=[0]), "--claim-timeout", "0"),
        r"--claim-timeout must be greater than 0",
    ),
    ("study-duplicate-seeds", _study_tree(_grid(seeds=[0, 0])), r"lists 0 more than once"),
    ("study-unknown-strategy", _study_tree(_grid(strategies=["uniform", "nope"])), r"nope"),
    ("study-unknown-grid-key", _study_tree(_grid(sedes=[0])), r"sedes"),
    ("study-bad-budget", _study_tree(_grid(budgets=["r8", "huge"])), r"'huge' is not understood"),
    (
        "study-bad-name",
        _study_tree(lambda t: {**_grid(seeds=[0])(t), "name": "../escape"}),
        r"plain directory",
    ),
    # --- demo ------------------------------------------------------------------------------------------
    (
        "demo-workers-zero",
        lambda t: ["demo", "--workers", "0", "--root", str(t / "store")],
        r"--workers .*at least 1",
    ),
    (
        "demo-workers-negative",
        lambda t: ["demo", "--workers", "-2", "--root", str(t / "store")],
        r"--workers",
    ),
    (
        "demo-steps-zero",
        lambda t: ["demo", "--steps", "0", "--root", str(t / "store")],
        r"--steps .*at least 1",
    ),
    # --- allocate: the run's checks, before the model loads ----------------------------------------------
    (
        "allocate-unknown-strategy",  # the model path does not exist either: the strategy is checked first
        _allocate("--strategy", "no-such-strategy", "--model", "/nonexistent/m.gguf"),
        r"no-such-strategy",
    ),
    ("allocate-option-unknown", _allocate("-o", "bogus=1", "--model", "/nonexistent/m.gguf"), r"bogus"),
    (
        "allocate-gguf-truncated",
        _allocate_model("m.gguf", b"GGUF\x03\x00\x00\x00\x05"),
        r"damaged or truncated GGUF",
    ),
    ("allocate-gguf-not-gguf", _allocate_model("m.gguf", b"not a gguf file at all"), r"not a GGUF file"),
    ("allocate-missing-gguf", _allocate("--model", "/nonexistent/m.gguf"), r"GGUF file .* does not exist"),
    # --- stores ----------------------------------------------------------------------------------------
    (
        "store-root-is-file",
        lambda t: ["run", *tiny(_file(t, "afile", "x"))],
        r"cannot create run directory",
    ),
    (
        "store-root-unwritable",
        lambda t: ["run", *tiny(Path("/proc/loralab-store"))],
        r"cannot create run directory",
    ),
    ("show-foreign-dir", _with_run_dir(_foreign, "show", "{dir}"), r"not a run directory"),
    ("show-damaged-spec", _with_run_dir(_damaged_spec, "show", "{dir}"), r"damaged"),
    (
        "show-damaged-allocation",
        _with_run_dir(_damaged_allocation, "show", "{dir}"),
        r"allocation.json is damaged",
    ),
    ("show-half-eval", _with_run_dir(_half_eval, "show", "{dir}"), r"eval.json is damaged"),
    (
        "run-spec-other-id",
        _with_run_dir(_wrong_spec_id, "run", *tiny(Path("{store}"))),
        r"names run abcdefabcdef",
    ),
    ("status-unknown-study", lambda t: ["status", "nope", "--root", str(t / "store")], r"no study 'nope'"),
    # --- analysis and paper ----------------------------------------------------------------------------
    ("analyze-missing", lambda t: ["analyze", str(t / "store" / "nope.yaml")], r"does not exist"),
    ("analyze-no-finished", _with_run_dir(_no_finished_runs, "analyze", "{dir}"), r"finished|done"),
    (
        "analyze-bad-confidence",
        _with_run_dir(_no_finished_runs, "analyze", "{dir}", "--confidence", "2"),
        r"--confidence",
    ),
    (
        "analyze-few-resamples",
        _with_run_dir(_no_finished_runs, "analyze", "{dir}", "--resamples", "5"),
        r"--resamples: .*greater than or equal to 100",
    ),
    (
        "compare-bad-margin",
        _with_run_dir(_no_finished_runs, "compare", "{dir}", "a", "b", "--margin", "-1%"),
        r"equivalence margin '-1%' is not a positive margin",
    ),
    (
        "analyze-alpha-one",
        _with_run_dir(_no_finished_runs, "analyze", "{dir}", "--alpha", "1"),
        r"--alpha: .*less than 1",
    ),
    (
        "analyze-negative-seed",
        _with_run_dir(_no_finished_runs, "analyze", "{dir}", "--seed", "-1"),
        r"--seed must be at least 0",
    ),
    (
        "compare-same-strategy",
        _with_run_dir(_no_finished_runs, "compare", "{dir}", "uniform", "uniform"),
        r"two different strategies .*'uniform'",
    ),
    ("paper-draft-unanalysed", _with_run_dir(_no_finished_runs, "paper", "draft", "{dir}"), r"analy"),
    (
        "paper-draft-binary-stats",
        _with_run_dir(_binary_stats, "paper", "draft", "{dir}"),
        r"stats.json is not valid JSON",
    ),
    ("paper-check-not-tar", lambda t: ["paper", "check", str(_file(t, "b.tar.gz", b"nope"))], r"."),
    ("paper-check-dotdot", _tar({"../evil.tex": b"x"}), r"\.\."),
    ("paper-check-absolute", _tar({"/etc/evil.tex": b"x"}), r"absolute"),
]
BAD_INPUTS = len(CASES)


@pytest.mark.parametrize(("args", "pattern"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_exit_2_and_store_unchanged(
    tmp_path: Path, cli, args: Case, pattern: str
) -> None:
    argv = args(tmp_path)
    before = snapshot(tmp_path / "store")
    result = cli(*argv)
    assert result.code == 2, f"exit {result.code}\nstdout: {result.out}\nstderr: {result.err}"
    assert "Traceback" not in result.err + result.out
    assert re.search(pattern, result.error_line), result.err
    assert snapshot(tmp_path / "store") == before


def test_at_least_fifty_cases() -> None:
    assert BAD_INPUTS >= 50


def test_debug_flag_shows_the_traceback(tmp_path: Path, cli) -> None:
    result = cli("--debug", "config", "train.lr=fast")
    assert result.code == 2
    assert "Traceback" in result.err and result.error_line.startswith("error: train.lr")


def test_hub_offline_answers_within_seconds(tmp_path: Path) -> None:
    """Without HF_HUB_OFFLINE, on a machine without network: one line, seconds, no retry messages."""
    import os
    import subprocess
    import sys
    import time

    from loralab.hub import hub_reachable

    if hub_reachable(1.0):
        pytest.skip("this machine reaches the hub: the offline case cannot be observed here")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_OFFLINE"))}
    t0 = time.monotonic()
    argv = [sys.executable, "-m", "loralab", "run", *tiny(tmp_path / "store"), "model.name=org/model"]
    env["XDG_CACHE_HOME"] = str(tmp_path)
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env)
    elapsed = time.monotonic() - t0
    assert proc.returncode == 2, proc.stderr
    assert "Retry" not in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stderr.strip().count("\n") == 0, proc.stderr
    assert "HF_HUB_OFFLINE" in proc.stderr and "smollm2" in proc.stderr
    assert elapsed < 30  # interpreter start and imports included; the hub probe itself is <= 3 s
    assert not (tmp_path / "store").exists()


def test_warnings_become_one_line_of_ours(capsys: pytest.CaptureFixture[str]) -> None:
    import warnings

    from loralab.notices import quiet_libraries

    saved = (warnings.showwarning, warnings.formatwarning, list(warnings.filters))
    try:
        quiet_libraries()
        warnings.warn("the tokenizer has no pad token\nsecond line", UserWarning, stacklevel=1)
        warnings.warn("old api", FutureWarning, stacklevel=1)
    finally:
        warnings.showwarning, warnings.formatwarning = saved[0], saved[1]
        warnings.filters[:] = saved[2]
    err = capsys.readouterr().err
    assert err == "warning: the tokenizer has no pad token\n"


# --- a study with one damaged run file: analysed without it, the file named in a warning line --------


def _gen_study(tmp_path: Path) -> Path:
    from tests.analysis.generated_store import generate_store

    effects = {"uniform": 0.0, "linear-decay": -0.03}
    return generate_store(tmp_path / "store", "gen", strategies=effects, seeds=(0, 1, 2), n_examples=40)


def _damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    path.write_bytes({"truncated": data[: len(data) // 2], "empty": b"", "garbage": b"PAR1 not parquet"}[how])


@pytest.mark.parametrize("how", ["truncated", "empty", "garbage"])
def test_analyze_names_a_damaged_eval_file_and_analyses_the_rest(tmp_path: Path, cli, how: str) -> None:
    from loralab.store import Store

    study_dir = _gen_study(tmp_path)
    damaged = sorted(Store(study_dir.parent).runs("gen"), key=lambda r: r.run_id)[0]
    _damage(damaged.eval_examples, how)
    before = snapshot(damaged.path)
    result = cli("analyze", str(study_dir), "--resamples", "200")
    assert result.code == 0, result.err
    assert "Traceback" not in result.err + result.out
    warnings = [line for line in result.err.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 1 and str(damaged.eval_examples) in warnings[0], result.err
    assert damaged.run_id in warnings[0] and "unreadable" in warnings[0]
    runs = pd.read_parquet(study_dir / "analysis" / "runs.parquet")
    row = runs[runs["run_id"] == damaged.run_id].iloc[0]
    assert not row["analysable"] and str(damaged.eval_examples) in row["error"]
    assert int(runs["analysable"].sum()) == 5
    assert snapshot(damaged.path) == before  # the damaged run is only read


def test_analysis_loader_survives_damaged_store_files(tmp_path: Path) -> None:
    """Damaged status, metrics, allocation and base-eval files of a done run: read around, not raised."""
    from loralab.analysis.load import load_study_dir
    from loralab.store import Store

    study_dir = _gen_study(tmp_path)
    rds = sorted(Store(study_dir.parent).runs("gen"), key=lambda r: r.run_id)
    rds[0].status_file.write_bytes(b"\xff\xfe[")
    rds[1].status_file.write_text("[1, 2]")
    rds[2].metrics.write_bytes(b"\xff\x00" + b'{"type": "train", "step": "x", "loss": 1}\n')
    rds[3].allocation.write_text('{"modules": [{"name": "a"}]}')
    _damage(rds[4].base_eval_examples, "truncated")
    seen: list[str] = []
    data = load_study_dir(study_dir, warn=seen.append)
    states = dict(zip(data.runs["run_id"], data.runs["state"], strict=True))
    assert states[rds[0].run_id] == states[rds[1].run_id] == "pending"
    assert rds[4].run_id in data.examples and rds[4].run_id not in data.base_examples
    assert len(seen) == 1 and str(rds[4].base_eval_examples) in seen[0]


def test_analyze_on_a_damaged_study_record_is_one_line(tmp_path: Path, cli) -> None:
    study_dir = _gen_study(tmp_path)
    (study_dir / "study.yaml").write_text("runs: [unclosed\n")
    before = snapshot(tmp_path / "store")
    result = cli("analyze", str(study_dir))
    assert result.code == 2 and "Traceback" not in result.err
    assert re.search(r"study.yaml is damaged", result.error_line), result.err
    assert snapshot(tmp_path / "store") == before


def test_a_saved_study_with_absent_axes_still_loads() -> None:
    """A study directory's study.yaml writes absent axes as [] (not a user's empty list)."""
    from loralab.runner.study import load_study

    saved = Path(__file__).parents[2] / "examples/alpaca-smollm2/store/alpaca-smollm2-fast-dropout"
    assert "strategies: []" in (saved / "study.yaml").read_text()
    assert load_study(saved).strategies


def test_val_set_size_is_checked_at_data_preparation_too() -> None:
    """The data stage refuses what preflight refuses; the default 2000 keeps its cap at 20%."""
    from loralab.config import DataConfig
    from loralab.data.prepare import prepare_records
    from loralab.data.synthetic import generate
    from loralab.data.tiny_tokenizer import build_tiny_tokenizer
    from loralab.errors import DataError

    records, tok = generate(30, seed=0), build_tiny_tokenizer()
    with pytest.raises(DataError, match=r"val_set_size=30 asks for at least all 30 records"):
        prepare_records(records, DataConfig(source="synthetic", val_set_size=30), tok)
    capped = prepare_records(records, DataConfig(source="synthetic"), tok)
    assert len(capped.eval) == 6

"""Dependencies point one way: a module imports only from its own layer or the layers before it.

data → models → strategies → adapters → train → evaluate → store → runner → analysis → paper → cli,
with `results` (the typed results contract: pydantic, no torch, nothing of loralab but `errors` and
`record`), `errors` and `record` below everything, `config`, `budget_spec` (plain schemas, no torch)
and `atomic` (file writes) usable from every layer, and `callbacks` (the training loop's protocol)
below `strategies` and `train`. The check reads every `import` in `loralab/` (function-level ones
too) with `ast`.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "loralab"

# Layer of each top-level module or package of loralab; the lowest first.
LAYERS: list[tuple[str, ...]] = [
    # the ground floor: the results contract, with the errors and the run record it builds on
    ("results", "errors", "record"),
    (
        "config",
        "atomic",
        "budget_spec",
        "fingerprint",
        "hub",
        "notices",
    ),  # usable everywhere
    ("data", "preflight"),  # preflight checks inputs (data, model headers) and needs only data below it
    ("models", "modules", "nll", "callbacks"),  # callbacks: the loop's protocol, for strategies and train
    ("strategies", "signals"),
    ("allocation", "allocation_report", "lora_dropout", "adapters"),
    ("train",),
    ("evaluate", "accuracy", "scoring"),
    ("store", "provenance"),
    ("runner", "experiment", "run"),  # run: one run's stages and the study cache they share
    ("analysis",),
    ("adaptive",),  # adaptive studies: runs looks (runner) and decides them (analysis)
    ("paper",),
    ("cli", "demo", "__main__", "__init__"),
]
LAYER = {name: i for i, names in enumerate(LAYERS) for name in names}

# Imports the layer order alone would allow but the design forbids: (importer prefix, imported prefix).
FORBIDDEN = [
    ("analysis", "runner"),  # what the analysis reads must not pull in the executor
    ("analysis", "experiment"),
    ("analysis", "run"),  # one run's stages: torch and the training loop
    ("analysis", "train"),
    ("paper", "runner"),
    ("paper", "experiment"),
    ("paper", "run"),
    ("paper", "train"),
    ("strategies.budget", "config"),  # one budget type, not two
    ("data.records", "data.synthetic"),
    ("data.synthetic", "data.records"),
]

# Imports against the flow that are known and not fixed yet, each with why; the test fails when one of
# them is fixed (remove it here) or a new one appears.
KNOWN: set[str] = set()


# What the ground floor may import of loralab: errors and the run record it re-exports.
RESULTS_MAY_IMPORT = ("errors", "record", "results")


def _module_name(path: Path, package: Path) -> str:
    parts = path.relative_to(package).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" and len(parts) > 1 else parts)


def _imports(path: Path, importer: str) -> list[tuple[int, str]]:
    """(line, loralab-relative module) of every loralab import in `path` (module `importer`)."""
    found = []
    package = importer.rsplit(".", 1)[0] if path.name != "__init__.py" else importer
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                names = [".".join([*base, node.module or ""]).strip(".")]
            else:
                names = [node.module or ""]
        else:
            continue
        for name in names:
            if name == "loralab" or name.startswith("loralab."):
                found.append((node.lineno, name.removeprefix("loralab").lstrip(".")))
            elif isinstance(node, ast.ImportFrom) and node.level:
                found.append((node.lineno, name))
    return found


def _covers(prefix: str, module: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def violations(package: Path = PACKAGE) -> list[str]:
    """Every import in `package` against the flow, as `file:line: a imports b (why)`."""
    problems = []
    for path in sorted(package.rglob("*.py")):
        importer = _module_name(path, package)
        top = importer.split(".")[0]
        if top not in LAYER:
            problems.append(
                f"{path.relative_to(package.parent)}: module {top!r} has no layer; add it to LAYERS"
            )
            continue
        for line, imported in _imports(path, importer):
            if not imported:
                continue
            where = f"{path.relative_to(package.parent)}:{line}: {importer} imports {imported}"
            target = imported.split(".")[0]
            if target not in LAYER:
                problems.append(f"{where} (unknown module; add it to LAYERS)")
            elif target != top and LAYER[target] > LAYER[top]:
                problems.append(
                    f"{where} (a later layer: {LAYERS[LAYER[target]]} after {LAYERS[LAYER[top]]})"
                )
            for a, b in FORBIDDEN:
                if _covers(a, importer) and _covers(b, imported) and not _covers(b, importer):
                    problems.append(f"{where} (forbidden: {a} must not import {b})")
    return problems


def test_results_is_the_ground_floor():
    """loralab.results imports nothing of loralab but errors and record, and no torch at all."""
    problems = []
    for path in sorted((PACKAGE / "results").rglob("*.py")):
        importer = _module_name(path, PACKAGE)
        for line, imported in _imports(path, importer):
            if imported.split(".")[0] not in RESULTS_MAY_IMPORT:
                problems.append(f"{path.name}:{line}: {importer} imports loralab.{imported}")
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            names += [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            problems += [
                f"{path.name}:{node.lineno}: imports {n}" for n in names if n.split(".")[0] == "torch"
            ]
    assert not problems, problems
    assert LAYER["results"] == LAYER["errors"] == LAYER["record"] == 0


def test_every_import_in_loralab_follows_the_flow():
    problems = violations()
    known = {p for p in problems if any(_same(p, k) for k in KNOWN)}
    new = [p for p in problems if p not in known]
    assert not new, "imports against the flow (docs/architecture.md):\n" + "\n".join(new)
    fixed = [k for k in KNOWN if not any(_same(p, k) for p in problems)]
    assert not fixed, f"fixed, remove from KNOWN: {fixed}"


def _same(problem: str, known: str) -> bool:
    """`file:line: a imports b (why)` matches `file: a imports b` whatever the line."""
    where, _, rest = problem.partition(": ")
    return f"{where.split(':')[0]}: {rest.split(' (')[0]}" == known


@pytest.mark.parametrize(
    ("module", "source", "expected"),
    [
        ("analysis/load.py", "from loralab.store import Store\nfrom loralab.record import RunRecord\n", ""),
        ("analysis/load.py", "from loralab.runner.claims import read_claim\n", "forbidden: analysis"),
        ("analysis/stats.py", "def f():\n    from loralab.train import train\n", "forbidden: analysis"),
        ("paper/build.py", "from loralab.analysis import load\n", ""),
        ("paper/build.py", "from loralab.experiment import execute_run\n", "forbidden: paper"),
        ("analysis/load.py", "from loralab.run.result import is_done\n", "forbidden: analysis"),
        ("data/tokenize.py", "from loralab.models import load_model\n", "a later layer"),
        ("train/loop.py", "from loralab.store import RunDir\n", "a later layer"),
        ("strategies/budget.py", "from loralab.config import LoraConfig\n", "forbidden: strategies.budget"),
        ("data/records.py", "from .synthetic import generate\n", "forbidden: data.records"),
    ],
)
def test_the_check_catches_imports_against_the_flow(tmp_path: Path, module: str, source: str, expected: str):
    root = tmp_path / "loralab"
    path = root / module
    path.parent.mkdir(parents=True)
    path.write_text(source)
    problems = violations(root)
    assert (expected in "\n".join(problems)) if expected else not problems, problems


def import_cycles(package: Path = PACKAGE) -> list[list[str]]:
    """Every cycle of modules in `package` that import each other (function-level imports too)."""
    paths = {_module_name(p, package): p for p in sorted(package.rglob("*.py"))}

    def resolve(name: str) -> str:  # `from loralab.x import y`: y may be a module or a name in x
        while name and name not in paths:
            name = name.rpartition(".")[0]
        return name

    graph = {m: sorted({resolve(i) for _, i in _imports(p, m)} - {m, ""}) for m, p in paths.items()}
    cycles, seen = [], set()
    for start in graph:  # a DFS from each module back to itself; the package is small
        stack, visited = [(start, [start])], {start}
        while stack:
            node, path = stack.pop()
            for nxt in graph[node]:
                if nxt == start and frozenset(path) not in seen:
                    seen.add(frozenset(path))
                    cycles.append(path)
                elif nxt not in visited:
                    visited.add(nxt)
                    stack.append((nxt, [*path, nxt]))
    return cycles


def test_no_import_cycles():
    """No two modules of loralab import each other, directly or through others."""
    assert not import_cycles(), import_cycles()


def test_the_cycle_check_finds_a_cycle(tmp_path: Path):
    root = tmp_path / "loralab"
    (root / "strategies").mkdir(parents=True)
    (root / "strategies" / "a.py").write_text("def f():\n    from loralab.strategies.b import g\n")
    (root / "strategies" / "b.py").write_text("from loralab.strategies.a import f\n")
    assert import_cycles(root) == [["strategies.a", "strategies.b"]]


# Modules that must not pull in torch, even indirectly: the store and what every layer may use are read
# by the CLI's quick commands and by the analysis, which should start in a fraction of a second.
TORCH_FREE = (
    "results",
    "record",
    "errors",
    "config",
    "budget_spec",
    "fingerprint",
    "hub",
    "notices",
    "store",
)


def test_the_store_and_the_schemas_import_no_torch():
    """Importing every module of `TORCH_FREE` in a fresh interpreter loads neither torch nor transformers."""
    names = []
    for top in TORCH_FREE:
        path = PACKAGE / top
        files = sorted(path.rglob("*.py")) if path.is_dir() else [path.with_suffix(".py")]
        names += ["loralab." + _module_name(f, PACKAGE) for f in files]
    code = (
        f"import importlib, sys\nfor n in {names!r}: importlib.import_module(n)\n"
        "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", (names, out.stdout)

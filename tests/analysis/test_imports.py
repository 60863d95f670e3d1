"""The analysis imports no training code: not the runner, not the training loop, not torch."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import loralab.analysis

PACKAGE = Path(loralab.analysis.__file__).parent
# modules: the pure naming of adapted modules (no torch); results: the typed store files
ALLOWED = (
    "loralab.analysis",
    "loralab.store",
    "loralab.record",
    "loralab.results",
    "loralab.modules",
    "loralab.config",
    "loralab.errors",
)


def test_analysis_modules_import_only_the_store_record_and_config():
    for path in sorted(PACKAGE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                if name.startswith("loralab"):
                    assert name.startswith(ALLOWED), f"{path.name} imports {name}"
                assert name.split(".")[0] != "torch", f"{path.name} imports torch"


def test_importing_the_analysis_loads_no_training_module():
    modules = [f"loralab.analysis.{p.stem}" for p in sorted(PACKAGE.glob("*.py")) if p.stem != "__init__"]
    code = (
        f"import sys, importlib; [importlib.import_module(m) for m in {modules!r}];"
        "bad = [m for m in sys.modules if m == 'torch' or m.startswith(('loralab.runner', 'loralab.train'))];"
        "print(','.join(bad))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ""

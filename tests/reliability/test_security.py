"""Point 4: no code runs from data, nothing is written outside the store, user strings are escaped."""

from __future__ import annotations

import ast
import io
import os
import tarfile
from pathlib import Path

import pytest

from loralab.config import load_config
from loralab.errors import LoralabError, StoreError
from loralab.store import Store

PACKAGE = Path(__file__).resolve().parents[2] / "loralab"


def _calls(name: str) -> list[tuple[str, ast.Call]]:
    found = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                f = node.func
                dotted = f"{getattr(f.value, 'id', '?')}.{f.attr}" if isinstance(f, ast.Attribute) else ""
                if dotted == name or getattr(f, "id", None) == name:
                    found.append((str(path.relative_to(PACKAGE)), node))
    return found


def _kw(call: ast.Call, name: str) -> object:
    for k in call.keywords:
        if k.arg == name:
            return k.value.value if isinstance(k.value, ast.Constant) else "<expr>"
    return None


def test_torch_load_only_with_weights_only() -> None:
    loads = _calls("torch.load")
    assert loads, "the checkpoint reader should be found"
    assert all(_kw(c, "weights_only") is True for _, c in loads), loads


# Known and guarded, with why; the test fails when one goes away (remove it here) or a new one appears.
KNOWN_UNSAFE = {
    # the study cache unpickles only values whose HMAC under this user's key verifies, so a store from
    # elsewhere cannot run code (tests/run/test_cache.py::test_a_pickle_this_user_did_not_sign_...)
    ("pickle.loads", "run/cache.py"),
}
UNSAFE = ("yaml.load", "yaml.unsafe_load", "yaml.full_load", "pickle.load", "pickle.loads", "eval", "exec")


def test_no_unsafe_deserialisers() -> None:
    for name in UNSAFE:
        found = {(name, where) for where, _ in _calls(name)}
        assert found == {k for k in KNOWN_UNSAFE if k[0] == name}, name


def test_trust_remote_code_only_from_the_config() -> None:
    assert load_config(None, []).model.trust_remote_code is False
    for fn in ("from_pretrained",):
        for where, call in _calls(f"AutoModelForCausalLM.{fn}") + _calls(f"AutoTokenizer.{fn}"):
            value = _kw(call, "trust_remote_code")
            assert value in (None, "<expr>"), f"{where}: trust_remote_code={value}"


def test_latex_runs_without_shell_escape() -> None:
    from loralab.paper.latex import PDFLATEX_FLAGS

    assert "-no-shell-escape" in PDFLATEX_FLAGS
    sources = "".join(p.read_text() for p in PACKAGE.rglob("*.py"))
    assert "-shell-escape" not in sources.replace("-no-shell-escape", "")


@pytest.mark.parametrize("name", ["..", "../x", "a/b", "/abs", ".hidden", "a\0b", ""])
def test_run_ids_and_study_names_cannot_leave_the_store(tmp_path: Path, name: str) -> None:
    store = Store(tmp_path / "store")
    with pytest.raises(StoreError, match="not a plain directory name"):
        store.run_dir(name, "abc")
    with pytest.raises(StoreError, match="not a plain directory name"):
        store.run_dir("study", name)
    with pytest.raises(LoralabError):
        load_config(None, [f"output.study={name}"])


def test_symlinks_in_the_store_are_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    store = Store(tmp_path / "store")
    (store.root / "study").mkdir(parents=True)
    os.symlink(outside, store.root / "study" / "abc")
    with pytest.raises(StoreError, match="symbolic link"):
        store.create("study", "abc", {"run_id": "abc"})
    os.symlink(outside, store.root / "linked")
    with pytest.raises(StoreError, match="symbolic link"):
        store.create("linked", "abc", {"run_id": "abc"})
    (outside / "spec.yaml").write_text("run_id: abc\n")
    assert list(store.runs()) == []  # a linked run directory is never read as a run
    assert sorted(p.name for p in outside.iterdir()) == ["spec.yaml"]


@pytest.mark.parametrize("member", ["../evil.tex", "/tmp/evil.tex", "link.tex"])
def test_arxiv_bundle_refuses_escaping_members(tmp_path: Path, member: str) -> None:
    from loralab.paper.bundle import safe_extract

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo(member)
        if member == "link.tex":
            info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        else:
            info.size = 1
        tar.addfile(info, io.BytesIO(b"x") if info.size else None)
    bundle = tmp_path / "b.tar.gz"
    bundle.write_bytes(buf.getvalue())
    with pytest.raises(LoralabError):
        safe_extract(bundle, tmp_path / "out")
    assert not (tmp_path / "evil.tex").exists() and not Path("/tmp/evil.tex").exists()


EVIL = "<script>alert(1)</script>"


def test_escapes_in_latex_and_markdown() -> None:
    from loralab.paper.escape import latex_escape, md_escape

    tex = latex_escape(r"\input{/etc/passwd} \write18{rm -rf /} 50% $x$ #1 _a ^b ~ &")
    assert "\\input" not in tex and "\\write18" not in tex
    for raw in ("%", "$", "#", "&"):
        assert f"\\{raw}" in tex
    md = md_escape(f"{EVIL} [link](javascript:alert(1)) *b*")
    import re

    assert not re.search(r"(?<!\\)[<>\[\]*]", md), md  # every markup character is backslash-escaped


def test_html_report_escapes_a_smuggled_strategy_name(tmp_path: Path, cli) -> None:
    pytest.importorskip("matplotlib")
    from tests.analysis.generated_store import generate_store

    generate_store(tmp_path / "store", "evil", strategies={"uniform": 0.0, EVIL: -0.02}, seeds=(0, 1, 2))
    result = cli("analyze", str(tmp_path / "store" / "evil"), "--resamples", "200")
    assert result.code == 0, result.err
    html = (tmp_path / "store" / "evil" / "analysis" / "report.html").read_text()
    assert EVIL not in html
    assert "alert(1)" not in html or "&lt;script&gt;alert(1)" in html or "\\u003cscript" in html


def test_results_files_get_ordinary_permissions(tmp_path: Path) -> None:
    """mkstemp makes 0600 files; results are 0644 minus the process umask, directories 0755 minus it."""
    import pandas as pd

    from loralab import atomic

    atomic.atomic_write_text(tmp_path / "a.json", "{}")
    atomic.atomic_write_parquet(tmp_path / "a.parquet", pd.DataFrame({"x": [1]}))
    staged = tmp_path / ".staged"
    staged.mkdir(mode=0o700)
    atomic.replace_dir(staged, tmp_path / "adapter")
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o644 & ~atomic._UMASK
    assert (tmp_path / "a.parquet").stat().st_mode & 0o777 == 0o644 & ~atomic._UMASK
    assert (tmp_path / "adapter").stat().st_mode & 0o777 == 0o755 & ~atomic._UMASK

"""The arXiv bundle: reproducible bytes, and a check that compiles it as arXiv would."""

import io
import json
import tarfile

import pytest

from loralab.errors import PaperError
from loralab.paper import check_bundle, write_paper
from loralab.paper.bundle import README_NAME, safe_extract, write_tarball
from tests.paper.conftest import needs_latex
from tests.paper.study import make_study


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A study whose paper was built with LaTeX: (bundle path, its members)."""
    if not needs_latex.args[0]:
        study = make_study(tmp_path_factory.mktemp("bundle") / "runs")
        out = write_paper(study)
        with tarfile.open(out.bundle) as tar:
            members = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}
        return out.bundle, members
    pytest.skip(needs_latex.kwargs["reason"])


@pytest.mark.latex
def test_bundle_holds_what_arxiv_needs_and_nothing_else(built):
    bundle, members = built
    assert set(members) == {"paper.tex", "numbers.tex", "paper.bbl", "figures/eval-loss.pdf", README_NAME}
    readme = json.loads(members[README_NAME])
    assert readme == {
        "process": {"compiler": "pdflatex"},
        "sources": [{"filename": "paper.tex", "usage": "toplevel"}],
    }
    with tarfile.open(bundle) as tar:
        for m in tar.getmembers():
            assert not m.name.startswith("/") and ".." not in m.name.split("/")
            assert m.isfile() or m.isdir()
            assert m.mtime == 315532800 and m.uid == 0 and m.uname == ""
        files = [m.name for m in tar.getmembers() if m.isfile()]
        assert files == sorted(files)
    assert bundle.read_bytes()[4:8] == b"\x00\x00\x00\x00"  # gzip header mtime 0


@pytest.mark.latex
def test_check_passes_on_a_real_bundle(built):
    result = check_bundle(built[0])
    assert result.toplevel == "paper.tex" and result.pages and result.pages >= 3


def _variant(tmp_path, members, name="broken.tar.gz"):
    return write_tarball(tmp_path / name, members)


@pytest.mark.latex
def test_check_fails_on_a_missing_figure(built, tmp_path):
    members = dict(built[1])
    del members["figures/eval-loss.pdf"]
    with pytest.raises(PaperError, match=r"eval-loss\.pdf' not found"):
        check_bundle(_variant(tmp_path, members))


@pytest.mark.latex
def test_check_fails_on_an_undefined_reference(built, tmp_path):
    members = dict(built[1])
    members["paper.tex"] = members["paper.tex"].replace(
        b"\\end{document}", b"See \\ref{fig:nope}.\n\\end{document}"
    )
    with pytest.raises(PaperError, match=r"Reference `fig:nope' on page \d+ undefined"):
        check_bundle(_variant(tmp_path, members))


@pytest.mark.latex
def test_check_fails_on_an_undefined_citation(built, tmp_path):
    members = dict(built[1])
    members["paper.tex"] = members["paper.tex"].replace(
        b"\\end{document}", b"\\citep{nosuch2099}\n\\end{document}"
    )
    with pytest.raises(PaperError, match="nosuch2099"):
        check_bundle(_variant(tmp_path, members))


@pytest.mark.latex
def test_check_fails_without_the_bbl(built, tmp_path):
    members = dict(built[1])
    del members["paper.bbl"]
    with pytest.raises(PaperError, match=r"paper\.bbl|Citation"):
        check_bundle(_variant(tmp_path, members))


@pytest.mark.latex
def test_check_fails_on_a_latex_error(built, tmp_path):
    members = dict(built[1])
    members["paper.tex"] = members["paper.tex"].replace(b"\\end{document}", b"\\nosuchmacro\n\\end{document}")
    with pytest.raises(PaperError, match="Undefined control sequence"):
        check_bundle(_variant(tmp_path, members))


@pytest.mark.latex
def test_check_fails_on_a_file_outside_the_bundle(built, tmp_path):
    members = dict(built[1])
    members["paper.tex"] = members["paper.tex"].replace(
        b"\\end{document}", b"\\input{/etc/hostname}\n\\end{document}"
    )
    with pytest.raises(PaperError, match="not found"):
        check_bundle(_variant(tmp_path, members))


def _raw_tar(path, add):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        data = b"\\documentclass{article}\\begin{document}x\\end{document}\n"
        info = tarfile.TarInfo("paper.tex")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
        add(tar)
    path.write_bytes(buf.getvalue())
    return path


def _file(name):
    def add(tar):
        info = tarfile.TarInfo(name)
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))

    return add


def _link(name, target, kind):
    def add(tar):
        info = tarfile.TarInfo(name)
        info.type, info.linkname = kind, target
        tar.addfile(info)

    return add


@pytest.mark.parametrize(
    "add, why",
    [
        (_file("/tmp/abs.tex"), "absolute path"),
        (_file("../escape.tex"), r"outside the bundle \('\.\.'\)"),
        (_file("figures/../../escape.tex"), r"outside the bundle"),
        (_link("figures/f.pdf", "/etc/passwd", tarfile.SYMTYPE), "is a link"),
        (_link("figures/g.pdf", "paper.tex", tarfile.LNKTYPE), "is a link"),
        (_link("dev", "", tarfile.CHRTYPE), "not a regular file"),
    ],
)
def test_unsafe_members_are_refused_before_anything_is_written(tmp_path, add, why):
    bundle = _raw_tar(tmp_path / "bad.tar", add)
    dest = tmp_path / "out"
    dest.mkdir()
    with pytest.raises(PaperError, match=why):
        safe_extract(bundle, dest)
    assert not (tmp_path / "escape.tex").exists()
    assert not (dest / "figures" / "f.pdf").is_symlink()


def test_check_refuses_a_bundle_without_readme(tmp_path):
    bundle = _raw_tar(tmp_path / "noreadme.tar", lambda tar: None)
    with pytest.raises(PaperError, match=README_NAME):
        check_bundle(bundle)


def test_not_a_tarball(tmp_path):
    p = tmp_path / "x.tar.gz"
    p.write_bytes(b"not a tarball")
    with pytest.raises(PaperError, match="not a readable tarball"):
        safe_extract(p, tmp_path)


def test_tarball_bytes_are_reproducible(tmp_path):
    members = {"b.tex": b"b", "a/x.pdf": b"x", "00README.json": b"{}"}
    one = write_tarball(tmp_path / "1.tar.gz", members).read_bytes()
    two = write_tarball(tmp_path / "2.tar.gz", dict(reversed(list(members.items())))).read_bytes()
    assert one == two


def test_overfull_boxes_counts_those_over_10pt_and_the_widest():
    from loralab.paper.latex import overfull_boxes

    log = (
        "Overfull \\hbox (67.88841pt too wide) in paragraph at lines 203--204\n"
        "Overfull \\hbox (3.5pt too wide) in paragraph at lines 9--10\n"
        "Overfull \\hbox (12.0pt too wide) in alignment at lines 1--2\n"
        "Overfull \\vbox (40.0pt too high) has occurred\n"
    )
    assert overfull_boxes(log) == (2, 67.88841)
    assert overfull_boxes("") == (0, 0.0)

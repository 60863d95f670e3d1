import importlib.util
import shutil
from pathlib import Path

import pytest

from tests.paper.study import make_study

_MISSING_EXTRA = [m for m in ("pypandoc", "matplotlib") if importlib.util.find_spec(m) is None]


def pytest_collection_modifyitems(config, items):
    """Without the [paper] extra (pandoc via pypandoc-binary, matplotlib) the paper tests skip, saying so."""
    if not _MISSING_EXTRA:
        return
    skip = pytest.mark.skip(reason=f"{', '.join(_MISSING_EXTRA)} not installed: pip install 'loralab[paper]'")
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(skip)


LATEX_MISSING = [t for t in ("latexmk", "pdflatex", "bibtex") if shutil.which(t) is None]
needs_latex = pytest.mark.skipif(
    bool(LATEX_MISSING),
    reason=f"LaTeX not installed ({', '.join(LATEX_MISSING)} missing): apt-get install latexmk"
    " texlive-latex-recommended texlive-fonts-recommended lmodern",
)


@pytest.fixture
def study(tmp_path):
    """A study directory with three strategies, one significant comparison and one not."""
    return make_study(tmp_path / "runs")


@pytest.fixture
def analysed(tmp_path):
    """A generated store (two budgets, four strategies) analysed by the real `loralab analyze` pipeline."""
    pytest.importorskip("scipy", reason="the analysis needs the [analysis] extra (scipy, statsmodels)")
    pytest.importorskip("statsmodels", reason="the analysis needs the [analysis] extra (scipy, statsmodels)")
    from loralab.analysis.pipeline import analyze
    from loralab.analysis.schema import Settings
    from tests.analysis.generated_store import generate_store

    accuracy = {"uniform": 0.5, "linear-decay": 0.8, "attention-heavy": 0.5, "spectrum": 0.2}
    study_dir = generate_store(
        tmp_path / "runs", "gen", budgets=("r4", "r8"), n_examples=60, accuracy=accuracy
    )
    analyze(study_dir, settings=Settings(n_resamples=500))
    return study_dir


@pytest.fixture(params=["fixture", "analysed"])
def any_study(request):
    """Both the hand-made study and one analysed by the real pipeline."""
    return request.getfixturevalue("study" if request.param == "fixture" else "analysed")

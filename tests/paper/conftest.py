import shutil

import pytest

from tests.paper.study import make_study

LATEX_MISSING = [t for t in ("latexmk", "pdflatex", "bibtex") if shutil.which(t) is None]
needs_latex = pytest.mark.skipif(
    bool(LATEX_MISSING),
    reason=f"LaTeX not installed ({', '.join(LATEX_MISSING)} missing): apt-get install latexmk"
    " texlive-latex-recommended texlive-latex-extra texlive-fonts-recommended lmodern",
)


@pytest.fixture
def study(tmp_path):
    """A study directory with three strategies, one significant comparison and one not."""
    return make_study(tmp_path / "runs")

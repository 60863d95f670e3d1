"""report.html in a real headless Chromium: loads with no console errors, every image renders."""

from __future__ import annotations

from pathlib import Path

import pytest

from loralab.analysis.pipeline import analyze
from loralab.analysis.schema import Settings

from .chromium import CHROMIUM, load_page
from .generated_store import generate_store


@pytest.fixture(scope="module")
def analysed(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("report")
    directory = generate_store(
        root, seeds=(0, 1, 2, 3, 4), budgets=("r4", "r8"), states={("spectrum", "r8", 4): "failed"}
    )
    _, out = analyze(directory, settings=Settings(n_resamples=1000))
    return out


def test_report_is_self_contained(analysed: Path):
    page = (analysed / "report.html").read_text()
    assert "http://" not in page and "https://" not in page  # no network
    assert page.count("data:image/png;base64,") == 8  # every figure inline
    assert "Incomplete study" in page and "<details>" in page and "class='sortable'" in page


def test_figures_appear_in_one_order_with_the_captions_of_one_list(analysed: Path):
    import html
    import re

    from loralab.analysis import report
    from loralab.analysis.figures import FIGURES

    page = (analysed / "report.html").read_text()
    shown = re.findall(r"<figure><img alt='([^']*)'.*?<figcaption>(.*?)</figcaption>", page)
    assert [name for name, _ in shown] == [f.name for f in FIGURES if f.name in dict(shown)]
    captions = {f.name: html.escape(f.caption, quote=True) for f in FIGURES}
    assert all(caption == captions[name] for name, caption in shown)
    assert shown[0][0] == "forest" and not hasattr(report, "FIGURE_CAPTIONS")


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (.ci/run installs it with apt-get)")
def test_report_renders_in_headless_chromium(analysed: Path):
    shot = analysed / "report_screenshot.png"
    result = load_page(analysed / "report.html", shot)
    assert result.errors == []
    assert len(result.images) == 8
    assert all(img["complete"] and img["naturalWidth"] > 0 for img in result.images), result.images
    assert result.title == "loralab study gen"
    assert shot.stat().st_size > 10_000


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (.ci/run installs it with apt-get)")
def test_the_browser_check_sees_errors_and_broken_images(tmp_path: Path):
    bad = tmp_path / "bad.html"
    bad.write_text(
        "<html><body><img src='data:image/png;base64,AAAA'>"
        "<script>console.error('boom'); notDefined();</script></body></html>"
    )
    result = load_page(bad, tmp_path / "bad.png")
    assert len(result.errors) == 2 and "boom" in result.errors[0]
    assert result.images[0]["naturalWidth"] == 0

"""report.html: its head (setup from the records, verdicts with their intervals, wording that fits a
one-run study), no local path anywhere, and a real headless Chromium that loads it without errors."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

from loralab.analysis.pipeline import analyze
from loralab.analysis.schema import Settings, StudyStats
from loralab.store import Store

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


def _head(page: str) -> str:
    """The head section as plain text (tags dropped, entities decoded)."""
    section = page[page.index("<section id='head'>") : page.index("</section>")]
    return html.unescape(re.sub(r"<[^>]+>", " ", re.sub(r"</?b>", "", section)))


def _setup(page: str) -> dict[str, str]:
    section = page[page.index("<table class='setup'>") : page.index("</table>")]
    return {
        html.unescape(k): html.unescape(v) for k, v in re.findall(r"<th>(.*?)</th><td>(.*?)</td>", section)
    }


@pytest.fixture(scope="module")
def local_inputs(tmp_path_factory) -> tuple[Path, Path]:
    """A study whose data file and GGUF model are local paths under the tmp dir; (root, analysis dir)."""
    root = tmp_path_factory.mktemp("local-inputs")
    inputs = {"data": {"source": str(root / "inputs" / "my_data.json")}}
    inputs["model"] = {"name": str(root / "inputs" / "SmolLM2-135M-Instruct.Q4_K_M.gguf")}
    inputs["train"] = {"batch_size": 4, "grad_accum": 2}
    directory = generate_store(
        root, seeds=(0, 1, 2), strategies={"uniform": 0.0, "linear-decay": -0.05}, config=inputs
    )
    _, out = analyze(directory, settings=Settings(n_resamples=200))
    return root, out


def test_head_shows_the_setup_of_the_records(local_inputs):
    root, out = local_inputs
    setup = _setup((out / "report.html").read_text())
    records = [rd.read_record() for rd in Store(root).runs("gen")]
    assert setup["train split"] == f"{records[0].data.n_train:,}"
    assert setup["examples seen"] == f"{records[0].train_steps * 8:,}"  # batch 4 × 2 accumulated
    assert setup["eval examples"] == f"{records[0].eval_examples:,}"
    assert setup["steps"] == str(records[0].train_steps)
    assert setup["budget"] == f"r8 ({records[0].budget_params:,} params)"
    assert setup["model"] == "SmolLM2-135M-Instruct.Q4_K_M.gguf (GGUF Q4_K_M, de-quantised for training)"
    assert setup["data"] == "my_data.json"
    assert setup["batch"] == "4 × 2 accumulated = 8"
    assert setup["seeds"] == "3 seeds (0, 1, 2)"
    assert setup["baseline"] == "uniform" and setup["strategies"] == "uniform, linear-decay"


def test_no_local_path_anywhere_in_the_report(local_inputs):
    root, out = local_inputs
    page = (out / "report.html").read_text()
    assert str(root) not in page and "/inputs/" not in page
    assert "my_data.json" in page  # the drill-down names the data source


def test_head_gives_each_verdict_with_its_interval_and_delta(analysed: Path):
    page = (analysed / "report.html").read_text()
    head = _head(page)
    stats = StudyStats.model_validate_json((analysed / "stats.json").read_text())
    words = {"better": "better", "worse": "worse", "equivalent": "equivalent within δ"}
    for c in stats.comparisons:
        interval = f"[{c.difference_ci.low:.4f}, {c.difference_ci.high:.4f}]"
        line = (
            f"{c.a} vs {c.b} ({c.context_label}): {words.get(c.verdict, c.verdict)}; Δ = {c.difference:.4f}"
        )
        assert f"{line}, simultaneous 95% interval {interval}, δ = ±{c.margin:.4f}" in head
    assert head.index("Setup") < head.index("Verdicts")
    assert page.index("<section id='head'>") < page.index("<h2>Figures</h2>")
    assert "Bonferroni" in head  # how the verdicts were reached


@pytest.mark.parametrize(
    ("strategies", "seeds", "reason"),
    [
        ({"uniform": 0.0}, (0,), "One run; nothing to compare."),
        ({"uniform": 0.0}, (0, 1), "One strategy (uniform); nothing to compare it with."),
        ({"uniform": 0.0, "spectrum": -0.01}, (0,), "No verdicts: one seed per comparison"),
    ],
)
def test_studies_without_verdicts_say_why_in_their_own_words(tmp_path, strategies, seeds, reason):
    directory = generate_store(tmp_path, strategies=strategies, seeds=seeds)
    _, out = analyze(directory, settings=Settings(n_resamples=200))
    page = (out / "report.html").read_text()
    head = _head(page)
    assert reason in head
    assert "Bonferroni" not in page and "over 0 comparison" not in page and "in bold" not in page
    assert ("one seed (0)" in head) == (len(seeds) == 1)
    if len(seeds) == 1:
        assert "One seed: the loss interval resamples eval examples only" in head
    if len(strategies) == 1:  # nothing compared: the empty comparison tables are left out
        assert "id='comparisons'" not in page and "id='per_seed'" not in page
        assert "Δ vs uniform" not in page and "<th>verdict</th>" not in page  # no columns of dashes
    assert str(tmp_path) not in page


def test_the_first_screen_states_a_secondary_metrics_verdicts_in_its_unit(tmp_path):
    from loralab.analysis.load import load_study_dir
    from loralab.analysis.report_head import head_html, secondary_verdict_lines
    from loralab.analysis.schema import Settings
    from loralab.analysis.study_stats import study_stats

    from .generated_store import generate_store

    accuracy = {"uniform": 0.5, "linear-decay": 0.8, "attention-heavy": 0.5, "spectrum": 0.2}
    data = load_study_dir(generate_store(tmp_path, seeds=(0, 1, 2, 3), accuracy=accuracy))
    stats = study_stats(data, Settings(n_resamples=300))
    (section,) = stats.secondary
    lines = secondary_verdict_lines(stats, section)
    up = next(c for c in section.comparisons if c.a == "linear-decay")
    line = next(x for x in lines if x.startswith("linear-decay"))
    assert f"better; Δ = {100 * up.difference:+.1f} pp" in line and "δ = ±1.0 pp" in line
    html = head_html(stats, data)
    assert "Verdicts on exact-match accuracy (secondary)" in html and "The base model scores" in html
    assert "exact_match_by_task" in html

"""The paper pipeline on a real study directory: numbers, references, citations, escaping, rebuilds."""

import json
import re
import shutil
import subprocess

import pytest

from loralab.analysis.schema import Convergence
from loralab.errors import PaperError
from loralab.paper import build_paper, draft_paper, write_paper
from loralab.paper.convert import pandoc_path
from loralab.paper.facts import collect_facts
from loralab.paper.inputs import load_inputs
from tests.paper.conftest import needs_latex
from tests.paper.study import make_study


def _option_expected(study, source: str):
    """A strategy option: the spec.yaml of one of that strategy's runs, else the strategy's default."""
    import yaml

    from loralab.strategies import strategy_class

    m = re.fullmatch(
        r"spec\.yaml: config\.lora\.strategy_options\.(\w+) \(runs of (.+); its default when absent\)", source
    )
    option, strategy = m.group(1), m.group(2)
    for spec in sorted(study.glob("*/spec.yaml")):
        lora = yaml.safe_load(spec.read_text())["config"]["lora"]
        if lora["strategy"] == strategy:
            if option in lora["strategy_options"]:
                return lora["strategy_options"][option]
            break
    return strategy_class(strategy).Options().model_dump()[option]


def _expected(raw_stats: dict, spec_config: dict, source: str, study=None):
    """The value a number's source names, read independently from stats.json or spec.yaml."""
    if source.startswith("spec.yaml: config.lora.strategy_options."):
        return _option_expected(study, source)
    if " × " in source:  # a product of spec fields
        product = 1
        for factor in source.removeprefix("spec.yaml: ").split(" (")[0].split(" × "):
            product *= _expected(raw_stats, spec_config, "spec.yaml: " + factor)
        return product
    if source.startswith("spec.yaml: config.lora.alpha / r_ref"):  # one budget's alpha scaling
        budget = source.rsplit(" ", 1)[1]
        return spec_config["lora"]["alpha"] / int(budget.removeprefix("r"))
    if source.startswith("spec.yaml: config."):
        value = spec_config
        for part in source.removeprefix("spec.yaml: config.").split(" ")[0].split("."):
            value = value[part]
        return value
    if "eval.json: " in source:
        return _record_expected(study, source)
    path = source.removeprefix("stats.json: ")
    if path.endswith(" (× 100)"):  # a fraction printed in % or percentage points
        return 100 * _expected(raw_stats, spec_config, source.removesuffix(" (× 100)"), study)
    family = [c for c in raw_stats["comparisons"] if c["kind"] == "vs_baseline"]
    if path.startswith("comparisons[kind=vs_baseline, verdict="):
        verdict = path.split("verdict=")[1].split("]")[0]
        ends = [c["difference_ci"] for c in family if c["verdict"] == verdict and c["difference_ci"]]
        return min(e["low"] for e in ends) if path.endswith("(min)") else max(e["high"] for e in ends)
    if path == "comparisons[kind=vs_baseline].difference_ci (largest |end|)":
        return max(abs(c["difference_ci"][e]) for c in family if c["difference_ci"] for e in ("low", "high"))
    if path.startswith("summaries[].sd"):
        sds = [c["sd"] for c in raw_stats["summaries"] if c["sd"] is not None]
        return min(sds) if path.endswith("(min)") else max(sds)
    if path == "convergence.total_steps - start_step":
        return raw_stats["convergence"]["total_steps"] - raw_stats["convergence"]["start_step"]
    if path.startswith("convergence.") and path.endswith(" (count)"):
        return len(raw_stats["convergence"][path.split(".")[1].split(" ")[0]])
    if path.startswith("comparisons[kind=vs_baseline].verdict == "):
        verdict = path.split("== ")[1].split(" ")[0]
        return sum(c["verdict"] == verdict for c in raw_stats["comparisons"] if c["kind"] == "vs_baseline")
    if path == "summaries[].strategy (count)":
        return len({c["strategy"] for c in raw_stats["summaries"]})
    if path.startswith("summaries[].trainable_params ((max - min) / max within each context"):
        by: dict = {}
        for c in raw_stats["summaries"]:
            if c["trainable_params"]:
                context = tuple(sorted((k, str(v)) for k, v in c["cell"].items() if "strategy" not in k))
                by.setdefault(context, []).append(c["trainable_params"])
        return 100 * max((max(p) - min(p)) / max(p) for p in by.values() if len(p) > 1)
    if path == "coverage[].expected_seeds (count)":
        return sum(len(r["expected_seeds"]) for r in raw_stats["coverage"])
    if path == "summaries[].seeds (count)":
        return len({s for c in raw_stats["summaries"] for s in c["seeds"]})
    value = raw_stats
    for part in path.split("."):
        name, _, idx = part.partition("[")
        value = value[name]
        if idx:
            value = value[int(idx.rstrip("]"))]
    return value


def _record_expected(study, source: str):
    """A value of eval.json: one run's (`<run>/eval.json: field`) or the one all runs share."""
    where, _, field = source.partition("eval.json: ")
    runs = [study / where.rstrip("/")] if where else [p.parent for p in study.glob("*/eval.json")]
    values = []
    for run in runs:
        record = json.loads((run / "eval.json").read_text())
        if field.startswith("(total_params - trainable_params) / 1e6"):
            values.append(round((record["total_params"] - record["trainable_params"]) / 1e6, 1))
        else:
            value = record
            for part in field.split(" ")[0].split("."):
                value = value[part]
            values.append(value)
    assert len(set(values)) == 1, source
    return values[0]


def _agrees(text: str, expected, kind: str, decimals: int) -> bool:
    """Printed `text` equals `expected` at the stated rounding."""
    text = text.strip()
    if kind == "text":
        want = "yes" if expected is True else "no" if expected is False else str(expected)
        return text == want
    if kind == "int":
        return int(text) == round(expected)
    if kind in ("p", "prel"):
        text = text.removeprefix("=").strip() if kind == "prel" else text
        if text.startswith("<"):
            return expected < float(text.lstrip("< "))
        return abs(float(text) - expected) <= 0.5e-3 + 1e-12
    if kind == "percent":
        return abs(float(text) - 100 * expected) <= 0.5 * 10**-decimals + 1e-9
    if kind == "g":
        return float(text) == pytest.approx(expected, rel=1e-5)
    return abs(float(text) - expected) <= 0.5 * 10**-decimals + 1e-12


def _latex_to_text(body: str) -> str:
    return (
        body.replace("\\ensuremath{-}", "-")
        .replace("\\ensuremath{<}\\,", "< ")
        .replace("\\_", "_")
        .replace("\\%", "%")
        .replace("\\&", "&")
    )


def test_every_number_in_md_and_tex_equals_stats_json(any_study):
    study = any_study
    facts = collect_facts(load_inputs(study))
    numbers = list(facts.numbers)
    # A draft quoting every number once, each on a line we can find again in both outputs.
    lines = [
        f"Number{chr(65 + i // 26)}{chr(65 + i % 26)} is {{{{num:{n.key}}}}} here.\n"
        for i, n in enumerate(numbers)
    ]
    (study / "paper").mkdir()
    (study / "paper" / "draft.md").write_text("---\ntitle: Numbers\n---\n\n" + "\n".join(lines))
    build_paper(study, pdf=False)

    raw = json.loads((study / "analysis" / "stats.json").read_text())
    spec = next(p for p in study.glob("*/spec.yaml"))
    import yaml

    config = yaml.safe_load(spec.read_text())["config"]
    md = (study / "paper" / "paper.md").read_text()
    tex = (study / "paper" / "paper.tex").read_text()
    defined = dict(
        re.findall(r"\\newcommand\{\\([A-Za-z]+)\}\{(.*)\}", (study / "paper" / "numbers.tex").read_text())
    )
    assert len(defined) == len(numbers)
    for i, n in enumerate(numbers):
        tag = f"Number{chr(65 + i // 26)}{chr(65 + i % 26)} is "
        expected = _expected(raw, config, n.source, study)
        md_value = (
            re.search(re.escape(tag) + r"(.*?) here\.", md).group(1).replace("\\<", "<").replace("\\_", "_")
        )
        assert _agrees(md_value, expected, n.kind, n.decimals), (n.key, md_value, expected)
        macro = re.search(re.escape(tag) + r"\\([A-Za-z]+)\{\} here\.", tex).group(1)
        assert _agrees(_latex_to_text(defined[macro]), expected, n.kind, n.decimals), (n.key, defined[macro])


def test_generated_draft_types_no_numbers_and_tex_uses_only_defined_macros(any_study):
    study = any_study
    out = write_paper(study, pdf=False)
    draft = out.draft.read_text()
    prose = re.sub(r"\{\{(num|claim):[^{}]+\}\}", "", draft)
    prose = re.sub(r"`[^`]*`", "", prose)  # run ids, commit, budget names
    assert not re.search(r"\d\.\d{2,}", prose), re.search(r".{40}\d\.\d{2,}.{20}", prose)
    assert "{{num:" in draft
    stats = json.loads((study / "analysis" / "stats.json").read_text())
    decided = any(
        c["verdict"] in ("better", "worse") for c in stats["comparisons"] if c["kind"] == "vs_baseline"
    )
    verdict_claims = draft.replace("{{claim:interactions}}", "")  # the strategy × budget sentence
    assert ("{{claim:" in verdict_claims) == decided  # a claim sentence for each better or worse verdict
    assert ("{{claim:interactions}}" in draft) == bool(stats["interactions"])
    tex = out.tex.read_text()
    defined = set(re.findall(r"\\newcommand\{\\([A-Za-z]+)\}", out.numbers.read_text()))
    used = set(re.findall(r"\\(LL[A-Za-z]+)\{\}", tex))
    assert used and used <= defined
    assert "{{" not in tex and "{{" not in out.markdown.read_text()


def test_claims_in_the_paper_follow_the_verdicts(study):
    out = write_paper(study, pdf=False)
    md = out.markdown.read_text()
    plain = " ".join(md.split())
    assert "**linear-decay** is better than **uniform**" in plain
    assert "**attention-heavy** (1 of 2) remains unresolved: its interval" in plain  # grouped by verdict
    assert "significant" not in plain.lower()


@pytest.mark.latex
@needs_latex
def test_pdf_builds_and_every_reference_resolves(any_study):
    study = any_study
    out = write_paper(study)
    assert out.pdf is not None and out.pdf.stat().st_size > 10_000 and out.pdf_skipped is None
    log = (study / "paper" / "build" / "paper.log").read_text()
    assert "undefined" not in log.lower()
    tex = out.tex.read_text()
    refs = set(re.findall(r"\\ref\{([^}]*)\}", tex))
    labels = set(re.findall(r"\\label\{([^}]*)\}", tex))
    assert refs and refs <= labels
    assert {"fig:eval-loss", "tbl:cells", "tbl:comparisons", "sec:method"} <= refs
    md = out.markdown.read_text()
    assert not re.search(r"@(fig|tbl|sec):", md)
    assert re.search(r"\[Figure \d+\]\(#fig:eval-loss\)", md) and "figures/eval-loss.png" in md
    first = "forest" if (study / "analysis" / "figures" / "forest.pdf").exists() else "eval-loss"
    assert f"[Figure 1](#fig:{first})" in md  # the forest plot, where there is one, comes first
    assert (study / "paper" / "paper.bbl").read_text().count("\\bibitem") >= 10


def test_unknown_citation_fails_before_latex(study):
    draft = draft_paper(study)
    draft.write_text(draft.read_text() + "\nAs shown before [@nosuch2099].\n")
    with pytest.raises(PaperError, match="unknown citation key @nosuch2099"):
        build_paper(study)
    assert not (study / "paper" / "paper.tex").exists()
    assert not (study / "paper" / "build").exists()


def test_unresolved_reference_fails(study):
    draft = draft_paper(study)
    draft.write_text(draft.read_text() + "\nSee @fig:nope.\n")
    with pytest.raises(PaperError, match="unresolved reference @fig:nope"):
        build_paper(study, pdf=False)


def test_a_users_bib_is_merged(study):
    draft = draft_paper(study)
    draft.write_text(draft.read_text() + "\nAs shown before [@mine2024].\n")
    (study / "paper" / "mine.bib").write_text("@misc{mine2024, author={Me}, title={Mine}, year={2024}}\n")
    out = build_paper(study, pdf=False)
    assert "mine2024" in out.bib.read_text() and "\\citep{mine2024}" in out.tex.read_text()


NASTY_STRATEGY = "my_strat%&#${x}~^\\"
NASTY_STUDY = "st_u%d&y#${1}~^\\"


@pytest.mark.latex
@needs_latex
def test_special_characters_survive_into_markdown_latex_and_pdf(tmp_path):
    study = make_study(
        tmp_path,
        study=NASTY_STUDY,
        strategies=("uniform", NASTY_STRATEGY),
        significant={NASTY_STRATEGY: True},
    )
    out = write_paper(study)
    assert out.pdf is not None
    plain = subprocess.run(
        [pandoc_path(), "-f", "markdown", "-t", "plain", "-s", "--wrap=none"],
        input=out.markdown.read_text(),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert NASTY_STRATEGY in plain and NASTY_STUDY in plain
    if shutil.which("pdftotext"):
        text = subprocess.run(["pdftotext", str(out.pdf), "-"], capture_output=True, text=True).stdout
        # pandoc writes ^ as \^{}, which pdftotext reads back as the spacing circumflex U+02C6
        text = text.replace("\n", " ").replace("\u02c6", "^")
        assert NASTY_STRATEGY in text
        assert NASTY_STUDY in text


def test_rebuild_from_unchanged_store_is_identical(study):
    first = write_paper(study)
    tex, bundle = first.tex.read_bytes(), first.bundle.read_bytes()
    second = write_paper(study)
    assert second.tex.read_bytes() == tex
    assert second.bundle.read_bytes() == bundle
    assert second.numbers.read_text() == first.numbers.read_text()


def test_draft_is_never_overwritten_once_edited(study):
    draft = draft_paper(study)
    draft_paper(study)  # unedited: regenerating is fine
    draft.write_text(draft.read_text().replace("# Discussion", "# Discussion\n\nMy own words.\n"))
    with pytest.raises(PaperError, match=r"edited.*--force"):
        draft_paper(study)
    out = write_paper(study, pdf=False)  # the demo path keeps the edit too
    assert "My own words." in out.draft.read_text() and "My own words." in out.tex.read_text()
    draft_paper(study, force=True)
    assert "My own words." not in draft.read_text()


def test_without_latex_everything_but_the_pdf_is_written(study, monkeypatch):
    import loralab.paper.latex as latex

    monkeypatch.setattr(latex.shutil, "which", lambda tool: None)
    out = write_paper(study)
    assert out.pdf is None and "apt-get install" in out.pdf_skipped
    for p in (out.draft, out.markdown, out.tex, out.numbers, out.bib, out.bundle):
        assert p.is_file()
    import tarfile

    with tarfile.open(out.bundle) as tar:
        names = tar.getnames()
    assert "references.bib" in names and "paper.bbl" not in names


def test_missing_analysis_says_what_to_run(tmp_path):
    (tmp_path / "s").mkdir()
    with pytest.raises(PaperError, match="loralab analyze"):
        build_paper(tmp_path / "s")


def test_limitations_follow_the_study(tmp_path):
    study = make_study(tmp_path, strategies=("uniform", "adalora"), significant={})
    text = " ".join(draft_paper(study).read_text().split())
    # from the recorded peak, not from the strategy's name: one limitation per dynamic cell
    assert "adalora changes its ranks during training" in text and "uniform changes" not in text
    built = " ".join(write_paper(study, pdf=False).markdown.read_text().split())
    assert "its trainable parameters peak at 185" in built and "before they are cut to 123" in built
    assert "single base model" in text and "would need these numbers of seeds to resolve" in text
    assert "(Zhang et al. 2023): prune SVD triplets" in text or "AdaLoRA (Zhang et al. 2023)" in text


def test_a_study_with_only_the_baseline_still_builds(tmp_path):
    study = make_study(tmp_path, strategies=("uniform",), significant={})
    out = write_paper(study, pdf=False)
    md = " ".join(out.markdown.read_text().split())
    assert "The study has no comparison with the baseline: only one strategy has finished runs" in md
    assert "The study holds no comparison between strategies" in md  # the abstract says so too
    assert (
        "We train one rank-allocation strategy (uniform)" in md and "Table" not in md.split("Results")[1][:60]
    )


def test_title_and_authors_come_from_the_study_file(tmp_path):
    paper = {
        "title": "Rank & budget: 50% less",
        "authors": [
            {"name": "Ada Lovelace", "affiliation": "Analytical Engines Ltd"},
            {"name": "Émile Borel", "affiliation": None},
        ],
    }
    study = make_study(tmp_path, paper=paper)
    lines: list[str] = []
    out = write_paper(study, progress=lines.append)
    tex = out.tex.read_text()
    assert "Ada Lovelace\\\\ Analytical Engines Ltd \\and Émile Borel" in tex
    assert "Rank \\& budget: 50\\% less" in tex and "loralab}" not in tex
    assert not any("placeholder" in line for line in lines)
    if shutil.which("pdfinfo") and out.pdf is not None:
        info = subprocess.run(["pdfinfo", str(out.pdf)], capture_output=True, text=True).stdout
        assert "Rank & budget: 50% less" in info and "Ada Lovelace, Émile Borel" in info


def test_the_placeholder_author_is_warned_about(study):
    lines: list[str] = []
    out = write_paper(study, pdf=False, progress=lines.append)
    assert "\\author{Anonymous}" in out.tex.read_text() and "pdfauthor={Anonymous}" in out.tex.read_text()
    assert sum("placeholder 'Anonymous'" in line for line in lines) == 1


def test_setup_paragraph_names_model_data_file_and_counts_without_a_path(tmp_path):
    source = "/home/someone/private data/alpaca_data.json"
    study = make_study(tmp_path, data_source=source)
    draft = " ".join(draft_paper(study).read_text().split())
    assert "{{num:cfg.seen}} training examples: {{num:cfg.steps}} optimizer steps $\\times$ batch" in draft
    assert "The eval set holds {{num:cell.cell-uniform.examples}} examples" in draft
    assert "eval loss of {{num:cell.cell-uniform.base}} nats/token" in draft
    assert "policy `ratio`" in draft and "scaling $\\alpha/r$" in draft
    md = " ".join(write_paper(study, pdf=False).markdown.read_text().split())
    assert "`alpaca_data.json`" in md
    assert "/home" not in md and "private data" not in md and "someone" not in md
    for part in source.split("/")[1:-1]:  # no directory of the path, and no path at all
        assert f"/{part}" not in md
    # 40 steps × batch 8 × accumulation 1, each from spec.yaml
    assert "sees 320 training examples: 40 optimizer steps $\\times$ batch size 8 $\\times$ gradient" in md
    assert "holds 64 examples" in md and "eval loss of 2.500 nats/token" in md


def _limitations(study) -> str:
    text = " ".join(draft_paper(study, force=True).read_text().split())
    return text.split("# Limitations", 1)[1].split("# Reproducibility", 1)[0]


@pytest.mark.parametrize(
    ("model", "quantised"),
    [("smollm2-135m", True), ("/models/deep/dir/tiny.Q8_0.gguf", True), ("tiny-gpt2", False)],
)
def test_quantised_base_model_limitation_only_when_it_is(tmp_path, model, quantised):
    lim = _limitations(make_study(tmp_path, model=model))
    assert ("loaded from a quantised GGUF file" in lim) is quantised
    assert ("(Q4_1)" in lim) is (model == "smollm2-135m")
    assert "/models" not in lim and "deep/dir" not in lim
    if model.endswith(".gguf"):
        assert "`tiny.Q8_0.gguf`" in lim
    assert "single base model" in lim  # the single-model limitation stays


def test_shared_signals_limitation_only_for_data_driven_strategies(tmp_path):
    lim = _limitations(make_study(tmp_path / "a", strategies=("uniform", "gradient", "spectrum")))
    assert "signals measured once on the base model and shared by every seed" in lim
    assert "(**gradient**, **spectrum**)" in lim
    lim = _limitations(make_study(tmp_path / "b"))
    assert "shared by every seed" not in lim and "single data set" in lim


def test_formulas_are_math_and_commit_hashes_are_short(tmp_path):
    study = make_study(tmp_path, strategies=("uniform", "gradient"))
    for i, spec in enumerate(sorted(study.glob("*/spec.yaml"))):
        import yaml

        data = yaml.safe_load(spec.read_text())
        data["provenance"]["git_commit"] = f"{i:x}" * 40 + ("+dirty" if i % 2 else "")
        spec.write_text(yaml.safe_dump(data, sort_keys=False))
    out = write_paper(study, pdf=False)
    tex = out.tex.read_text()
    assert "\\^{}" not in tex and "\\textasciitilde" not in tex
    assert "\\(\\propto\\)" in tex and "\\(^{\\mathrm{temperature}}\\)" in tex
    assert "1111111+dirty" in tex and "0000000}" in tex and "0" * 8 not in tex


def test_strategy_options_are_listed_with_their_values_through_macros(tmp_path):
    import yaml

    study = make_study(tmp_path, strategies=("uniform", "linear-decay", "gradient"))
    for spec in study.glob("*/spec.yaml"):
        data = yaml.safe_load(spec.read_text())
        if data["config"]["lora"]["strategy"] == "linear-decay":
            data["config"]["lora"]["strategy_options"] = {"ratio": 4.5}
            spec.write_text(yaml.safe_dump(data, sort_keys=False))
    draft = " ".join(draft_paper(study).read_text().split())
    assert "Default options" not in draft
    assert "Options: `ratio` = {{num:opt.linear-decay.ratio}}." in draft  # from the run spec
    assert "`method` = `taylor`, `n_batches` = {{num:opt.gradient.n-batches}}" in draft  # defaults
    md = " ".join(write_paper(study, pdf=False).markdown.read_text().split())
    assert "`ratio` = 4.5." in md and "`n_batches` = 8," in md
    facts = collect_facts(load_inputs(study))
    for n in facts.numbers:
        if n.key.startswith("opt."):
            assert n.value == _expected({}, {}, n.source, study), n.key


def _curve(drop: float, falling: bool) -> Convergence:
    return Convergence(
        study="demo", strategy="uniform", seeds=[0], eval_steps=[0, 10, 20, 30, 40], total_steps=40,
        start_step=30, loss_base=2.3, loss_start=2.0 + drop, loss_end=2.0, drop=drop, drop_ci=None,
        still_falling=falling,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("convergence", "present", "absent"),
    [
        (None, "Convergence was not measured", "had not converged"),
        (_curve(0.05, True), "Training had not converged", "Convergence was not measured"),
        (_curve(0.001, False), "as the learning rate decayed to zero", "had not converged"),
    ],
    ids=["no-curve", "still-falling", "flattened"],
)
def test_the_convergence_limitation_appears_exactly_when_it_holds(tmp_path, convergence, present, absent):
    out = write_paper(make_study(tmp_path, convergence=convergence), pdf=False)
    md = " ".join(out.markdown.read_text().split())
    limitations = md.split("# Limitations")[1].split("# Conclusion")[0]
    assert present in limitations and absent not in md
    abstract = md.split("abstract: |")[1].split("author:")[0]
    if convergence is not None and convergence.still_falling:
        assert "Training had not converged: the baseline's eval loss still fell by 0.0500" in abstract
    discussion = md.split("# Discussion")[1].split("# Limitations")[0]
    if convergence is not None:
        assert "over the last 10 of 40 steps it fell by" in discussion
        assert f"{convergence.drop:.4f}" in discussion


def test_figures_follow_the_one_list_of_the_analysis(study):
    from dataclasses import replace

    from loralab.analysis.figures import FIGURES
    from loralab.paper import results

    inputs = load_inputs(study)
    names = ["eval_loss", "zz_new", "train_curve", "forest", "curves"]
    artifacts = inputs.stats.artifacts.model_copy(
        update={"figures": {n: [f"figures/{n}.pdf", f"figures/{n}.png"] for n in names}}
    )
    inputs = replace(inputs, stats=inputs.stats.model_copy(update={"artifacts": artifacts}))
    markdown, labels = results._figures(inputs)
    assert [name for name, _ in labels] == ["forest", "curves", "train_curve", "eval_loss", "zz_new"]
    assert "grey band: $\\pm \\delta$;" in markdown  # the caption of FIGURES, its symbols as math
    assert "±" not in markdown and "δ" not in markdown and "×" not in markdown  # pdflatex reads none
    assert "![Zz new.](figures/zz-new.pdf)" in markdown  # a figure of a newer analysis: its name
    assert {f.name for f in FIGURES} <= set(results.FIGURE_SENTENCES)  # a sentence for every figure
    assert not hasattr(results, "FIGURE_CAPTIONS")


def test_a_one_run_study_is_worded_as_one_run(tmp_path):
    """One strategy, one seed (a learning-curve study): no "1 seeds", "1 runs" or pairing talk."""
    study = make_study(tmp_path, strategies=("uniform",), significant={}, seeds=(0,))
    md = " ".join(write_paper(study, pdf=False).markdown.read_text().split())
    assert "with one seed each" in md and "trained with one seed;" in md
    assert "holds one run, of which 1 finished and was analysed" in md
    assert "1 seeds" not in md and "1 runs" not in md and "were analysed" not in md
    assert "paired differences" not in md.split("# Results")[1].split("# Discussion")[0]


def test_a_six_by_three_study_is_worded_in_plurals(tmp_path):
    strategies = ("uniform", "linear-decay", "attention-heavy", "mlp-heavy", "gradient", "spectrum")
    study = make_study(tmp_path, strategies=strategies, significant={"linear-decay": True})
    md = " ".join(write_paper(study, pdf=False).markdown.read_text().split())
    assert "with 3 seeds each" in md and "trained with 3 seeds;" in md
    assert "holds 18 runs, of which 18 finished and were analysed" in md


def test_a_secondary_metric_has_its_subsection_and_a_sentence_in_the_abstract(analysed):
    from loralab.analysis.schema import StudyStats

    stats = StudyStats.model_validate_json((analysed / "analysis" / "stats.json").read_text())
    (section,) = stats.secondary
    out = write_paper(analysed, pdf=False)
    md = out.markdown.read_text()
    assert (
        "## Exact-match accuracy (secondary outcome)" in md
        or "Exact-match accuracy (secondary outcome)" in md
    )
    abstract = md.split("# Introduction")[0]
    assert "On exact-match accuracy, a secondary outcome judged as its own family" in abstract
    for c in section.comparisons:
        if c.verdict in ("better", "worse"):
            assert f"{c.a} {c.verdict}" in abstract or f"and {c.a} {c.verdict}" in abstract
    assert "forest-exact-match" in md and "family of their own" in md

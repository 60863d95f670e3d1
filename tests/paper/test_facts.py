"""Claims follow the statistics: the verdict is the primary test's, with effect, CI and caveat."""

import json

import pytest
import yaml

from loralab.paper.facts import claim_sentence, collect_facts, slug
from loralab.paper.inputs import load_inputs
from tests.paper.study import make_stats


def _comparison(**update):
    stats = make_stats("s", ["uniform", "linear-decay"], "uniform", {"linear-decay": True})
    return stats, stats.comparisons[0].model_copy(update=update)


def test_significant_and_lower():
    stats, c = _comparison(significant=True, difference=-0.01, p_adjusted=0.002)
    text = claim_sentence(c, "cmp.k", stats)
    assert "reached a lower eval loss than **uniform**" in text
    assert "Holm-adjusted $p$ {{num:cmp.k.padjrel}}" in text
    assert "{{num:cmp.k.diff}}" in text and "{{num:cmp.k.difflo}}" in text and "{{num:cmp.k.diffhi}}" in text
    assert "no significant" not in text


def test_significant_and_higher():
    stats, c = _comparison(significant=True, difference=0.02, p_adjusted=0.01)
    assert "reached a higher eval loss than" in claim_sentence(c, "cmp.k", stats)


def test_not_significant_says_so_with_effect_and_ci():
    stats, c = _comparison(significant=False, difference=-0.05, p_adjusted=0.2, g_z=None)
    text = claim_sentence(c, "cmp.k", stats)
    assert "no significant difference in eval loss from **uniform**" in text
    assert "lower" not in text and "higher" not in text
    assert "[{{num:cmp.k.difflo}}, {{num:cmp.k.diffhi}}]" in text


def test_untestable_comparison_is_no_significant_difference():
    stats, c = _comparison(significant=False, p_adjusted=None, p_primary=None)
    text = claim_sentence(c, "cmp.k", stats)
    assert "no significant difference" in text and "padj" not in text


def test_example_level_primary_test_carries_the_caveat():
    stats, c = _comparison(caveat="seed variance not covered")
    assert "Caveat: seed variance not covered." in claim_sentence(c, "cmp.k", stats)
    _, c2 = _comparison(caveat=None, primary_test="example_permutation")
    assert "Caveat: seed variance not covered." in claim_sentence(c2, "cmp.k", stats)
    _, c3 = _comparison(caveat=None, primary_test="seed_t")
    assert "Caveat" not in claim_sentence(c3, "cmp.k", stats)


def test_benjamini_hochberg_is_named_and_cited():
    stats, c = _comparison()
    stats = stats.model_copy(update={"settings": stats.settings.model_copy(update={"correction": "fdr_bh"})})
    text = claim_sentence(c, "cmp.k", stats)
    assert "Benjamini–Hochberg-adjusted" in text and "@benjamini1995fdr" in text


def _resolve_source(stats_json: dict, source: str):
    """Follow 'stats.json: comparisons[2].difference_ci.low' into the raw JSON."""
    path = source.removeprefix("stats.json: ")
    value = stats_json
    for part in path.split("."):
        name, _, idx = part.partition("[")
        value = value[name]
        if idx:
            value = value[int(idx.rstrip("]"))]
    return value


def test_every_number_has_its_stats_json_value(study):
    inputs = load_inputs(study)
    facts = collect_facts(inputs)
    raw = json.loads((study / "analysis" / "stats.json").read_text())
    checked = 0
    for n in facts.numbers:
        if not n.source.startswith("stats.json: ") or "[]" in n.source or "(count)" in n.source:
            continue
        expected = _resolve_source(raw, n.source)
        if n.kind == "text":
            assert n.value == ("yes" if expected is True else "no" if expected is False else expected)
        elif n.kind == "int":
            assert n.value == round(expected)
        else:
            assert n.value == pytest.approx(expected, abs=0), n.key
        checked += 1
    assert checked > 30


def test_slug_is_safe_for_any_name():
    assert slug("a_b%c&d#e$f{g}h~i^j\\k") == "a-b-c-d-e-f-g-h-i-j-k"
    assert slug("!!!") == "x"


def test_the_method_names_the_dropout_masks_the_runs_used(study):
    from loralab.paper.draft import render_draft

    inputs = load_inputs(study)
    fast = render_draft(inputs, collect_facts(inputs))  # the fixture's runs: today's default masks
    assert "LoRA dropout" in fast and "16 random bits per element" in fast
    for spec_path in study.glob("*/spec.yaml"):  # runs made before the field existed: torch's masks
        spec = yaml.safe_load(spec_path.read_text())
        del spec["config"]["lora"]["dropout_rng"]
        spec_path.write_text(yaml.safe_dump(spec))
    inputs = load_inputs(study)
    torch_masks = render_draft(inputs, collect_facts(inputs))
    assert "LoRA dropout" in torch_masks and "random bits" not in torch_masks

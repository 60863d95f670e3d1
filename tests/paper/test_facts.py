"""Claims follow the statistics: the verdict, with effect, the interval it rests on and caveat."""

import json

import pytest
import yaml

from loralab.paper.facts import claim_sentence, collect_facts, slug
from loralab.paper.inputs import load_inputs
from tests.paper.study import make_stats


def _comparison(**update):
    stats = make_stats("s", ["uniform", "linear-decay"], "uniform", {"linear-decay": True})
    return stats, stats.comparisons[0].model_copy(update=update)


def test_better_states_the_verdict_with_its_interval():
    stats, c = _comparison(verdict="better", difference=-0.01)
    text = claim_sentence(c, "cmp.k", stats)
    assert "**linear-decay** is better than **uniform**" in text
    assert "simultaneous {{num:study.simconf}}% interval [{{num:cmp.k.difflo}}, {{num:cmp.k.diffhi}}]" in text
    assert "significant" not in text


def test_worse_and_equivalent():
    stats, c = _comparison(verdict="worse", difference=0.02)
    assert "is worse than **uniform**" in claim_sentence(c, "cmp.k", stats)
    _, c = _comparison(verdict="equivalent", difference=0.0001)
    assert "is equivalent to **uniform** within $\\delta$ = {{num:study.margin}}" in claim_sentence(
        c, "cmp.k", stats
    )


def test_unresolved_says_how_many_seeds_would_resolve_it():
    stats, c = _comparison(verdict="unresolved", seeds_to_resolve=7, seeds_to_resolve_range=(4, 19))
    text = claim_sentence(c, "cmp.k", stats)
    assert "is unresolved" in text and "{{num:cmp.k.toresolve}} seeds" in text
    assert "{{num:cmp.k.toresolvelo}}" in text and "{{num:cmp.k.toresolvehi}}" in text
    assert "better" not in text and "worse" not in text and "significant" not in text


def test_one_seed_is_unresolved_without_an_interval():
    stats, c = _comparison(verdict="unresolved", difference_ci=None, effect_ci=None, n_seeds=1)
    text = claim_sentence(c, "cmp.k", stats)
    assert "unresolved" in text and "difflo" not in text


def test_a_caveat_is_printed_with_the_verdict():
    stats, c = _comparison(caveat="unequal trainable parameters (1 vs 2)")
    assert "Caveat: unequal trainable parameters (1 vs 2)." in claim_sentence(c, "cmp.k", stats)


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
        if "[kind=" in n.source or " - " in n.source:  # aggregates: test_build.py checks them
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


def test_the_dropout_masks_come_from_the_records_setup_where_it_says(study):
    """A run's record says which masks ran (`setup`, read back from the model): it wins over the config."""
    from loralab.paper.draft import render_draft
    from loralab.record import RunSetup
    from tests.runner.fakes import fake_record

    def with_setup(fast_masks: int) -> str:
        setup = RunSetup(
            device="cpu",
            param_dtype="float32",
            train_autocast=None,
            eval_autocast=None,
            attn_implementation="sdpa",
            lora_layers=4,
            plain_lora_layers=4,
            dropout_modules={"MaskDropout" if fast_masks else "Dropout": 4},
            fast_mask_modules=fast_masks,
        )
        for run in study.glob("*/spec.yaml"):
            record = fake_record().model_copy(update={"setup": setup})
            (run.parent / "eval.json").write_text(record.model_dump_json())
        inputs = load_inputs(study)
        return render_draft(inputs, collect_facts(inputs))

    assert "16 random bits per element" in with_setup(4)
    torch_masks = with_setup(0)  # the configs asked for fast masks, but the records say none ran
    assert "LoRA dropout" in torch_masks and "random bits" not in torch_masks
    assert "dropout masks came from torch's generator" in torch_masks

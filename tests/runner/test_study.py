from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from loralab.errors import ConfigError
from loralab.runner.study import expand, load_study, parse_study


def study(**grid):
    return parse_study({"name": "st", "base": {"train": {"max_steps": 3}}, "grid": grid})


def test_expand_is_the_full_grid_with_study_name_and_group():
    runs = expand(study(strategies=["uniform"], budgets=["r4", "r8"], seeds=[0, 1, 2]))
    assert len(runs) == 6
    assert {(c.lora.budget, c.train.seed) for c in runs} == {(b, s) for b in ("r4", "r8") for s in (0, 1, 2)}
    assert all(c.output.study == "st" and c.tracking.group == "st" for c in runs)
    assert len({c.run_id() for c in runs}) == 6


def test_expansion_is_deterministic_and_seed_major():
    a = expand(study(budgets=["r4", "r8"], seeds=[0, 1]))
    b = expand(study(budgets=["r4", "r8"], seeds=[0, 1]))
    assert [c.run_id() for c in a] == [c.run_id() for c in b]
    assert [(c.train.seed, c.lora.budget) for c in a] == [(0, "r4"), (0, "r8"), (1, "r4"), (1, "r8")]


def test_editing_the_grid_adds_runs_and_keeps_existing_ids():
    before = {c.run_id() for c in expand(study(budgets=["r4"], seeds=[0, 1]))}
    after = {c.run_id() for c in expand(study(budgets=["r4", "r8"], seeds=[0, 1, 2]))}
    assert before < after and len(after) == 6


def test_the_run_id_does_not_depend_on_the_study_name():
    a = parse_study({"name": "a", "grid": {"seeds": [0]}})
    b = parse_study({"name": "b", "grid": {"seeds": [0]}})
    assert expand(a)[0].run_id() == expand(b)[0].run_id()


def test_dotted_fields_expand_directly_in_grid_or_under_fields():
    direct = expand(study(**{"train.lr": [1e-4, 3e-4], "seeds": [0]}))
    nested = expand(study(fields={"train.lr": [1e-4, 3e-4]}, seeds=[0]))
    assert [c.train.lr for c in direct] == [1e-4, 3e-4]
    assert [c.run_id() for c in direct] == [c.run_id() for c in nested]


def test_a_field_inside_strategy_options_is_allowed():
    runs = expand(study(**{"lora.strategy_options.alpha_scale": [1, 2]}))
    assert [c.lora.strategy_options for c in runs] == [{"alpha_scale": 1}, {"alpha_scale": 2}]


@pytest.mark.parametrize(
    ("grid", "message"),
    [
        ({"train.learning_rate": [1]}, "grid field 'train.learning_rate' is not a config field"),
        ({"trian.lr": [1]}, "did you mean 'train'"),
        ({"train": [1]}, "unknown key"),
        ({"fields": {"train": [1]}}, "is a whole section"),
        ({"train.lr.x": [1]}, "is a value, not a section"),
        ({"output.root": ["a", "b"]}, "do not change a run's id"),
        ({"train.seed": [0, 1]}, "use grid.seeds"),
        ({"seeds": [0, 0]}, "grid.seeds lists 0 more than once"),
        ({"train.lr": []}, "has no values"),
        ({"strategies": ["a", "b"]}, "baseline 'uniform' is not one of the study's strategies"),
        ({"train.lr": [-1.0]}, "study run (train.seed=0, lora.budget=r8, train.lr=-1.0"),
    ],
)
def test_grid_mistakes_are_config_errors_naming_the_key(grid, message):
    with pytest.raises(ConfigError) as err:
        expand(study(**grid))
    assert message in str(err.value)


def test_study_level_mistakes_are_config_errors():
    with pytest.raises(ConfigError, match="study nmae: unknown key"):
        parse_study({"name": "x", "nmae": "y"})
    with pytest.raises(ConfigError, match="study name"):
        parse_study({"name": "a/b"})
    with pytest.raises(ConfigError, match=r"study base\.train\.lr"):
        parse_study({"name": "x", "base": {"train": {"lr": "fast"}}})


def test_load_study_reads_base_from_a_file_and_applies_overrides(tmp_path: Path):
    (tmp_path / "base.yaml").write_text(yaml.safe_dump({"train": {"max_steps": 7}}))
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({"name": "s", "base": "base.yaml", "grid": {"seeds": [0]}}))
    s = load_study(path, ["base.train.lr=1e-3", "grid.seeds=[0,1,2]"])
    assert s.base.train.max_steps == 7 and s.base.train.lr == 1e-3
    assert len(expand(s)) == 3


def test_strategy_options_apply_per_strategy():
    from loralab.runner.study import expand, parse_study

    study = parse_study(
        {
            "name": "opts",
            "base": {"lora": {"strategy": "linear-decay", "strategy_options": {"ratio": 2}}},
            "grid": {"strategies": ["uniform", "linear-decay", "attention-heavy"]},
            "strategy_options": {"attention-heavy": {"ratio": 3}},
        }
    )
    opts = {c.lora.strategy: c.lora.strategy_options for c in expand(study)}
    assert opts == {"uniform": {}, "linear-decay": {"ratio": 2}, "attention-heavy": {"ratio": 3}}
    with pytest.raises(ConfigError, match="does not run"):
        only_uniform = {"name": "x", "grid": {"strategies": ["uniform"]}, "strategy_options": {"random": {}}}
        expand(parse_study(only_uniform))


def test_the_paper_section_names_title_and_authors_and_rejects_unknown_keys():
    s = parse_study(
        {
            "name": "s",
            "paper": {"title": "T", "authors": [{"name": "Ada", "affiliation": "Engines"}, {"name": "Bo"}]},
        }
    )
    assert s.paper.title == "T" and [a.name for a in s.paper.authors] == ["Ada", "Bo"]
    assert s.model_dump(mode="json")["paper"]["authors"][1] == {"name": "Bo", "affiliation": None}
    assert parse_study({"name": "s"}).paper.authors == ()
    with pytest.raises(ConfigError):
        parse_study({"name": "s", "paper": {"authors": [{"name": "A", "email": "a@b"}]}})

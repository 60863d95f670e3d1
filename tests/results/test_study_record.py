"""study.yaml, typed: today's files (the worked example) load unchanged; damage is one line."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from loralab.errors import StoreError
from loralab.results.study_record import SCHEMA_VERSION, PlannedRun, StudyRecord, read_study_record

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "alpaca-smollm2" / "store"
SAVED = sorted(EXAMPLE.glob("*/study.yaml"))


def test_the_worked_example_has_study_records():
    assert len(SAVED) == 3


@pytest.mark.parametrize("path", SAVED, ids=lambda p: p.parent.name)
def test_the_worked_examples_study_records_load_unchanged(path: Path):
    raw = yaml.safe_load(path.read_text())
    record = read_study_record(path.parent)
    assert record is not None and record.schema_version == 0  # written before the schema
    assert record.model_dump(mode="json", exclude={"schema_version"}) == raw
    assert record.name == path.parent.name and record.baseline == raw["baseline"]
    assert [r.run_id for r in record.runs] == [r["run_id"] for r in raw["runs"]]
    assert record.section("analysis") == (raw["definition"].get("analysis") or {})


def test_a_record_round_trips_with_its_schema_version(tmp_path):
    record = StudyRecord(
        name="s",
        baseline="uniform",
        definition={"name": "s", "analysis": {"equivalence_margin": "1%"}},
        runs=(PlannedRun(run_id="abc", point={"lora.strategy": "uniform", "train.seed": 0}),),
    )
    (tmp_path / "study.yaml").write_text(record.to_yaml())
    assert next(iter(yaml.safe_load((tmp_path / "study.yaml").read_text()))) == "schema_version"
    again = read_study_record(tmp_path / "study.yaml")
    assert again == record and again.schema_version == SCHEMA_VERSION
    assert again.section("analysis") == {"equivalence_margin": "1%"} and again.section("paper") == {}
    assert read_study_record(tmp_path / "none") is None


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("runs: [unclosed\n", r"study.yaml is damaged \(ScannerError\|ParserError"),
        ("- a\n- b\n", r"study.yaml is damaged \(it holds no mapping\)"),
        ("name: s\nruns: [{point: {}}]\n", r"study.yaml is damaged \(runs.0.run_id: Field required\)"),
        ("name: s\ncolour: red\n", r"study.yaml is damaged \(colour: unknown key\)"),
        ("schema_version: 9\nname: s\n", r"schema version 9, newer than this loralab reads"),
    ],
)
def test_a_damaged_record_is_one_line(tmp_path, text, why):
    (tmp_path / "study.yaml").write_text(text)
    with pytest.raises(StoreError, match=why.replace(r"\|", "|")) as e:
        read_study_record(tmp_path)
    assert "\n" not in str(e.value)

"""The run record: its schema, the version-0 upgrade, and the store's reader and writer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loralab.errors import StoreError
from loralab.record import OPT_IN_FIELDS, SCHEMA_VERSION, MetricScore, RunRecord, RunSetup
from loralab.store import Store
from tests.runner.fakes import fake_record


def test_a_record_round_trips_through_the_store(tmp_path: Path):
    rd = Store(tmp_path).create("s", "r1", {"run_id": "r1"})
    record = fake_record(eval_loss=1.25, eval_precision="bf16")
    rd.write_record(record)
    back = rd.read_record()
    assert back == record and back.schema_version == SCHEMA_VERSION
    assert json.loads(rd.eval.read_text())["train_supervised_tokens"] == record.train_supervised_tokens


def test_opt_in_metric_fields_are_written_only_where_measured(tmp_path: Path):
    store = Store(tmp_path)
    plain = fake_record()
    assert not set(OPT_IN_FIELDS) & set(plain.to_json())  # eval.json as before exact_match existed
    score = MetricScore(base=0.1, final=0.5, final_by_task={"add": 1.0})
    measured = plain.model_copy(update={"scores": {"exact_match": score}})
    rd = store.create("s", "r1", {"run_id": "r1"})
    rd.write_record(measured)
    raw = json.loads(rd.eval.read_text())
    assert raw["scores"]["exact_match"]["final"] == 0.5
    assert raw["scores"]["exact_match"]["final_by_task"] == {"add": 1.0}
    assert rd.read_record() == measured


def test_a_version_1_record_keeps_its_exact_match_under_scores():
    v1 = fake_record().model_dump(mode="json", exclude={"scores"}) | {"schema_version": 1}
    v1 |= {"base_exact_match": 0.0, "exact_match": 0.25, "exact_match_by_task": {"add": 0.5}}
    v1 |= {"base_exact_match_by_task": {"add": 0.0}, "exact_match_seconds": 3.5}
    read = RunRecord.model_validate(v1)
    assert read.schema_version == SCHEMA_VERSION == 2
    assert read.scores == {
        "exact_match": MetricScore(
            base=0.0, final=0.25, base_by_task={"add": 0.0}, final_by_task={"add": 0.5}, seconds=3.5
        )
    }
    plain_v1 = fake_record().model_dump(mode="json", exclude={"scores"}) | {"schema_version": 1}
    assert RunRecord.model_validate(plain_v1).scores is None  # a v1 record without it reads as it was


def test_a_version_0_record_is_read_with_unambiguous_token_names():
    v0 = fake_record().model_dump(mode="json")
    del v0["schema_version"], v0["eval_precision"]
    v0["train_tokens"] = v0.pop("train_supervised_tokens")  # supervised, at the top level
    v0["data"]["train_tokens"] = v0["data"].pop("train_set_tokens")  # all tokens, under data
    v0["data"]["train_supervised_tokens"] = v0["data"].pop("train_set_supervised_tokens")
    record = RunRecord.model_validate(v0)
    assert record.train_supervised_tokens == 200 and record.data.train_set_tokens == 96
    assert record.data.train_set_supervised_tokens == 40 and record.eval_precision == "fp32"


SETUP = RunSetup(
    device="cpu",
    param_dtype="float32",
    train_autocast=None,
    eval_autocast="bfloat16",
    attn_implementation="sdpa",
    lora_layers=14,
    plain_lora_layers=14,
    dropout_modules={"MaskDropout": 14},
    fast_mask_modules=14,
)


def test_a_record_with_its_setup_round_trips_and_one_without_still_loads(tmp_path: Path):
    rd = Store(tmp_path).create("s", "r1", {"run_id": "r1"})
    record = fake_record().model_copy(update={"setup": SETUP})
    rd.write_record(record)
    assert rd.read_record() == record and rd.read_record().setup == SETUP
    old = fake_record().model_dump(mode="json")
    del old["setup"]  # written before `setup` existed
    assert RunRecord.model_validate(old).setup is None


def test_the_worked_examples_records_still_load():
    root = Path(__file__).parents[1] / "examples"
    paths = sorted(root.glob("*/store/*/*/eval.json"))
    assert paths, "the worked example has run records"
    for path in paths:
        RunRecord.model_validate_json(path.read_text())


def test_missing_damaged_and_foreign_records_raise_store_errors(tmp_path: Path):
    rd = Store(tmp_path).create("s", "r1", {"run_id": "r1"})
    with pytest.raises(StoreError, match=r"has no eval\.json: the run has not finished"):
        rd.read_record()
    rd.eval.write_text("{ torn")
    with pytest.raises(StoreError, match="damaged"):
        rd.read_record()
    rd.eval.write_text(json.dumps({"schema_version": 1, "eval_loss": 1.0}))
    with pytest.raises(StoreError, match="does not match the run record schema: strategy: Field required"):
        rd.read_record()
    assert rd.try_record() is None


def test_every_field_is_described():
    for model in (RunRecord, RunRecord.model_fields["data"].annotation, RunSetup):
        assert all(f.description for f in model.model_fields.values()), model

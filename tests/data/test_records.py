import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from loralab.data import AlpacaRecord, load_records
from loralab.data.synthetic import generate
from loralab.errors import DataError

ROWS = [
    {"instruction": "Say hi.", "input": "", "output": "Hi."},
    {"instruction": "Add.", "input": "1, 2", "output": "3", "text": "extra fields are ignored"},
    {"instruction": "No input field.", "output": "Fine."},
]
EXPECTED = [
    AlpacaRecord("Say hi.", "", "Hi."),
    AlpacaRecord("Add.", "1, 2", "3"),
    AlpacaRecord("No input field.", "", "Fine."),
]


def _load(source: str | Path) -> list[AlpacaRecord]:
    return load_records(str(source), synthetic_size=10, synthetic_seed=0)


def test_json_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "data.json"
    path.write_text(json.dumps(ROWS))
    assert _load(path) == EXPECTED


def test_jsonl_round_trip_skips_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "data.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in ROWS) + "\n\n")
    assert _load(path) == EXPECTED


def test_parquet_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "data.parquet"
    rows = [{"instruction": r["instruction"], "input": r.get("input"), "output": r["output"]} for r in ROWS]
    pq.write_table(pa.Table.from_pylist(rows), path)
    assert _load(path) == EXPECTED


def test_synthetic_source_is_the_generator() -> None:
    assert load_records("synthetic", synthetic_size=25, synthetic_seed=3) == generate(25, 3)


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        ("missing.json", json.dumps([{"instruction": "x"}]), r"missing\.json: record 0 has no 'output'"),
        ("noinstr.jsonl", json.dumps({"output": "y"}), r"noinstr\.jsonl: record 0 has no 'instruction'"),
        ("dict.json", json.dumps({"instruction": "x", "output": "y"}), "must hold a list"),
        ("broken.json", "[{", "not valid JSON"),
        ("broken.jsonl", '{"instruction": "a", "output": "b"}\n{oops', r"broken\.jsonl:2 is not valid JSON"),
        ("number.json", json.dumps([{"instruction": "x", "output": 3}]), "field 'output' is a int"),
        ("scalar.json", json.dumps(["just text"]), "record 0 is a str"),
        ("empty.json", "[]", "holds no records"),
        ("bad.parquet", "not parquet", "not a readable parquet file"),
        ("data.csv", "instruction,output\nx,y\n", "unsupported format"),
    ],
)
def test_bad_files_give_data_error(tmp_path: Path, name: str, content: str, match: str) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(DataError, match=match):
        _load(path)


@pytest.mark.parametrize("source", ["missing/file.json", "./nope", "/no/such/dir/data", "a/b/c"])
def test_path_that_does_not_exist(source: str) -> None:
    with pytest.raises(DataError, match="does not exist"):
        _load(source)


def test_hub_id_offline_says_what_to_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    import datasets

    # Offline mode makes `datasets` fail at once instead of retrying the network for ~30 s.
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    with pytest.raises(DataError, match=r"cannot load dataset 'loralab-test/no-such-set' from the hub"):
        _load("loralab-test/no-such-set")

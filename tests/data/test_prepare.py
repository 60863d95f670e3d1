import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from loralab.config import DataConfig
from loralab.data import (
    IGNORE_INDEX,
    PreparedData,
    format_prompt,
    load_records,
    prepare_data,
    prepare_records,
)
from loralab.data.synthetic import generate
from loralab.errors import DataError


def _cfg(**kw: Any) -> DataConfig:
    base = {"source": "synthetic", "synthetic_size": 300, "val_set_size": 30, "cutoff_len": 256}
    return DataConfig(**(base | kw))


def test_end_to_end_synthetic(tiny_tok: Any) -> None:
    data = prepare_data(_cfg(), tiny_tok)
    assert isinstance(data, PreparedData)
    assert data.stats.n_records == 300
    assert len(data.train) == data.stats.n_train == 270 and len(data.eval) == data.stats.n_eval == 30
    assert data.stats.dropped_no_supervised == 0
    train_idx, eval_idx = {ex.index for ex in data.train}, {ex.index for ex in data.eval}
    assert not train_idx & eval_idx and train_idx | eval_idx == set(range(300))
    records = load_records("synthetic", synthetic_size=300, synthetic_seed=0)
    ex = data.train[0]
    assert (
        tiny_tok.decode(ex.input_ids)
        == format_prompt(records[ex.index]) + records[ex.index].output + "<|endoftext|>"
    )
    assert data.stats.max_length == max(len(e) for e in data.train + data.eval) <= 256
    assert data.stats.padding_fraction_grouped < data.stats.padding_fraction_random
    assert prepare_data(_cfg(), tiny_tok).train == data.train  # deterministic


def test_cutoff_drops_examples_without_a_response(tiny_tok: Any) -> None:
    full = prepare_data(_cfg(), tiny_tok)
    prompt_lengths = sorted(len(ex) - ex.n_supervised - 1 for ex in full.train)
    cutoff = prompt_lengths[len(prompt_lengths) // 2]
    data = prepare_data(_cfg(cutoff_len=cutoff), tiny_tok)
    dropped = data.stats.dropped_no_supervised
    assert 0 < dropped < 300
    assert data.stats.n_train + data.stats.n_eval + dropped == 300
    assert all(ex.n_supervised > 0 and len(ex) <= cutoff for ex in data.train + data.eval)
    assert all(ex.labels[0] == IGNORE_INDEX for ex in data.train)


def test_cutoff_below_every_prompt_is_a_data_error(tiny_tok: Any) -> None:
    with pytest.raises(
        DataError, match=r"no training examples left .* cutoff_len=8 .*; raise data.cutoff_len"
    ):
        prepare_data(_cfg(cutoff_len=8), tiny_tok)


def test_max_examples_and_local_file(tiny_tok: Any, tmp_path: Path) -> None:
    rows = [{"instruction": f"Repeat the number {i}.", "output": str(i)} for i in range(40)]
    path = tmp_path / "alpaca.json"
    path.write_text(json.dumps(rows))
    data = prepare_data(_cfg(source=str(path), max_examples=25, val_set_size=2000), tiny_tok)
    assert data.stats.n_records == 40
    assert data.stats.n_train == 20 and data.stats.n_eval == 5  # eval capped at 20% of 25
    for ex in data.train + data.eval:
        response = [t for t in ex.labels if t != IGNORE_INDEX]
        assert tiny_tok.decode(response) == rows[ex.index]["output"] + "<|endoftext|>"


def test_no_eval_set_is_refused(tiny_tok: Any) -> None:
    with pytest.raises(ValidationError, match="val_set_size"):  # every run is evaluated
        _cfg(val_set_size=0)
    few = generate(4, seed=0)  # too few records to hold any out
    with pytest.raises(DataError, match=r"data\.val_set_size >= 1"):
        prepare_records(few, _cfg(), tiny_tok)

from typing import Any

import pytest

from loralab.data import (
    IGNORE_INDEX,
    AlpacaRecord,
    build_tiny_tokenizer,
    format_prompt,
    tokenize_example,
    tokenize_records,
)
from loralab.data.synthetic import generate
from loralab.data.tokenize import bos_to_prepend, encode_batch

WITH_INPUT = AlpacaRecord("Sort these words in alphabetical order.", "pear, apple, fig", "apple, fig, pear")
NO_INPUT = AlpacaRecord("What is 12 + 30?", "", "12 + 30 = 42")
REAL = AlpacaRecord(
    "Give three tips for staying healthy.",
    "",
    "1. Eat a balanced diet.\n2. Exercise regularly.\n3. Get enough sleep. — ¡Olé! 🍎",
)


def _tok(record: AlpacaRecord, tok: Any, cutoff_len: int = 512, **kw: Any) -> Any:
    opts = {"add_eos": True, "train_on_inputs": False} | kw
    return tokenize_example(record, tok, cutoff_len=cutoff_len, index=7, **opts)


def _check_response_only(record: AlpacaRecord, tok: Any) -> None:
    ex = _tok(record, tok)
    prompt_ids = tok(format_prompt(record), add_special_tokens=False)["input_ids"]
    head = 1 if bos_to_prepend(tok) is not None else 0
    n_prompt = head + len(prompt_ids)
    assert list(ex.input_ids[head:n_prompt]) == prompt_ids
    assert ex.labels[:n_prompt] == (IGNORE_INDEX,) * n_prompt
    supervised = [label for label in ex.labels if label != IGNORE_INDEX]
    assert supervised == list(ex.input_ids[n_prompt:])
    assert supervised[-1] == tok.eos_token_id
    assert tok.decode(supervised[:-1]) == record.output
    assert tok.decode(ex.input_ids[head:]) == format_prompt(record) + record.output + tok.eos_token
    assert ex.n_supervised == len(supervised) and ex.index == 7


@pytest.mark.parametrize("record", [WITH_INPUT, NO_INPUT, REAL])
def test_labels_are_exactly_the_response_tiny(tiny_tok: Any, record: AlpacaRecord) -> None:
    _check_response_only(record, tiny_tok)


@pytest.mark.parametrize("record", [WITH_INPUT, NO_INPUT, REAL])
def test_labels_are_exactly_the_response_smollm2(smollm2_tok: Any, record: AlpacaRecord) -> None:
    _check_response_only(record, smollm2_tok)


def test_bos_is_prepended_once_and_masked(bos_tok: Any) -> None:
    assert bos_to_prepend(bos_tok) == bos_tok.bos_token_id
    ex = _tok(NO_INPUT, bos_tok)
    assert ex.input_ids[0] == bos_tok.bos_token_id and ex.input_ids[1] != bos_tok.bos_token_id
    assert ex.labels[0] == IGNORE_INDEX
    _check_response_only(NO_INPUT, bos_tok)


def test_gpt2_style_tokenizers_get_no_bos(tiny_tok: Any, smollm2_tok: Any) -> None:
    assert bos_to_prepend(tiny_tok) is None
    assert bos_to_prepend(smollm2_tok) is None


@pytest.mark.parametrize("name", ["merging_tok", "smollm2_tok"])
def test_merge_across_the_boundary_keeps_the_mask_exact(request: pytest.FixtureRequest, name: str) -> None:
    tok = request.getfixturevalue(name)
    record = AlpacaRecord("Write two blank lines, then hello.", "", "\n\nhello")
    prompt_ids = tok(format_prompt(record), add_special_tokens=False)["input_ids"]
    full_ids = tok(format_prompt(record) + record.output, add_special_tokens=False)["input_ids"]
    assert full_ids[: len(prompt_ids)] != prompt_ids  # the case the fallback exists for
    _check_response_only(record, tok)


def test_train_on_inputs_supervises_everything(tiny_tok: Any) -> None:
    ex = _tok(WITH_INPUT, tiny_tok, train_on_inputs=True)
    assert ex.labels == ex.input_ids
    assert ex.n_supervised == len(ex.input_ids) - 1


def test_truncation_at_cutoff_drops_eos(tiny_tok: Any) -> None:
    full = _tok(REAL, tiny_tok)
    cut = _tok(REAL, tiny_tok, cutoff_len=len(full) - 5)
    assert len(cut) == len(full) - 5
    assert cut.input_ids == full.input_ids[: len(cut)] and cut.labels == full.labels[: len(cut)]
    assert cut.input_ids[-1] != tiny_tok.eos_token_id


def test_eos_appended_only_when_there_is_room(tiny_tok: Any) -> None:
    n = len(_tok(NO_INPUT, tiny_tok, add_eos=False))
    assert _tok(NO_INPUT, tiny_tok, cutoff_len=n + 1).input_ids[-1] == tiny_tok.eos_token_id
    exact = _tok(NO_INPUT, tiny_tok, cutoff_len=n)
    assert len(exact) == n and exact.input_ids == _tok(NO_INPUT, tiny_tok, add_eos=False).input_ids


def test_prompt_longer_than_cutoff_has_nothing_supervised(tiny_tok: Any) -> None:
    ex = _tok(WITH_INPUT, tiny_tok, cutoff_len=10)
    assert len(ex) == 10 and ex.n_supervised == 0 and set(ex.labels) == {IGNORE_INDEX}


def test_batch_matches_one_at_a_time(tiny_tok: Any) -> None:
    records = generate(40, seed=5)
    batch = tokenize_records(
        records, tiny_tok, cutoff_len=64, add_eos=True, train_on_inputs=False, indices=range(100, 140)
    )
    single = [
        tokenize_example(r, tiny_tok, cutoff_len=64, add_eos=True, train_on_inputs=False, index=100 + i)
        for i, r in enumerate(records)
    ]
    assert batch == single


def test_encode_batch_ignores_truncation_left_on_by_an_earlier_call() -> None:
    tok = build_tiny_tokenizer()  # a fresh one: this test leaves state in its backend
    text = format_prompt(WITH_INPUT)
    expected = tok(text, add_special_tokens=False)["input_ids"]
    tok([text], truncation=True, max_length=4)
    assert tok.backend_tokenizer.truncation is not None  # the state the guard exists for
    assert encode_batch(tok, [text]) == [expected]

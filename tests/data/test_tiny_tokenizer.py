import importlib.util
import json
from pathlib import Path
from typing import Any

from loralab.data.synthetic import corpus
from loralab.data.tiny_tokenizer import VOCAB_SIZE, build_tiny_tokenizer, tiny_tokenizer_path

SCRIPT = Path(__file__).parents[2] / "scripts" / "make_tiny_tokenizer.py"


def test_special_tokens_and_size(tiny_tok: Any) -> None:
    assert len(tiny_tok) == VOCAB_SIZE == 1024
    assert tiny_tok.eos_token_id == tiny_tok.pad_token_id == tiny_tok.bos_token_id == 0
    assert tiny_tok.eos_token == "<|endoftext|>"
    assert (
        tiny_tok("hello world")["input_ids"] == tiny_tok("hello world", add_special_tokens=False)["input_ids"]
    )


def test_any_text_round_trips(tiny_tok: Any) -> None:
    text = "Ünïcödé, tabs\tand emoji 🦙 — all bytes are in the alphabet.\n\n"
    ids = tiny_tok(text)["input_ids"]
    assert tiny_tok.unk_token_id not in ids
    assert tiny_tok.decode(ids) == text


def test_compact_on_the_synthetic_tasks(tiny_tok: Any) -> None:
    texts = corpus(200, seed=77)
    n_tokens = sum(len(tiny_tok(t)["input_ids"]) for t in texts)
    assert n_tokens < 0.3 * sum(len(t) for t in texts)  # bytes alone would be 1.0


def test_asset_is_small_and_up_to_date(tmp_path: Path) -> None:
    asset = tiny_tokenizer_path()
    assert asset.stat().st_size < 200 * 1024
    spec = importlib.util.spec_from_file_location("make_tiny_tokenizer", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    fresh = json.loads(module.train().to_str())
    assert fresh == json.loads(asset.read_text()), (
        "loralab/assets/tiny_tokenizer.json is stale: run scripts/make_tiny_tokenizer.py and commit it"
    )
    assert len(build_tiny_tokenizer()) == VOCAB_SIZE

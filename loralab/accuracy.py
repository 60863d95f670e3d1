"""Task accuracy: the model's greedy answers to the eval prompts, scored by exact match.

The prompt is the one training used (the Alpaca template, BOS where the tokenizer adds one, cut at
`cutoff_len`); generation is greedy (`do_sample=False`), batched longest prompt first with left
padding, and stops at EOS or after the reference answer's token count plus `MARGIN_TOKENS`: an answer
longer than that cannot be the reference. Each example's own bound is applied after generation, so
a score does not depend on which examples share its batch (up to float rounding of padded batches).
Scoring (answer cut, normalisation) is `loralab/results/exact_match.py`.

Each example also stops as soon as its score is decided (`AnswerStop`, a per-row stopping criterion
of `generate`): at its own bound, or, where decoding more tokens only appends text
(`decodes_by_appending`), once its text holds every line the scorer keeps (`answer_complete`) or its
answer begun is no start of the reference (`answer_ruled_out`). What it would generate next could not
change its score, so the scores are those of generating to the end (`tests/test_accuracy.py` compares
them). It matters most for a base model, which rarely emits EOS and answers wrongly from its first
words: without it every batch ran to its longest bound.
"""

from __future__ import annotations

import json
import time
from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace
from typing import Any

import pandas as pd
import torch
from torch import nn
from transformers import StoppingCriteria, StoppingCriteriaList

from loralab.data import AlpacaRecord, sequential_batches, tokenize_records
from loralab.data.tokenize import encode_batch
from loralab.results.exact_match import EXACT_MATCH, answer_complete, answer_ruled_out, score_answer
from loralab.scoring import EvalSet, Score

MARGIN_TOKENS = 8  # beyond the reference's length: room for a different tokenisation of the same text
# What a cached base accuracy depends on beyond the base eval's key: how answers are made and scored.
GENERATION = {"metric": "exact_match", "greedy": True, "margin_tokens": MARGIN_TOKENS, "version": 1}


class AnswerStop(StoppingCriteria):
    """Stops each row of a batched greedy generation once more tokens cannot change its score: at EOS,
    at its bound, or, where decoding only ever appends text (`by_text`), once its answer lines are
    all complete or its answer begun already differs from the reference (`results/exact_match.py`).
    Keeps how many new tokens each row had then (`lengths`; the bound for rows never stopped here)."""

    def __init__(
        self, tokenizer: Any, start: int, references: list[str], bounds: list[int], *, by_text: bool
    ):
        self.tokenizer, self.start, self.references, self.by_text = tokenizer, start, references, by_text
        self.lengths = list(bounds)
        self.done = [False] * len(references)

    def __call__(self, input_ids: torch.LongTensor, scores: Any, **kwargs: Any) -> torch.BoolTensor:
        eos = self.tokenizer.eos_token_id
        new = input_ids[:, self.start :].tolist()  # one device sync per step, for all rows
        for row, tokens in enumerate(new):
            if self.done[row]:
                continue
            ended = len(tokens) >= self.lengths[row] or (eos is not None and eos in tokens)
            if ended or (self.by_text and self._decided(answer_text(self.tokenizer, tokens), row)):
                self.done[row], self.lengths[row] = True, len(tokens)
        return torch.tensor(self.done, dtype=torch.bool, device=input_ids.device)

    def _decided(self, text: str, row: int) -> bool:
        reference = self.references[row]
        # a character whose last byte is still to come decodes as U+FFFD: not yet written
        return answer_complete(text, reference) or answer_ruled_out(text.rstrip("\ufffd"), reference)


# Decoders that turn more tokens into more text after the same text (tokenizers' decoder types).
_APPENDING_DECODERS = {"Sequence", "ByteLevel", "Metaspace", "ByteFallback", "Fuse", "Strip", "Replace"}


def decodes_by_appending(tokenizer: Any) -> bool:
    """Whether decoding more tokens only appends text (up to a last character still incomplete): a
    fast tokenizer whose decoders only map and join tokens, with no clean-up of spaces (which rewrites
    the end of a text when the next token is punctuation). Early stopping by text needs it."""
    decoder = getattr(getattr(tokenizer, "backend_tokenizer", None), "decoder", None)
    if decoder is None or getattr(tokenizer, "clean_up_tokenization_spaces", True):
        return False
    return _appending(json.loads(decoder.__getstate__()))


def _appending(decoder: dict[str, Any]) -> bool:
    return decoder["type"] in _APPENDING_DECODERS and all(map(_appending, decoder.get("decoders", [])))


def answer_text(tokenizer: Any, tokens: list[int]) -> str:
    """The text of generated tokens before the first EOS (special tokens dropped)."""
    eos = tokenizer.eos_token_id
    if eos is not None and eos in tokens:
        tokens = tokens[: tokens.index(eos)]
    return tokenizer.decode(tokens, skip_special_tokens=True)


@torch.no_grad()
def exact_match_accuracy(
    model: nn.Module,
    tokenizer: Any,
    records: list[AlpacaRecord],
    indices: list[int],
    *,
    batch_size: int,
    pad_id: int,
    device: torch.device,
    cutoff_len: int,
    autocast: AbstractContextManager | None = None,
    early_stop: bool = True,
) -> Score:
    """Greedy answers of `model` to `records` scored against their outputs; `indices` name the
    examples (source indices). `early_stop=False` generates every row to its batch's longest bound
    (the same scores, slower: for comparisons). The model's train/eval mode is restored afterwards."""
    was_training = model.training
    model.eval()
    start = time.perf_counter()
    prompts = tokenize_records(
        [replace(r, output="") for r in records],
        tokenizer,
        cutoff_len=cutoff_len,
        add_eos=False,
        train_on_inputs=True,
        indices=indices,
    )
    bounds = [len(ids) + MARGIN_TOKENS for ids in encode_batch(tokenizer, [r.output for r in records])]
    by_text = decodes_by_appending(tokenizer)
    scores = [0] * len(records)
    for batch_idx in sequential_batches([len(p) for p in prompts], batch_size):
        width = max(len(prompts[i]) for i in batch_idx)
        ids = torch.full((len(batch_idx), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(batch_idx), width), dtype=torch.long)
        for row, i in enumerate(batch_idx):  # left padding: every prompt ends where generation starts
            prompt = prompts[i].input_ids
            ids[row, width - len(prompt) :] = torch.tensor(prompt)
            mask[row, width - len(prompt) :] = 1
        references = [records[i].output for i in batch_idx]
        stop = AnswerStop(tokenizer, width, references, [bounds[i] for i in batch_idx], by_text=by_text)
        with autocast or nullcontext():
            out = model.generate(
                input_ids=ids.to(device),
                attention_mask=mask.to(device),
                do_sample=False,
                num_beams=1,
                max_new_tokens=max(bounds[i] for i in batch_idx),
                pad_token_id=pad_id,
                eos_token_id=tokenizer.eos_token_id,
                stopping_criteria=StoppingCriteriaList([stop] if early_stop else []),
            )
        for row, i in enumerate(batch_idx):
            text = answer_text(tokenizer, out[row, width:].tolist()[: stop.lengths[row]])
            scores[i] = score_answer(text, records[i].output)
    model.train(was_training)
    per_example = pd.DataFrame(
        {
            "example": list(indices),
            "task": [r.task or None for r in records],
            "exact_match": scores,
        }
    ).sort_values("example", kind="stable", ignore_index=True)
    return Score.of(EXACT_MATCH, per_example, time.perf_counter() - start)


class ExactMatchScorer:
    """The `exact_match` metric's scorer (`loralab/scoring.py`): greedy answers to the eval prompts."""

    key = GENERATION  # how answers are made and judged: a cached base score is shared under it only

    def __call__(self, eval_set: EvalSet) -> pd.DataFrame:
        return exact_match_accuracy(
            eval_set.model,
            eval_set.tokenizer,
            eval_set.records,
            eval_set.indices,
            batch_size=eval_set.batch_size,
            pad_id=eval_set.pad_id,
            device=eval_set.device,
            cutoff_len=eval_set.cutoff_len,
            autocast=eval_set.autocast,
        ).per_example


SCORER = ExactMatchScorer()  # named by EXACT_MATCH.scorer

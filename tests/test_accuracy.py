"""Task accuracy: greedy answers scored by exact match, with a fake generator and in a tiny run."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import torch
from tokenizers import decoders
from torch import nn

from loralab import accuracy
from loralab.accuracy import exact_match_accuracy
from loralab.config import ModelConfig, load_config
from loralab.data import AlpacaRecord, build_tiny_tokenizer, format_prompt
from loralab.data.synthetic import generate
from loralab.experiment import execute_run
from loralab.models import load_model
from loralab.record import OPT_IN_FIELDS
from loralab.store import RunDir

RECORDS = generate(40, seed=3)


class Answering(nn.Module):
    """A fake model whose `generate` writes `answer(record)` after each prompt, then EOS and padding;
    it checks that prompts come left-padded and stops at `max_new_tokens` as generation does."""

    def __init__(self, tokenizer, answer):
        super().__init__()
        self.tokenizer = tokenizer
        self.answers = {format_prompt(r): answer(r) for r in RECORDS}
        self.calls = 0

    def generate(self, input_ids, attention_mask, max_new_tokens, pad_token_id, eos_token_id, **kwargs):
        assert kwargs["do_sample"] is False and bool(attention_mask[:, -1].all())  # left padding
        self.calls += 1
        rows = []
        for ids, mask in zip(input_ids.tolist(), attention_mask.tolist(), strict=True):
            prompt = self.tokenizer.decode([i for i, m in zip(ids, mask, strict=True) if m])
            new = [*self.tokenizer.encode(self.answers[prompt], add_special_tokens=False), eos_token_id]
            rows.append(ids + (new + [pad_token_id] * max_new_tokens)[:max_new_tokens])
        return torch.tensor(rows)


def _score(answer, batch_size: int = 8):
    tokenizer = build_tiny_tokenizer()
    model = Answering(tokenizer, answer)
    result = exact_match_accuracy(
        model,
        tokenizer,
        RECORDS,
        list(range(100, 100 + len(RECORDS))),
        batch_size=batch_size,
        pad_id=tokenizer.pad_token_id,
        device=torch.device("cpu"),
        cutoff_len=512,
    )
    assert model.calls == -(-len(RECORDS) // batch_size)  # batched
    return result


def test_the_reference_scores_one_and_a_wrong_answer_zero():
    right = _score(lambda r: r.output)
    assert right.value == 1.0 and right.per_example["exact_match"].tolist() == [1] * len(RECORDS)
    assert right.per_example["example"].tolist() == list(range(100, 140))  # source indices, in order
    assert right.per_example["task"].tolist() == [r.task for r in RECORDS]
    assert _score(lambda r: f"not {r.output}").value == 0.0
    # an answer followed by something else on the next line is still the answer
    assert _score(lambda r: f"{r.output}\n\n### Instruction:\nmore", batch_size=3).value == 1.0


def test_accuracy_is_broken_down_per_task():
    result = _score(lambda r: r.output if r.task in ("add", "largest") else "?")
    tasks = sorted({r.task for r in RECORDS})
    assert set(result.by_task) == set(tasks)
    for task in tasks:
        assert result.by_task[task] == (1.0 if task in ("add", "largest") else 0.0)
    expected = sum(r.task in ("add", "largest") for r in RECORDS) / len(RECORDS)
    assert result.value == pytest.approx(expected)


def test_a_tiny_run_with_exact_match_records_it_and_one_without_does_not(tmp_path: Path, tiny_overrides):
    plain = load_config(None, tiny_overrides)
    chosen = load_config(None, [*tiny_overrides, "train.eval_metrics=[eval_loss, exact_match]"])
    assert plain.run_id() == load_config(None, [*tiny_overrides, "train.eval_metrics=eval_loss"]).run_id()
    assert chosen.run_id() != plain.run_id()

    with_em = execute_run(chosen).run_dir
    record = json.loads(with_em.eval.read_text())["scores"]["exact_match"]
    assert 0.0 <= record["final"] <= 1.0 and record["seconds"] > 0
    assert set(record["final_by_task"]) <= {r.task for r in generate(160, 0)}
    for path in (with_em.eval_examples, with_em.base_eval_examples):
        frame = pd.read_parquet(path)
        assert {"task", "exact_match"} <= set(frame.columns) and set(frame["exact_match"]) <= {0, 1}
        assert frame["task"].notna().all()
    final = pd.read_parquet(with_em.eval_examples)
    assert final["exact_match"].mean() == pytest.approx(record["final"])
    base = pd.read_parquet(with_em.base_eval_examples)
    assert base["exact_match"].mean() == pytest.approx(record["base"])

    without = execute_run(plain).run_dir
    assert not set(OPT_IN_FIELDS) & set(json.loads(without.eval.read_text()))
    for path in (without.eval_examples, without.base_eval_examples):
        assert list(pd.read_parquet(path).columns) == ["example", "nll_sum", "tokens", "nll_mean"]
    # the per-example losses are the same either way: generation does not touch them
    pd.testing.assert_frame_equal(
        pd.read_parquet(without.eval_examples), final[["example", "nll_sum", "tokens", "nll_mean"]]
    )


class _Killed(BaseException):
    """Stands in for a kill between the last write of a run and its `done` status."""


def test_a_resumed_run_keeps_its_base_accuracy_and_scores_the_same(
    tmp_path: Path, tiny_overrides, monkeypatch
):
    args = [*tiny_overrides, "train.eval_metrics=[exact_match]", "train.max_steps=4"]
    ref = execute_run(load_config(None, [*args, f"output.root={tmp_path / 'ref'}"]))
    cfg = load_config(None, args)
    real = RunDir.set_status

    def dies_before_done(self, state, **fields):
        if state == "done":
            raise _Killed
        return real(self, state, **fields)

    monkeypatch.setattr(RunDir, "set_status", dies_before_done)
    with pytest.raises(_Killed):
        execute_run(cfg)
    monkeypatch.setattr(RunDir, "set_status", real)
    scored = []
    monkeypatch.setattr(
        accuracy, "exact_match_accuracy", lambda *a, **k: scored.append(1) or exact_match_accuracy(*a, **k)
    )
    again = execute_run(cfg)  # resumes: the base scores are read back from base_eval_examples.parquet
    assert len(scored) == 1  # only the final model is scored again
    assert again.run_dir.state == "done"
    keep = {"seconds"}  # all but the generation's wall time
    again_em, ref_em = again.record.scores["exact_match"], ref.record.scores["exact_match"]
    assert again_em.model_dump(exclude=keep) == ref_em.model_dump(exclude=keep)
    pd.testing.assert_frame_equal(
        pd.read_parquet(again.run_dir.base_eval_examples), pd.read_parquet(ref.run_dir.base_eval_examples)
    )


class _Scripted:
    """Steers a tiny real model's greedy choice, through a forward hook on its logits, to a scripted
    text per prompt (never EOS unless scripted), so that `generate` runs its own loop (cache, left
    padding, per-row stopping, padding of stopped rows) on answers that are known to be right or wrong;
    counts the forward passes."""

    def __init__(self, model: nn.Module, tokenizer, scripts: dict[str, str]):
        self.tokenizer, self.forwards = tokenizer, 0
        self.scripts = {p: tokenizer.encode(t, add_special_tokens=False) for p, t in scripts.items()}
        self.filler = tokenizer.encode(" more", add_special_tokens=False)[0]
        model.register_forward_hook(self.steer, with_kwargs=True)

    def steer(self, module, args, kwargs, output):
        ids = kwargs["input_ids"]
        self.forwards += 1
        if ids.shape[1] > 1:  # prefill: a new batch of left-padded prompts
            mask = kwargs.get("attention_mask", torch.ones_like(ids))  # none for one unpadded row
            self.generated, self.rows = 0, []
            for row, m in zip(ids.tolist(), mask.tolist(), strict=True):
                prompt = self.tokenizer.decode([i for i, keep in zip(row, m, strict=True) if keep])
                self.rows.append(self.scripts[prompt])
        else:
            self.generated += 1
        n = self.generated  # tokens generated so far
        for row, script in enumerate(self.rows):
            output.logits[row, -1, script[n] if n < len(script) else self.filler] += 1e4
        return output


UNICODE = [
    AlpacaRecord("Greet the cafe.", "", "café 🙂", "unicode"),  # characters of several bytes, split
    AlpacaRecord("Write it naively.", "", "naïve – ok\nnext line", "unicode"),
]


def _script(i: int, r: AlpacaRecord) -> str:
    """Right answers (multi-line and multi-byte ones too), wrong ones (late and early), answers followed
    by more lines, EOS, blank lines before the answer: what a model may write."""
    answer = r.output if i % 3 else f"{r.output}x" if i % 2 else f"x{r.output}"
    lead = "\n\n" if i % 4 == 0 else ""
    tail = "<|endoftext|>" if i % 5 == 0 else "\n### Instruction:\nsomething else\nand more"
    return f"{lead}{answer}{tail}"


def test_early_stopping_changes_no_score_and_saves_forward_passes():
    loaded = load_model(ModelConfig(name="tiny-gpt2"))
    model, tokenizer = loaded.model, loaded.tokenizer
    records = [*UNICODE, *RECORDS]
    scripted = _Scripted(model, tokenizer, {format_prompt(r): _script(i, r) for i, r in enumerate(records)})
    assert accuracy.decodes_by_appending(tokenizer)  # byte-level BPE: both rules apply

    def scored(chosen: list[AlpacaRecord], early: bool):
        scripted.forwards = 0
        result = exact_match_accuracy(
            model,
            tokenizer,
            chosen,
            [records.index(r) for r in chosen],
            batch_size=6,
            pad_id=tokenizer.pad_token_id,
            device=torch.device("cpu"),
            cutoff_len=512,
            early_stop=early,
        )
        return result.per_example, scripted.forwards

    (full, full_forwards), (early, early_forwards) = scored(records, False), scored(records, True)
    pd.testing.assert_frame_equal(early, full)
    assert early["exact_match"].tolist() == [int(i % 3 != 0) for i in range(len(records))]  # as scripted
    assert any("\n" in r.output for r in records)  # multi-line references among them
    assert early_forwards < 0.75 * full_forwards, (early_forwards, full_forwards)
    # answers wrong from their first character (a base model's, say) stop within a few tokens
    wrong = [r for i, r in enumerate(records) if i % 6 == 0]
    (full, full_forwards), (early, early_forwards) = scored(wrong, False), scored(wrong, True)
    pd.testing.assert_frame_equal(early, full)
    assert early["exact_match"].sum() == 0 and early_forwards <= 3 * -(-len(wrong) // 6) < full_forwards / 5


def test_text_decides_early_only_where_decoding_appends():
    tokenizer = build_tiny_tokenizer()
    assert accuracy.decodes_by_appending(tokenizer)
    tokenizer.clean_up_tokenization_spaces = True  # " ." -> ".": the next token rewrites the text's end
    assert not accuracy.decodes_by_appending(tokenizer)
    tokenizer.clean_up_tokenization_spaces = False
    tokenizer.backend_tokenizer.decoder = decoders.Sequence([decoders.WordPiece(), decoders.Fuse()])
    assert not accuracy.decodes_by_appending(tokenizer)  # WordPiece cleans up spaces itself
    tokenizer.backend_tokenizer.decoder = decoders.Sequence(  # SentencePiece-style (Llama)
        [decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(), decoders.Strip(" ", 1, 0)]
    )
    assert accuracy.decodes_by_appending(tokenizer)

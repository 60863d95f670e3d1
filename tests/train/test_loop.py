import math

import pytest
import torch

from loralab.adapters import attach_lora
from loralab.config import DataConfig, LoraConfig, ModelConfig, TrainConfig
from loralab.data import prepare_data
from loralab.errors import TrainingError
from loralab.models import load_model, target_modules
from loralab.store import Store
from loralab.strategies import Signals, get_strategy, resolve_budget
from loralab.train import Callback, total_steps, train
from loralab.train.schedule import lr_lambda, warmup_steps


def test_schedules():
    assert [lr_lambda(s, total=10, warmup=2, kind="constant") for s in (0, 1, 5)] == [0.5, 1.0, 1.0]
    assert lr_lambda(2, total=10, warmup=2, kind="linear") == 1.0
    assert lr_lambda(10, total=10, warmup=2, kind="linear") == 0.0
    assert lr_lambda(6, total=10, warmup=2, kind="cosine") == pytest.approx(0.5)
    assert warmup_steps(100, 5, 0.1) == 15 and warmup_steps(10, 50, 0) == 10


def test_total_steps_from_epochs():
    assert total_steps(TrainConfig(epochs=2, batch_size=4, grad_accum=2), 33) == 10  # 9 batches -> 5 steps
    assert total_steps(TrainConfig(max_steps=7), 10_000) == 7


class _Poison(Callback):
    """Turns an adapter weight into NaN after step 2: the next loss must stop the run."""

    def on_step_end(self, state):
        if state.step == 2:
            with torch.no_grad():
                next(p for p in state.model.parameters() if p.requires_grad).fill_(math.nan)


class _Recorder(Callback):
    def __init__(self):
        self.calls = []

    def on_train_begin(self, state):
        self.calls.append(("begin", state.step))

    def on_before_zero_grad(self, state):
        grads = [p.grad for p in state.model.parameters() if p.requires_grad]
        self.calls.append(("grads", all(g is not None for g in grads)))

    def on_evaluate(self, state, metrics):
        self.calls.append(("eval", state.step))

    def on_train_end(self, state):
        self.calls.append(("end", state.step))


@pytest.fixture
def setup(tmp_path):
    loaded = load_model(ModelConfig(name="tiny-gpt2"))
    data = prepare_data(
        DataConfig(source="synthetic", synthetic_size=80, val_set_size=8, cutoff_len=64), loaded.tokenizer
    )
    mods = target_modules(loaded.model)
    s = get_strategy("uniform")
    alloc = s.allocate(mods, resolve_budget("r2", mods, 1), Signals(), s.Options())
    model = attach_lora(loaded.model, alloc, LoraConfig(), seed=0)
    rd = Store(tmp_path).create("s", "r", {})
    return model, data, loaded.tokenizer.pad_token_id, rd


def _train(setup, callbacks, **cfg):
    model, data, pad, rd = setup
    return train(
        model, data.train, TrainConfig(**({"batch_size": 4, "checkpoint_every": 0} | cfg)), pad_id=pad,
        device=torch.device("cpu"), precision="fp32", checkpoint_dir=rd.checkpoint, callbacks=callbacks,
        evaluate=lambda: {"eval_loss": 0.0},
    )  # fmt: skip


def test_non_finite_loss_stops_with_the_step(setup):
    with pytest.raises(TrainingError, match=r"non-finite loss .* at step 3"):
        _train(setup, [_Poison()], max_steps=5)


def test_hooks_order_and_gradients_visible(setup):
    rec = _Recorder()
    state = _train(setup, [rec], max_steps=4, eval_every=2, grad_accum=2)
    assert state.step == 4 and 4 * 2 * 3 < state.examples_seen <= 4 * 2 * 4  # 8 micro-batches of <= 4
    assert rec.calls[0] == ("begin", 0) and rec.calls[-1] == ("end", 4)
    assert [c for c in rec.calls if c[0] == "eval"] == [("eval", 2), ("eval", 4)]
    assert all(ok for kind, ok in rec.calls if kind == "grads")


class _Counter(Callback):
    """Counts steps; its count is resumable state."""

    def __init__(self, key: str | None = None):
        self.n, self._key = 0, key

    @property
    def state_key(self) -> str:
        return self._key or super().state_key

    def on_step_end(self, state):
        self.n += 1

    def state_dict(self):
        return {"n": self.n}

    def load_state_dict(self, state):
        self.n = state.get("n", 0)


def test_two_callbacks_of_one_class_need_their_own_state_keys(setup):
    with pytest.raises(ValueError, match="share a state_key"):
        _train(setup, [_Counter(), _Counter()], max_steps=1)


def test_a_resume_restores_the_counters_and_each_callbacks_state_by_its_key(setup):
    first = [_Counter("a"), _Counter("b")]
    _train(setup, first, max_steps=2, checkpoint_every=1)  # a checkpoint after step 1 (not the last)
    first[1].n = 10  # only the checkpointed state counts
    again = [_Counter("b"), _Counter("a")]
    state = _train(setup, again, max_steps=2, checkpoint_every=1)
    assert state.step == 2 and state.tokens_seen > 0 and state.examples_seen == 8
    assert [c.n for c in again] == [2, 2]  # 1 from the checkpoint (by key, not position) + 1 step


def test_split_rows_caps_each_forward_pass():
    from loralab.train.loop import split_rows

    lengths = [10, 30, 20, 40, 5, 40]
    idx = [0, 1, 2, 3, 4, 5]
    assert split_rows(idx, lengths, None) == [idx]
    assert split_rows(idx, lengths, 240) == [idx]  # 6 rows x 40 fits
    parts = split_rows(idx, lengths, 80)
    assert [i for p in parts for i in p] == idx  # the same rows, in order
    assert all(len(p) * max(lengths[i] for i in p) <= 80 for p in parts)
    assert parts == [[0, 1], [2, 3], [4, 5]]
    assert split_rows(idx, lengths, 3) == [[i] for i in idx]  # a row longer than the cap still runs alone


class _Steps(Callback):
    def __init__(self):
        self.logs = []

    def on_step_end(self, state):
        self.logs.append(dict(state.logs))


def test_split_forward_passes_give_the_same_step(tmp_path):
    """Without dropout, splitting a micro-batch into passes changes only float rounding."""

    def run(split):
        loaded = load_model(ModelConfig(name="tiny-llama"))  # no dropout inside the model (GPT-2 has some)
        data = prepare_data(
            DataConfig(source="synthetic", synthetic_size=80, val_set_size=8, cutoff_len=64), loaded.tokenizer
        )
        mods = target_modules(loaded.model)
        s = get_strategy("uniform")
        alloc = s.allocate(mods, resolve_budget("r2", mods, 1), Signals(), s.Options())
        model = attach_lora(loaded.model, alloc, LoraConfig(dropout=0.0), seed=0)
        rec = _Steps()
        cfg = TrainConfig(
            max_steps=3, batch_size=8, grad_accum=2, checkpoint_every=0, seed=0, max_forward_tokens=split
        )
        train(
            model, data.train, cfg, pad_id=loaded.tokenizer.pad_token_id, device=torch.device("cpu"),
            precision="fp32", checkpoint_dir=tmp_path / str(split), callbacks=[rec], evaluate=dict,
        )  # fmt: skip
        weights = [p.detach().clone() for p in model.parameters() if p.requires_grad]
        return rec.logs, weights

    whole, w_whole = run(None)
    split, w_split = run(40)  # rows of up to 64 tokens: every micro-batch of 8 splits
    for a, b in zip(whole, split, strict=True):
        assert a["tokens"] == b["tokens"] and a["padding"] >= b["padding"]  # parts pad to their own longest
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-5)
        assert a["grad_norm"] == pytest.approx(b["grad_norm"], rel=1e-4)
    assert any(a["padding"] > b["padding"] for a, b in zip(whole, split, strict=True))  # it did split
    for a, b in zip(w_whole, w_split, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_auto_forward_cap_splits_on_a_cpu_only():
    from loralab.train.loop import AUTO_FORWARD_TOKENS, forward_cap

    assert TrainConfig().max_forward_tokens == "auto"
    assert forward_cap("auto", torch.device("cpu")) == AUTO_FORWARD_TOKENS
    assert forward_cap("auto", torch.device("cuda")) is None  # large products keep a GPU busy
    assert forward_cap(512, torch.device("cuda")) == 512 and forward_cap(None, torch.device("cpu")) is None
    for bad in (0, -5, "big", True):
        with pytest.raises(ValueError, match="positive number of positions"):
            TrainConfig(max_forward_tokens=bad)

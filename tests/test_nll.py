import math

import pytest
import torch

from loralab.config import DataConfig, ModelConfig
from loralab.data import collate, prepare_data
from loralab.evaluate import evaluate
from loralab.models import load_model
from loralab.nll import supervised_token_nll


@pytest.fixture(scope="module")
def tiny():
    loaded = load_model(ModelConfig(name="tiny-llama"))
    data = prepare_data(
        DataConfig(source="synthetic", synthetic_size=120, val_set_size=20, cutoff_len=96), loaded.tokenizer
    )
    return loaded, data


def test_masked_nll_matches_hf_loss(tiny):
    loaded, data = tiny
    batch = collate(data.eval[:6], loaded.tokenizer.pad_token_id)
    with torch.no_grad():
        ours = supervised_token_nll(loaded.model, **batch)
        hf = loaded.model(**batch).loss  # HF: mean over every supervised next-token prediction
    assert ours.nll.numel() == int((batch["labels"][:, 1:] != -100).sum())
    assert (ours.total / ours.nll.numel()).item() == pytest.approx(hf.item(), rel=1e-5)


def test_eval_loss_is_token_weighted_and_batch_size_free(tiny):
    loaded, data = tiny
    pad = loaded.tokenizer.pad_token_id
    a = evaluate(loaded.model, data.eval, batch_size=1, pad_id=pad, device=torch.device("cpu"))
    b = evaluate(loaded.model, data.eval, batch_size=7, pad_id=pad, device=torch.device("cpu"))
    assert a.loss == pytest.approx(b.loss, rel=1e-6)
    per = a.per_example
    assert len(per) == len(data.eval) and per["example"].is_monotonic_increasing
    assert a.loss == pytest.approx(per["nll_sum"].sum() / per["tokens"].sum())
    # not the mean of per-example means (examples differ in length)
    assert a.loss != pytest.approx(per["nll_mean"].mean(), rel=1e-9)
    assert a.perplexity == pytest.approx(math.exp(a.loss))
    assert a.tokens == sum(e.n_supervised for e in data.eval)

"""The data stage end to end: records → subsample → train/eval split → tokenised examples + stats."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from loralab.config import DataConfig
from loralab.data.batching import length_grouped_batches, padding_fraction, random_batches
from loralab.data.sources import load_records
from loralab.data.split import check_val_set_size, subsample, train_eval_split
from loralab.data.template import AlpacaRecord
from loralab.data.tokenize import TokenizedExample, tokenize_records
from loralab.errors import DataError
from loralab.record import DataStats

STATS_BATCH_SIZE = 8  # the batch size at which `stats` reports padding fractions


@dataclass
class PreparedData:
    """Tokenised train and eval examples (each knows its record index) and summary statistics."""

    train: list[TokenizedExample]
    eval: list[TokenizedExample]
    stats: DataStats


def prepare_data(cfg: DataConfig, tokenizer: Any) -> PreparedData:
    """Load, subsample, split and tokenise as `cfg` says; DataError if train or eval ends up empty."""
    records = load_records(cfg.source, synthetic_size=cfg.synthetic_size, synthetic_seed=cfg.synthetic_seed)
    return prepare_records(records, cfg, tokenizer)


def prepare_records(records: list[AlpacaRecord], cfg: DataConfig, tokenizer: Any) -> PreparedData:
    """`prepare_data` on records already loaded; indices in the examples point into `records`."""
    chosen = subsample(len(records), cfg.max_examples, cfg.split_seed)
    if len(chosen) < 2:
        raise DataError(f"{len(chosen)} record(s) cannot be split into train and eval; use more records")
    train_pos, eval_pos = train_eval_split(len(chosen), cfg.val_set_size, cfg.split_seed)
    if not eval_pos:
        raise DataError(
            f"no eval records (val_set_size={cfg.val_set_size}, {len(chosen)} records); set"
            " data.val_set_size >= 1 and use at least 5 records"
        )
    check_val_set_size(len(chosen), cfg.val_set_size, DataConfig.model_fields["val_set_size"].default)
    train_idx = [chosen[i] for i in train_pos]
    eval_idx = [chosen[i] for i in eval_pos]
    train_all = _tokenize(records, train_idx, cfg, tokenizer)
    eval_all = _tokenize(records, eval_idx, cfg, tokenizer)
    train = [ex for ex in train_all if ex.n_supervised > 0]
    eval_ = [ex for ex in eval_all if ex.n_supervised > 0]
    for name, kept, total in (("training", train, train_all), ("eval", eval_, eval_all)):
        if not kept:
            raise DataError(
                f"no {name} examples left after tokenisation with cutoff_len={cfg.cutoff_len} (all"
                f" {len(total)} prompts fill it); raise data.cutoff_len"
            )
    stats = _stats(len(records), train, eval_, len(train_all) - len(train), len(eval_all) - len(eval_))
    return PreparedData(train=train, eval=eval_, stats=stats)


def _tokenize(
    records: list[AlpacaRecord], indices: list[int], cfg: DataConfig, tokenizer: Any
) -> list[TokenizedExample]:
    return tokenize_records(
        [records[i] for i in indices],
        tokenizer,
        cutoff_len=cfg.cutoff_len,
        add_eos=cfg.add_eos,
        train_on_inputs=cfg.train_on_inputs,
        indices=indices,
    )


def _stats(
    n_records: int,
    train: list[TokenizedExample],
    eval_: list[TokenizedExample],
    dropped_train: int,
    dropped_eval: int,
) -> DataStats:
    lengths = [len(ex) for ex in train]
    all_lengths = lengths + [len(ex) for ex in eval_]
    bs = STATS_BATCH_SIZE
    return DataStats(
        n_records=n_records,
        n_train=len(train),
        n_eval=len(eval_),
        dropped_no_supervised=dropped_train + dropped_eval,
        dropped_no_supervised_train=dropped_train,
        dropped_no_supervised_eval=dropped_eval,
        mean_length=sum(all_lengths) / len(all_lengths),
        max_length=max(all_lengths),
        train_set_tokens=sum(lengths),
        train_set_supervised_tokens=sum(ex.n_supervised for ex in train),
        padding_batch_size=bs,
        padding_fraction_grouped=padding_fraction(length_grouped_batches(lengths, bs, 0, 0), lengths),
        padding_fraction_random=padding_fraction(random_batches(lengths, bs, 0, 0), lengths),
    )

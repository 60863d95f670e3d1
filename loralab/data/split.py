"""Deterministic record selection: a seeded subsample and a seeded train/eval split (index lists)."""

from __future__ import annotations

from loralab.data._rng import seeded_rng
from loralab.errors import DataError

MAX_EVAL_FRACTION = 0.2  # small sets keep at least 80% of their records for training
MIN_RECORDS_FOR_EVAL = 5


def subsample(n: int, max_examples: int | None, seed: int) -> list[int]:
    """Indices of `max_examples` of `n` records chosen by a seeded shuffle, in source order; all if None.

    The first k of one permutation are taken, so a smaller `max_examples` is a subset of a larger one.
    """
    if max_examples is None or max_examples >= n:
        return list(range(n))
    if max_examples < 1:
        raise DataError(f"max_examples={max_examples} selects no records; use at least 1 or null")
    perm = seeded_rng(seed).permutation(n)
    return sorted(int(i) for i in perm[:max_examples])


def check_val_set_size(n: int, val_set_size: int, default: int) -> None:
    """DataError when an explicitly chosen `val_set_size` asks for the whole set or more.

    The default (alpaca-lora's 2000) is documented as capped at 20% of small sets, so it never errors;
    a smaller value that is still below n is capped the same way.
    """
    if val_set_size != default and val_set_size >= n:
        raise DataError(
            f"data.val_set_size={val_set_size} asks for at least all {n} records of the data set,"
            f" leaving none to train on; set data.val_set_size below {n} (at most 20% are held out)"
            " or use more records"
        )


def eval_size(n: int, val_set_size: int) -> int:
    """Records held out for eval: `val_set_size` capped at 20% of n, at least 1 when n >= 5, else 0."""
    if n < MIN_RECORDS_FOR_EVAL or val_set_size <= 0:
        return 0
    return max(1, min(val_set_size, int(n * MAX_EVAL_FRACTION)))


def train_eval_split(n: int, val_set_size: int, seed: int) -> tuple[list[int], list[int]]:
    """Disjoint (train, eval) index lists covering 0..n-1, each in ascending order; fixed by `seed`."""
    if n < 2:
        raise DataError(f"{n} record(s) cannot be split into train and eval; use a data set of 5 or more")
    k = eval_size(n, val_set_size)
    perm = seeded_rng(seed).permutation(n)
    return sorted(int(i) for i in perm[k:]), sorted(int(i) for i in perm[:k])

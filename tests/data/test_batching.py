import random
from collections import Counter
from collections.abc import Callable

import numpy as np
import pytest
import torch

from loralab.data import (
    IGNORE_INDEX,
    TokenizedExample,
    collate,
    epoch_batches,
    length_grouped_batches,
    padding_fraction,
    random_batches,
    sequential_batches,
)

# Skewed like instruction data: most examples short, a long tail.
LENGTHS = [int(x) for x in np.random.default_rng(0).lognormal(mean=4.0, sigma=0.8, size=3000).clip(8, 512)]


@pytest.mark.parametrize("make", [length_grouped_batches, random_batches])
def test_every_index_once_per_epoch(make: Callable[..., list[list[int]]]) -> None:
    for epoch in range(3):
        batches = make(LENGTHS, 8, 0, epoch)
        assert Counter(i for b in batches for i in b) == Counter(range(len(LENGTHS)))
        assert all(1 <= len(b) <= 8 for b in batches)
        assert sum(len(b) < 8 for b in batches) <= 1  # 3000 = 11 full mega-batches of 256 + a rest


@pytest.mark.parametrize("make", [length_grouped_batches, random_batches])
def test_order_depends_on_seed_and_epoch_only(make: Callable[..., list[list[int]]]) -> None:
    state_np, state_py = np.random.get_state(), random.getstate()
    first = make(LENGTHS, 8, 1, 0)
    assert first == make(LENGTHS, 8, 1, 0)
    assert first != make(LENGTHS, 8, 1, 1)
    assert first != make(LENGTHS, 8, 2, 0)
    assert np.array_equal(np.random.get_state()[1], state_np[1]) and random.getstate() == state_py


def test_length_grouping_cuts_padding() -> None:
    grouped = padding_fraction(length_grouped_batches(LENGTHS, 8, 0, 0), LENGTHS)
    shuffled = padding_fraction(random_batches(LENGTHS, 8, 0, 0), LENGTHS)
    assert shuffled > 0.3
    assert grouped < shuffled / 4


def test_grouped_batch_order_is_shuffled() -> None:
    maxima = [max(LENGTHS[i] for i in b) for b in length_grouped_batches(LENGTHS, 8, 0, 0)]
    assert maxima != sorted(maxima, reverse=True) and maxima != sorted(maxima)


def test_epoch_batches_dispatches_on_group_by_length() -> None:
    assert epoch_batches(LENGTHS, 4, 5, 2, True) == length_grouped_batches(LENGTHS, 4, 5, 2)
    assert epoch_batches(LENGTHS, 4, 5, 2, False) == random_batches(LENGTHS, 4, 5, 2)


def test_sequential_batches_are_longest_first_and_complete() -> None:
    batches = sequential_batches(LENGTHS, 16)
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(len(LENGTHS)))
    assert [LENGTHS[i] for i in flat] == sorted(LENGTHS, reverse=True)
    assert batches == sequential_batches(LENGTHS, 16)


def test_padding_fraction_by_hand() -> None:
    # batch [0, 1] pads to 4: 8 positions, 6 real; batch [2] has 3 positions, 3 real -> 2/11 padded
    assert padding_fraction([[0, 1], [2]], [2, 4, 3]) == pytest.approx(2 / 11)
    assert padding_fraction([[0], [1]], [5, 9]) == 0.0


def test_collate_pads_right_and_masks_padding() -> None:
    a = TokenizedExample(input_ids=(5, 6, 7), labels=(IGNORE_INDEX, 6, 7), index=0)
    b = TokenizedExample(input_ids=(8,), labels=(8,), index=1)
    batch = collate([a, b], pad_id=0)
    assert set(batch) == {"input_ids", "attention_mask", "labels"}
    assert all(t.dtype == torch.long and t.shape == (2, 3) for t in batch.values())
    assert batch["input_ids"].tolist() == [[5, 6, 7], [8, 0, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert batch["labels"].tolist() == [[IGNORE_INDEX, 6, 7], [8, IGNORE_INDEX, IGNORE_INDEX]]

import pytest

from loralab.data import subsample, train_eval_split
from loralab.errors import DataError


@pytest.mark.parametrize(
    ("n", "val_set_size", "expected_eval"),
    [(52002, 2000, 2000), (100, 2000, 20), (100, 7, 7), (9, 2000, 1), (5, 2000, 1), (4, 2000, 0), (50, 0, 0)],
)
def test_eval_size_is_capped(n: int, val_set_size: int, expected_eval: int) -> None:
    train, eval_ = train_eval_split(n, val_set_size, seed=0)
    assert len(eval_) == expected_eval
    assert sorted(train + eval_) == list(range(n))
    assert not set(train) & set(eval_)


def test_split_is_deterministic_by_seed() -> None:
    first = train_eval_split(1000, 100, seed=3)
    assert first == train_eval_split(1000, 100, seed=3)
    assert first[1] != train_eval_split(1000, 100, seed=4)[1]
    assert first[1] != list(range(100))  # shuffled, not the head of the data
    assert train_eval_split(1000, 100, seed=-1) == train_eval_split(1000, 100, seed=-1)


def test_split_needs_two_records() -> None:
    with pytest.raises(DataError, match="cannot be split"):
        train_eval_split(1, 10, seed=0)


def test_subsample() -> None:
    assert subsample(10, None, seed=0) == list(range(10))
    assert subsample(10, 50, seed=0) == list(range(10))
    small, large = subsample(1000, 50, seed=1), subsample(1000, 300, seed=1)
    assert len(small) == 50 and len(set(small)) == 50 and small == sorted(small)
    assert set(small) <= set(large)  # a smaller subsample is nested in a larger one
    assert small == subsample(1000, 50, seed=1) and small != subsample(1000, 50, seed=2)
    assert all(0 <= i < 1000 for i in large)

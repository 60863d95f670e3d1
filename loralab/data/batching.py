"""Batches of example indices (length-grouped, random or sequential) and their padded tensors."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from loralab.data._rng import seeded_rng
from loralab.data.tokenize import IGNORE_INDEX, TokenizedExample


def length_grouped_batches(
    lengths: Sequence[int], batch_size: int, seed: int, epoch: int, mega_factor: int = 32
) -> list[list[int]]:
    """Shuffled batches whose members have similar lengths; every index exactly once per epoch.

    As in transformers' LengthGroupedSampler: shuffle, cut into mega-batches of
    `batch_size * mega_factor`, sort each by length, cut into batches, then shuffle the batch order
    so that long and short batches are interleaved.
    """
    _check(batch_size, mega_factor)
    rng = _rng(seed, epoch)
    perm = rng.permutation(len(lengths))
    mega = batch_size * mega_factor
    batches: list[list[int]] = []
    for start in range(0, len(perm), mega):
        group = sorted(perm[start : start + mega].tolist(), key=lambda i: -lengths[i])
        batches.extend(group[j : j + batch_size] for j in range(0, len(group), batch_size))
    order = rng.permutation(len(batches))
    return [batches[i] for i in order]


def random_batches(lengths: Sequence[int], batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """Batches of a seeded shuffle of all indices, without regard to length."""
    _check(batch_size, 1)
    perm = _rng(seed, epoch).permutation(len(lengths)).tolist()
    return [perm[j : j + batch_size] for j in range(0, len(perm), batch_size)]


def epoch_batches(
    lengths: Sequence[int], batch_size: int, seed: int, epoch: int, group_by_length: bool
) -> list[list[int]]:
    """The training batches of one epoch: length-grouped or random, as `data.group_by_length` says."""
    if group_by_length:
        return length_grouped_batches(lengths, batch_size, seed, epoch)
    return random_batches(lengths, batch_size, seed, epoch)


def sequential_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Deterministic eval batches, longest first (so an out-of-memory shows up at once)."""
    _check(batch_size, 1)
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    return [order[j : j + batch_size] for j in range(0, len(order), batch_size)]


def padding_fraction(batches: Sequence[Sequence[int]], lengths: Sequence[int]) -> float:
    """Share of padded positions when each batch is padded to its longest member."""
    total = real = 0
    for batch in batches:
        if batch:
            sizes = [lengths[i] for i in batch]
            total += max(sizes) * len(sizes)
            real += sum(sizes)
    return 1.0 - real / total if total else 0.0


def collate(examples: Sequence[TokenizedExample], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-padded `input_ids`, `attention_mask` and `labels` (IGNORE_INDEX on padding), (batch, seq)."""
    if not examples:
        raise ValueError("cannot collate an empty batch")
    width = max(len(ex) for ex in examples)
    input_ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE_INDEX, dtype=torch.long)
    attention_mask = torch.zeros((len(examples), width), dtype=torch.long)
    for row, ex in enumerate(examples):
        n = len(ex)
        input_ids[row, :n] = torch.tensor(ex.input_ids, dtype=torch.long)
        labels[row, :n] = torch.tensor(ex.labels, dtype=torch.long)
        attention_mask[row, :n] = 1
    return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}


def _rng(seed: int, epoch: int) -> np.random.Generator:
    # One generator per (seed, epoch): epoch e is reproducible without replaying earlier epochs.
    return seeded_rng(seed, epoch)


def _check(batch_size: int, mega_factor: int) -> None:
    if batch_size < 1 or mega_factor < 1:
        raise ValueError(f"batch_size ({batch_size}) and mega_factor ({mega_factor}) must be >= 1")

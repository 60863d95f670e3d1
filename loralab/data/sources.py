"""Where a run's records come from: the synthetic generator, a local file or a hub dataset id."""

from __future__ import annotations

from loralab.data.records import read_records
from loralab.data.synthetic import generate
from loralab.data.template import AlpacaRecord


def load_records(source: str, *, synthetic_size: int, synthetic_seed: int) -> list[AlpacaRecord]:
    """Records from 'synthetic', a local .json/.jsonl/.parquet file, or a hub dataset id."""
    if source == "synthetic":
        return generate(synthetic_size, synthetic_seed)
    return read_records(source)

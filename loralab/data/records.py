"""Alpaca-format records read from a local .json/.jsonl/.parquet file or a hub dataset id, validated."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from loralab.data.template import AlpacaRecord
from loralab.errors import DataError
from loralab.hub import hub_usable

FILE_SUFFIXES = (".json", ".jsonl", ".parquet")
# Suffixes that mark a source as a file path rather than a hub id such as "tatsu-lab/alpaca".
_PATHLIKE_SUFFIXES = {*FILE_SUFFIXES, ".csv", ".tsv", ".txt", ".gz", ".zip", ".arrow", ".yaml", ".yml"}


def read_records(source: str) -> list[AlpacaRecord]:
    """Records from a local .json/.jsonl/.parquet file, or a hub dataset id."""
    path = Path(source).expanduser()
    if path.is_file():
        return _load_file(path)
    if _looks_like_path(source):
        raise DataError(
            f"data file {source} does not exist; check data.source (a .json/.jsonl/.parquet file,"
            " a hub dataset id, or 'synthetic')"
        )
    return _load_hub(source)


def records_from_rows(rows: Iterable[Any], where: str) -> list[AlpacaRecord]:
    """Validate mappings with instruction/input/output fields (and an optional `task`, which groups
    per-task scores) into records; `where` names the source."""
    records = []
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise DataError(
                f"{where}: record {i} is a {type(row).__name__}, not an object with Alpaca fields"
            )
        records.append(
            AlpacaRecord(
                instruction=_field(row, "instruction", i, where, required=True),
                input=_field(row, "input", i, where, required=False),
                output=_field(row, "output", i, where, required=True),
                task=_field(row, "task", i, where, required=False),
            )
        )
    if not records:
        raise DataError(f"{where} holds no records; pass a file with at least one Alpaca record")
    return records


def _field(row: Mapping[str, Any], name: str, i: int, where: str, *, required: bool) -> str:
    value = row.get(name)
    if value is None:
        if required:
            raise DataError(
                f"{where}: record {i} has no '{name}' field; Alpaca records need instruction, output"
                " and optionally input"
            )
        return ""
    if not isinstance(value, str):
        raise DataError(f"{where}: record {i} field '{name}' is a {type(value).__name__}, not a string")
    return value


def _looks_like_path(source: str) -> bool:
    # A hub id is "owner/name" or "name": never absolute, relative-dotted, or nested deeper.
    return (
        Path(source).suffix.lower() in _PATHLIKE_SUFFIXES
        or source.startswith(("/", "./", "../", "~"))
        or source.count("/") >= 2
    )


def _load_file(path: Path) -> list[AlpacaRecord]:
    suffix = path.suffix.lower()
    if suffix == ".json":
        rows = _read_json(path)
    elif suffix == ".jsonl":
        rows = _read_jsonl(path)
    elif suffix == ".parquet":
        rows = _read_parquet(path)
    else:
        raise DataError(f"data file {path} has an unsupported format; use a .json, .jsonl or .parquet file")
    return records_from_rows(rows, str(path))


def _read_json(path: Path) -> list[Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(f"{path} is not valid JSON ({e}); it must hold a list of Alpaca records") from None
    if not isinstance(data, list):
        raise DataError(f"{path} holds a JSON {type(data).__name__}; it must hold a list of Alpaca records")
    return data


def _read_jsonl(path: Path) -> list[Any]:
    rows = []
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise DataError(f"{path}:{lineno} is not valid JSON ({e}); use one record per line") from None
    return rows


def _read_parquet(path: Path) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as e:  # pyarrow raises several unrelated types for unreadable files
        raise DataError(f"{path} is not a readable parquet file ({type(e).__name__}: {e})") from None
    return table.to_pylist()


def _load_hub(source: str) -> list[AlpacaRecord]:
    import datasets

    if not hub_usable():
        raise DataError(
            f"cannot load dataset '{source}' from the hub (offline: it does not answer); pass a local"
            " .json/.jsonl/.parquet file of Alpaca records or data.source=synthetic, or set"
            " HF_HUB_OFFLINE=1 to read it from the local HF cache"
        )
    try:
        ds = datasets.load_dataset(source, split="train")
    except Exception as e:  # offline, unknown id, or no train split: all mean "use a local file"
        raise DataError(
            f"cannot load dataset '{source}' from the hub (offline?); pass a local .json/.jsonl/.parquet"
            " file of Alpaca records or data.source=synthetic"
        ) from e
    return records_from_rows(ds, f"dataset '{source}'")

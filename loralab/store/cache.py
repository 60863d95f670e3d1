"""Work that is identical across a study's runs, done once: `<root>/<study>/.cache/<kind>-<key>.pkl`.

A study's runs share the model, the data split, the eval set and (for data-driven strategies) the
signals measured on the base model; only the strategy, budget and seed differ. So the loaded model
(GGUF sources only, whose dequantisation is slow), the tokenised dataset, the base model's eval and
seed-independent signals are computed by the first run that needs them and read back by the others.
The key is the SHA-256 of everything the value depends on (the caller names it: configs, the data
and model files' size and mtime, library versions); a value is written
atomically (temp file + rename) under an exclusive `flock` of its own lock file, so concurrent
workers never read a torn file and the second one waits instead of computing the same thing again.
Where the filesystem has no `flock`, both compute and the last rename wins (identical contents).

The values are pickles written by this study's own runs; never point a cache at files you did not make.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import pickle
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, TypeVar

import torch
import transformers

from loralab.config import RunConfig
from loralab.models import SMOLLM2, smollm2_gguf_path

T = TypeVar("T")
CACHE_DIR = ".cache"
FORMAT = 1  # bump when a cached value's layout changes: old entries are then simply not found


def cache_key(parts: Mapping[str, Any]) -> str:
    """SHA-256 (first 20 hex) of `parts` as canonical JSON, plus the versions that can change a value."""
    payload = {
        **parts,
        "_format": FORMAT,
        "_torch": torch.__version__,
        "_transformers": transformers.__version__,
    }
    blob = json.dumps(payload, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:20]


def file_fingerprint(source: str) -> dict[str, Any] | None:
    """Size and mtime of a data file (None for a non-file source such as `synthetic`)."""
    path = Path(source).expanduser()
    if not path.is_file():
        return None
    st = path.stat()
    return {"path": str(path.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


class StudyCache:
    """Computes a value once per key and study; `StudyCache(None)` computes every time (cache off)."""

    def __init__(self, directory: Path | None):
        self.directory = directory
        self.hits: list[str] = []  # kinds read back, in order (a run records them)

    def get(self, kind: str, parts: Mapping[str, Any], compute: Callable[[], T]) -> T:
        """The cached value of `kind` under `parts`, or `compute()` stored for the next run."""
        if self.directory is None:
            return compute()
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"{kind}-{cache_key(parts)}.pkl"
        with _locked(path.with_suffix(".lock")):
            if path.is_file():
                try:
                    with path.open("rb") as f:
                        value = pickle.load(f)
                    self.hits.append(kind)
                    return value
                except (OSError, EOFError, pickle.UnpicklingError):
                    pass  # unreadable (written by another version?): compute and replace it
            value = compute()
            _atomic_pickle(path, value)
            return value


@contextmanager
def _locked(lock: Path) -> Iterator[None]:
    with lock.open("a") as f:
        with suppress(OSError):  # no flock here (some network filesystems): atomic renames still hold
            fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            with suppress(OSError):
                fcntl.flock(f, fcntl.LOCK_UN)


def _atomic_pickle(path: Path, value: Any) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            pickle.dump(value, f, protocol=pickle.HIGHEST_PROTOCOL)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def model_parts(cfg: RunConfig) -> dict[str, Any]:
    """What a model and its tokenizer depend on: the model config and its local file, if any."""
    name = cfg.model.name
    path = str(smollm2_gguf_path()) if name == SMOLLM2 else name
    return {"model": cfg.model.model_dump(mode="json"), "file": file_fingerprint(path)}


def worth_caching_model(cfg: RunConfig) -> bool:
    """GGUF models: dequantising one takes ~10x longer than reading back its pickle (~0.5 GB for 135M)."""
    return cfg.model.name == SMOLLM2 or cfg.model.name.endswith(".gguf")


def data_parts(cfg: RunConfig) -> dict[str, Any]:
    """What the tokenised dataset depends on: data config, data file, tokenizer."""
    return {
        **model_parts(cfg),
        "data": cfg.data.model_dump(mode="json"),
        "source": file_fingerprint(cfg.data.source),
    }


def base_eval_parts(cfg: RunConfig, eval_precision: str, device: torch.device) -> dict[str, Any]:
    """What the base model's eval depends on: model, data split, eval set, precision, batching, device."""
    return {
        **data_parts(cfg),
        "eval_precision": eval_precision,
        "eval_batch_size": cfg.train.eval_batch_size,
        "device": device.type,
    }

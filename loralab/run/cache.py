"""Work that is identical across a study's runs, done once: `<root>/<study>/.cache/<kind>-<key>.pkl`.

A study's runs share the model, the data split, the eval set and (for data-driven strategies) the
signals measured on the base model; only the strategy, budget and seed differ. So the tokenised
dataset, the base model's eval and seed-independent signals are computed by the first run that needs
them and read back by the others. Model weights are never cached: they load only from safetensors
or GGUF files (pickled weights would run code on load).
The key is the SHA-256 of everything the value depends on (the caller names it: configs, the content
digests of the data, model and tokenizer files that the run id covers too, `RunConfig.input_fingerprints`,
library versions); a value is written
atomically (temp file + rename) under an exclusive `flock` of its own lock file, so concurrent
workers never read a torn file and the second one waits instead of computing the same thing again.
Where the filesystem has no `flock`, both compute and the last rename wins (identical contents).

Values are pickles signed with an HMAC under a key that only this user can read
(`~/.cache/loralab/cache.key`, 0600): a value whose signature does not verify (a study directory
copied from elsewhere, a damaged file) is never unpickled; it is recomputed and replaced. Before a
run's directory exists (`deferred()`), values are only read and computed, and written by `flush()`
once the run has passed its input checks, so bad input leaves the store as it was.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import os
import pickle
import secrets
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, TypeVar

import torch
import transformers

from loralab.config import RunConfig

T = TypeVar("T")
FORMAT = 2  # bump when a cached value's layout changes: old entries are then simply not found


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


class StudyCache:
    """Computes a value once per key and study; `StudyCache(None)` computes every time (cache off)."""

    def __init__(self, directory: Path | None):
        self.directory = directory
        self.hits: list[str] = []  # kinds read back, in order (a run records them)
        self._pending: list[tuple[Path, Any]] | None = None  # values to write once the run may write

    @contextmanager
    def deferred(self) -> Iterator[StudyCache]:
        """Within: read hits, compute misses, write nothing (the run directory does not exist yet)."""
        self._pending = []
        try:
            yield self
        except BaseException:
            self._pending = None  # the run never started: nothing of it is stored
            raise

    def flush(self) -> None:
        """Write what was computed while deferred (the run has passed its input checks)."""
        pending, self._pending = self._pending or [], None
        for path, value in pending:
            path.parent.mkdir(parents=True, exist_ok=True)
            with _locked(path.with_suffix(".lock")):
                if _read(path) is _MISS:
                    _atomic_pickle(path, value)

    def get(self, kind: str, parts: Mapping[str, Any], compute: Callable[[], T]) -> T:
        """The cached value of `kind` under `parts`, or `compute()` stored for the next run."""
        if self.directory is None:
            return compute()
        path = self.directory / f"{kind}-{cache_key(parts)}.pkl"
        if self._pending is not None:  # deferred: read only
            value = _read(path)
            if value is not _MISS:
                self.hits.append(kind)
                return value
            value = compute()
            self._pending.append((path, value))
            return value
        self.directory.mkdir(parents=True, exist_ok=True)
        with _locked(path.with_suffix(".lock")):
            value = _read(path)
            if value is not _MISS:
                self.hits.append(kind)
                return value
            value = compute()
            _atomic_pickle(path, value)
            return value


_MISS = object()
_KEY: bytes | None = None


def _signing_key() -> bytes:
    """This user's HMAC key for cache values, made on first use (0600)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    path = Path(base) / "loralab" / "cache.key"
    global _KEY
    if _KEY is None:
        for _ in range(2):  # a second process may create the file between our read and our create
            with suppress(OSError, ValueError):
                _KEY = bytes.fromhex(path.read_text().strip())
                return _KEY
            key = secrets.token_hex(32)
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                continue
            except OSError:  # no writable cache dir: a key for this process only (values then miss)
                break
            with os.fdopen(fd, "w") as f:
                f.write(key)
            _KEY = bytes.fromhex(key)
            return _KEY
        _KEY = secrets.token_bytes(32)
    return _KEY


def _mac(blob: bytes) -> bytes:
    return hmac.new(_signing_key(), blob, hashlib.sha256).digest()


def _read(path: Path) -> Any:
    """The value at `path` if its signature verifies, else `_MISS` (absent, foreign or damaged)."""
    try:
        raw = path.read_bytes()
    except OSError:
        return _MISS
    tag, blob = raw[:32], raw[32:]
    if len(raw) < 32 or not hmac.compare_digest(tag, _mac(blob)):
        return _MISS  # never unpickle what this user's runs did not write
    try:
        return pickle.loads(blob)
    except Exception:  # written by another version of a class: recompute and replace
        return _MISS


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
    blob = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(_mac(blob) + blob)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def model_parts(cfg: RunConfig, inputs: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What a model and its tokenizer depend on: the model config and its local files' contents
    (`inputs`: the run's fingerprints, `RunConfig.input_fingerprints`, taken once by the run)."""
    inputs = cfg.input_fingerprints() if inputs is None else inputs  # one notion of "the same file"
    files = {role: inputs[role] for role in ("model", "tokenizer") if role in inputs}
    return {"model": cfg.model.model_dump(mode="json"), "files": files}


def data_parts(cfg: RunConfig, inputs: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What the tokenised dataset depends on: data config, data file contents, tokenizer."""
    inputs = cfg.input_fingerprints() if inputs is None else inputs
    return {
        **model_parts(cfg, inputs),
        "data": cfg.data.model_dump(mode="json"),
        "source": inputs.get("data"),
    }


def base_eval_parts(
    data_key: Mapping[str, Any], eval_precision: str, eval_batch_size: int, device: torch.device
) -> dict[str, Any]:
    """What the base model's eval depends on: model, data split, eval set (`data_key`, the data's
    `data_parts`), precision, batching, device."""
    return {
        **data_key,
        "eval_precision": eval_precision,
        "eval_batch_size": eval_batch_size,
        "device": device.type,
    }

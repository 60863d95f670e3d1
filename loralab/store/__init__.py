"""The results store: one directory per run, written atomically; the directories are the truth.

`rundir` names and reads every file of a run (and of a study: its index); `frames` is the one reader
of a study's run directories, of which `index.parquet` and the analysis' runs frame are both made;
`index` summarises a study's runs into rows and `index.parquet`. The analysis reads runs through
this package and `loralab.record` only.
"""

from loralab.atomic import (
    append_jsonl,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_parquet,
    atomic_write_text,
    last_jsonl,
    read_jsonl,
    recover_dir,
    replace_dir,
)
from loralab.store.rundir import (
    CACHE_DIR,
    CLAIM_FILE,
    EXECUTIONS_FILE,
    INDEX_FILE,
    SPEC_FILE,
    STATES,
    RunDir,
    RunState,
    Store,
)

__all__ = [
    "CACHE_DIR",
    "CLAIM_FILE",
    "EXECUTIONS_FILE",
    "INDEX_FILE",
    "SPEC_FILE",
    "STATES",
    "RunDir",
    "RunState",
    "Store",
    "append_jsonl",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_parquet",
    "atomic_write_text",
    "last_jsonl",
    "read_jsonl",
    "recover_dir",
    "replace_dir",
]

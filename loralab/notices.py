"""Library warnings as one line of ours, or not at all.

Python prints a warning as its source file, line and code; transformers, PEFT and torch add their
own chatter. The CLI installs `quiet_libraries`: warnings that tell the user something about their
run become `warning: <first line>`; the rest (deprecations inside libraries we pin) are silenced.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings
from typing import Any, TextIO

# Categories of library warnings that say nothing about the user's run.
SILENCED = (DeprecationWarning, PendingDeprecationWarning, FutureWarning, ImportWarning)


def one_line(message: Warning | str, category: type[Warning], *_: Any, **__: Any) -> str:
    """A warning as `warning: <its first line>`."""
    text = str(message).strip().splitlines()
    return f"warning: {text[0] if text else category.__name__}\n"


def _show(message: Warning | str, category: type[Warning], filename: str, lineno: int,
          file: TextIO | None = None, line: str | None = None) -> None:  # fmt: skip
    stream = file or sys.stderr
    with contextlib.suppress(OSError, ValueError):  # a closed stream must not raise
        stream.write(one_line(message, category))


def quiet_libraries() -> None:
    """Show warnings as one line of ours; silence library deprecations and transformers' logging."""
    warnings.showwarning = _show
    warnings.formatwarning = one_line
    warnings.filterwarnings("once")  # one line per distinct warning, not one per step
    for category in SILENCED:  # inserted in front of "once", so they win
        warnings.filterwarnings("ignore", category=category)
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    for name in ("transformers", "peft", "accelerate", "datasets", "huggingface_hub"):
        logging.getLogger(name).setLevel(logging.ERROR)

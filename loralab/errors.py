"""User-facing errors: the CLI prints their message on one line and exits with code 2.

Anything that is not a `LoralabError` is a bug and keeps its traceback.
"""

from __future__ import annotations

import errno

from pydantic import ValidationError

# Errors of writing that the user fixes outside loralab (space, permissions, a read-only mount).
WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS}


def validation_message(err: ValidationError, *, unknown_key: str = "unknown key") -> str:
    """A pydantic error as one line: where (`a.b.c`), what, and how many more problems there are.

    `unknown_key` replaces pydantic's message for a key the model forbids (say what is allowed).
    """
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first["loc"])
    msg = unknown_key if first["type"] == "extra_forbidden" else first["msg"]
    more = f" (and {len(err.errors()) - 1} more problem(s))" if len(err.errors()) > 1 else ""
    return f"{loc or '(top level)'}: {msg}{more}"


class LoralabError(Exception):
    """A problem the user can fix; the message says what to change."""


class ConfigError(LoralabError):
    """A config file, field or override is invalid."""


class DataError(LoralabError):
    """The data set cannot be read or yields no usable examples."""


class ModelError(LoralabError):
    """The model cannot be loaded or has no adaptable modules."""


class BudgetError(LoralabError):
    """A parameter budget cannot be met by any allocation."""


class StrategyError(LoralabError):
    """A strategy name, option or plug-in is invalid."""


class StoreError(LoralabError):
    """The results store refuses an operation (e.g. overwriting a finished run)."""


class RunAbandoned(Exception):
    """This process must stop working on a run that another process has taken over; the run's
    status belongs to the new owner and is left untouched."""


class TrainingError(LoralabError):
    """Training cannot start or had to stop (sanity check failed, non-finite loss)."""


class AnalysisError(LoralabError):
    """A study cannot be analysed as asked (no finished runs, unknown strategy, missing baseline)."""


class PaperError(LoralabError):
    """The paper cannot be drafted, built or checked (missing analysis, unknown citation, LaTeX error)."""


def write_failure(err: BaseException, where: str) -> StoreError | None:
    """A disk-full or permission error while writing under `where` as a StoreError saying what to do;
    None for any other error (a bug keeps its traceback)."""
    if isinstance(err, OSError) and err.errno in WRITE_ERRNOS:
        return StoreError(
            f"cannot write in {where}: {err.strerror}; make room or fix its permissions, then run again"
            " (it resumes from its last checkpoint)"
        )
    return None

"""User-facing errors: the CLI prints their message on one line and exits with code 2.

Anything that is not a `LoralabError` is a bug and keeps its traceback.
"""


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

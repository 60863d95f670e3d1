"""The strategy registry: `@register_strategy` where a strategy is defined, look-up with "did you mean".

Built-in strategies register when `loralab.strategies` is imported; user strategies through the
`loralab.strategies` entry-point group or a Python file passed as `--strategy-file`.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib.util
import sys
import warnings
from collections.abc import Callable
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError

from loralab.errors import StrategyError, validation_message
from loralab.strategies.base import KNOWN_SIGNALS, Strategy, StrategyOptions

_REGISTRY: dict[str, type[Strategy]] = {}
_PLUGINS_LOADED = False
_PLUGIN_ERRORS: dict[str, str] = {}  # entry-point name -> why it failed to load
S = TypeVar("S", bound=type[Strategy])


def register_strategy(name: str) -> Callable[[S], S]:
    """Class decorator: register a `Strategy` subclass under `name` (duplicates are refused)."""

    def wrap(cls: S) -> S:
        if not (isinstance(cls, type) and issubclass(cls, Strategy)):
            raise TypeError(f"{cls!r} is not a loralab Strategy subclass")
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise StrategyError(
                f"strategy name {name!r} is already registered by {_REGISTRY[name].__module__}"
            )
        if not cls.description:
            raise TypeError(f"strategy {name!r} needs a description")
        if not (isinstance(cls.Options, type) and issubclass(cls.Options, StrategyOptions)):
            raise TypeError(f"strategy {name!r}: Options must subclass loralab StrategyOptions")
        unknown = set(cls.needs) - set(KNOWN_SIGNALS)
        if unknown:
            raise TypeError(
                f"strategy {name!r} needs unknown signals {sorted(unknown)}; known: {KNOWN_SIGNALS}"
            )
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return wrap


def load_plugins() -> None:
    """Import strategies advertised in the `loralab.strategies` entry-point group (once).

    A plug-in that fails to import is skipped with a warning, so it cannot hide the built-ins; asking
    for it by name then raises a StrategyError that carries the import error.
    """
    global _PLUGINS_LOADED
    if _PLUGINS_LOADED:
        return
    _PLUGINS_LOADED = True
    for ep in entry_points(group="loralab.strategies"):
        try:
            ep.load()
        except Exception as e:
            _PLUGIN_ERRORS[ep.name] = f"strategy plug-in {ep.name!r} ({ep.value}) failed to load: {e}"
            warnings.warn(_PLUGIN_ERRORS[ep.name], stacklevel=2)


def load_strategy_file(path: str | Path) -> None:
    """Import a user Python file that registers strategies with `@register_strategy`."""
    p = Path(path)
    if not p.is_file():
        raise StrategyError(f"strategy file {p} does not exist")
    digest = hashlib.sha256(str(p.resolve()).encode()).hexdigest()[:16]
    mod_name = f"loralab_user_strategy_{digest}"
    if mod_name in sys.modules:
        return
    spec = importlib.util.spec_from_file_location(mod_name, p)
    if spec is None or spec.loader is None:
        raise StrategyError(f"strategy file {p} cannot be imported as Python")
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    try:
        spec.loader.exec_module(module)
    except StrategyError:
        raise
    except Exception as e:
        del sys.modules[mod_name]
        raise StrategyError(f"strategy file {p} failed to import: {type(e).__name__}: {e}") from None


def available() -> list[str]:
    """Names of all registered strategies, sorted."""
    load_plugins()
    return sorted(_REGISTRY)


def strategy_class(name: str) -> type[Strategy]:
    """The class registered as `name` (see `get_strategy`)."""
    return type(get_strategy(name))


def get_strategy(name: str) -> Strategy:
    """An instance of the strategy registered as `name`, or a StrategyError with suggestions."""
    load_plugins()
    if name not in _REGISTRY:
        if name in _PLUGIN_ERRORS:
            raise StrategyError(_PLUGIN_ERRORS[name])
        close = difflib.get_close_matches(name, list(_REGISTRY), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise StrategyError(f"unknown strategy {name!r}; {hint}available: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]()


def parse_options(strategy: Strategy, options: dict[str, Any]) -> StrategyOptions:
    """Validate a strategy's options dict into its Options model, with a one-line error."""
    try:
        return strategy.Options.model_validate(options)
    except ValidationError as e:
        fields = ", ".join(strategy.Options.model_fields) or "none"
        problem = validation_message(e, unknown_key="unknown option")
        raise StrategyError(f"strategy {strategy.name!r} option {problem} (options: {fields})") from None

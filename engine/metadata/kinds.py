"""A registry of named kinds: one object per kind, found by its name.

Automation trigger and action kinds are registered here (``automation_triggers.TRIGGERS``,
``automation_actions.ACTIONS``); code that handles a kind asks the registry instead of
comparing names. Kinds keep the order they were registered in: error hints list them so.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Generic, Protocol, TypeVar


class Named(Protocol):
    """What a registered kind has at least: its name in the config."""

    @property
    def name(self) -> str: ...


K = TypeVar("K", bound=Named)
F = TypeVar("F", bound=Callable[..., Any])


def placeholder(function: F) -> F:
    """Mark a base class's stand-in for a part that every kind must implement itself."""
    function.__placeholder__ = True  # type: ignore[attr-defined]
    return function


def missing_parts(kind: object, parts: tuple[str, ...]) -> list[str]:
    """The names in ``parts`` that ``kind`` does not implement (absent, or a ``placeholder``)."""
    missing = []
    for part in parts:
        method = getattr(kind, part, None)
        if not callable(method) or getattr(method, "__placeholder__", False):
            missing.append(part)
    return missing


_generation = 0


def generation() -> int:
    """Grows with every change of any registry: what was compiled under another generation
    (a cached config, the schema's validator) may name a kind that is gone, or miss a new one."""
    return _generation


def _changed() -> None:
    global _generation
    _generation += 1


class Kinds(Generic[K]):
    """Kinds of one sort (``what``: "trigger", "action"), by name, in registration order."""

    def __init__(self, what: str) -> None:
        self.what = what
        self._kinds: dict[str, K] = {}
        #: Grows with every change, so that what is derived from the registry can be rebuilt.
        self.version = 0

    def register(self, kind: K, *, replace: bool = False) -> K:
        """Add ``kind``; a second kind of the same name is refused unless ``replace``."""
        if kind.name in self._kinds and not replace:
            raise ValueError(f"a {self.what} kind `{kind.name}` is registered already")
        self._kinds[kind.name] = kind
        self.version += 1
        _changed()
        return kind

    def unregister(self, name: str) -> None:
        """Remove the kind called ``name`` (a plug-in unloaded, a test cleaning up)."""
        del self._kinds[name]
        self.version += 1
        _changed()

    def get(self, name: str) -> K | None:
        """The kind called ``name``, or None."""
        return self._kinds.get(name)

    def __getitem__(self, name: str) -> K:
        try:
            return self._kinds[name]
        except KeyError:
            raise KeyError(f"unknown {self.what} kind {name!r}; known: {', '.join(self._kinds)}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._kinds

    def __iter__(self) -> Iterator[K]:
        return iter(list(self._kinds.values()))

    def __len__(self) -> int:
        return len(self._kinds)

    def names(self) -> tuple[str, ...]:
        """Every registered name, in registration order."""
        return tuple(self._kinds)

"""The config language: load, check and model a Trellis config.

This package is pure Python: it never imports SQLAlchemy or Flask, so that the
config can be checked anywhere (an editor plug-in, CI) and the runtime can rely
on a model that is already correct. See README.md beside this file.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import threading
from collections import OrderedDict

from engine.metadata import kinds
from engine.metadata.compiler import compile_config
from engine.metadata.errors import ConfigError, ConfigIssue, Location
from engine.metadata.loader import RawConfig, load_raw, read_source
from engine.metadata.model import Config

__all__ = ["Config", "ConfigError", "ConfigIssue", "Location", "load_config", "load_config_text"]

#: How many compiled configs are kept (least recently used dropped first).
CACHE_SIZE = 64

# A compiled Config is immutable (frozen dataclasses, read-only mappings), so the same
# source texts compile once per process and the result is shared: a server's apply
# compiles the stored latest version, the tests open the same configs thousands of
# times. Keys: (json?, text) for a file that extends nothing (where it lies does not
# matter); (json?, text, folder) for one that does, whose entry also holds each
# template's path and text, checked again on every hit. Only configs without errors
# are kept: an error names the file it was found in.
_cache: OrderedDict[tuple, tuple[tuple[tuple[str, str], ...], Config]] = OrderedDict()
_cache_lock = threading.Lock()


def load_config(path: str | os.PathLike[str]) -> Config:
    """Load, merge (``extends``), check and compile the config at ``path``.

    Raises ``ConfigError`` listing every problem found.
    """
    shown = os.fspath(path)
    text = read_source(shown)
    if text is not None:
        json = shown.lower().endswith(".json")
        folder = os.path.dirname(os.path.abspath(shown))
        cached = _cached((json, text), shown) or _cached((json, text, folder), shown)
        if cached is not None:
            return cached
    raw = load_raw(shown)
    config = compile_config(raw)
    _keep(raw, config)
    return config


def load_config_text(text: str, name: str = "<config>") -> Config:
    """Compile a config held in a string (e.g. a stored version); ``extends`` is not allowed."""
    cached = _cached((False, text.replace("\r\n", "\n").replace("\r", "\n")), name)
    if cached is not None:
        return cached
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "config.yaml")
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
        raw = load_raw(path)
        raw.path = name
        config = compile_config(raw)
    _keep(raw, config)
    return config


def _cached(key: tuple, source_path: str) -> Config | None:
    """The config compiled from these texts (its templates unchanged), as read from ``source_path``,
    while the same automation kinds are registered (``kinds.generation``)."""
    key = (kinds.generation(), *key)
    with _cache_lock:
        entry = _cache.get(key)
        if entry is not None:
            _cache.move_to_end(key)
    if entry is None:
        return None
    templates, config = entry
    if any(read_source(template) != template_text for template, template_text in templates):
        return None
    if config.source_path == source_path:
        return config
    return dataclasses.replace(
        config, source_path=source_path, warnings=_moved(config.warnings, config.source_path, source_path)
    )


def _moved(warnings: tuple[ConfigIssue, ...], old: str, new: str) -> tuple[ConfigIssue, ...]:
    """``warnings`` of the config compiled from ``old``, located in ``new`` (the same text)."""
    return tuple(
        dataclasses.replace(w, location=dataclasses.replace(w.location, file=new))
        if w.location is not None and w.location.file == old
        else w
        for w in warnings
    )


def _keep(raw: RawConfig, config: Config) -> None:
    (main, text), *templates = raw.sources
    json = main.lower().endswith(".json")
    key = (kinds.generation(), json, text, *((os.path.dirname(main),) if templates else ()))
    with _cache_lock:
        _cache[key] = (tuple(templates), config)
        _cache.move_to_end(key)
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)

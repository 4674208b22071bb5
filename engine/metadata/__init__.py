"""The config language: load, check and model a Trellis config.

This package is pure Python: it never imports SQLAlchemy or Flask, so that the
config can be checked anywhere (an editor plug-in, CI) and the runtime can rely
on a model that is already correct. See README.md beside this file.
"""

from __future__ import annotations

import os
import tempfile

from engine.metadata.compiler import compile_config
from engine.metadata.errors import ConfigError, ConfigIssue, Location
from engine.metadata.loader import load_raw
from engine.metadata.model import Config

__all__ = ["Config", "ConfigError", "ConfigIssue", "Location", "load_config", "load_config_text"]


def load_config(path: str | os.PathLike[str]) -> Config:
    """Load, merge (``extends``), check and compile the config at ``path``.

    Raises ``ConfigError`` listing every problem found.
    """
    return compile_config(load_raw(os.fspath(path)))


def load_config_text(text: str, name: str = "<config>") -> Config:
    """Compile a config held in a string (e.g. a stored version); ``extends`` is not allowed."""
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "config.yaml")
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
        raw = load_raw(path)
        raw.path = name
        return compile_config(raw)

"""What the benchmark scripts share: appending their rows to docs/benchmarks.md, the machine
they ran on, and the databases a ``--db sqlite|postgresql|both`` choice names."""

from __future__ import annotations

import os
import platform
from collections.abc import Iterator
from pathlib import Path


def machine() -> str:
    """The machine a benchmark ran on, as its table's last column says it."""
    return f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()}, Python {platform.python_version()}"


def databases(choice: str, postgresql: str) -> Iterator[str | None]:
    """The databases of ``--db``: None for a scratch SQLite file, else the PostgreSQL URL."""
    if choice in ("sqlite", "both"):
        yield None
    if choice in ("postgresql", "both"):
        yield postgresql


def append_rows(path: Path, section: str, header: str, lines: list[str]) -> None:
    """Append ``lines`` to the table under ``section`` in ``path`` (``header``: the section's
    heading, text and table head, written first when the section is missing)."""
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    if section not in text:
        text = text.rstrip("\n") + "\n\n" + header
    head, _, tail = text.partition(section)
    table, rest = [], tail.splitlines(keepends=True)
    while rest and not rest[0].startswith("| ---"):
        table.append(rest.pop(0))
    table.append(rest.pop(0))
    while rest and rest[0].startswith("|"):
        table.append(rest.pop(0))
    new = "".join(table) + "".join(line + "\n" for line in lines) + "".join(rest)
    path.write_text(head + section + new, encoding="utf-8")

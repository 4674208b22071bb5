"""Appending a benchmark's rows to its table in docs/benchmarks.md (shared by the scripts)."""

from __future__ import annotations

from pathlib import Path


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

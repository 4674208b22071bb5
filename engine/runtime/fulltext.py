"""SQLite's search index: one FTS5 table per object, the ``trigram`` tokenizer, kept by triggers.

``Query.search`` on SQLite matches ``field LIKE '%text%'`` over the searchable fields
(``tables.search_fields``), which reads the whole table. Each object with searchable fields
also gets an FTS5 virtual table over them (``index_name``: ``fts_obj_<object>_<hash>``)
with the ``trigram`` tokenizer (SQLite 3.34 and newer), ``case_sensitive 0``: it finds
every record holding a text of three characters or more anywhere in a field, in any case,
without reading the table. It is an *external content* table over ``obj_<object>``
(``rowid`` = the record's id), so it holds the index only, never a copy of the values; three
triggers on the object's table (``trigger_names``) keep it in step with every write —
the write path, bulk writes, imports, merges, restores, raw SQL — with no Python involved.

``candidates`` is ``id IN (SELECT rowid FROM fts WHERE fts MATCH '{"name" "company"}:
"text"')`` — one column filter per form of the text (``FieldType.search_forms``) listing only
the fields the caller may see, so a hidden field never matches. A text shorter than three
characters (one or two Chinese characters), a SQLite without FTS5 or ``trigram``
(``supported``), or an index not built (``exists``) leave the LIKE conditions alone, reading
the table as before.

When the index decides alone (``decides``). The trigram phrase ``"text"`` matches a field
exactly when the field, folded character by character, holds the folded text as a substring
(consecutive trigrams at consecutive positions) — LIKE's ``%text%`` with another folding.
FTS5's (``case_sensitive 0``, no ``remove_diacritics``) maps each character to one: ASCII
``A``–``Z`` to ``a``–``z``, other letters by Unicode's simple case folding (``É`` → ``é``,
``ẞ`` → ``ß``, the Kelvin sign ``K`` (U+212A) → ``k``, the long s ``ſ`` (U+017F) → ``s``);
SQLite's LIKE folds ASCII letters only and compares every other character as it is. So both
match the same records when every character of the text is one that nothing else folds to
or from, except its ASCII case partner: an ASCII character other than the letters ``k`` and
``s`` (in either case: the only two ASCII letters a non-ASCII one folds to), or a character
with no case at all (Chinese, kana, Hangul, digits, punctuation, spaces) by Python's Unicode
database — which knows every case pair SQLite's older table has (Unicode keeps case folding
stable), checked against this SQLite's own folding of every code point by
``tests/runtime/test_ftsdecide_rule.py``. Then the MATCH alone decides (``Query.search``
leaves its LIKE out while the index is used): no matching row's text is read to decide (a
count still reads each match's row, or the owner's list index, for the archived mark and the
scope). Any other text (``Straße``, ``café``, ``sales``, ``Kim``) still has the LIKE decide
among the index's candidates, so ``É`` in the index never finds ``é`` for LIKE. Both read
U+FFFE and U+FFFF as U+FFFD. A NUL character in a value ends it for LIKE (and for FTS5 in
SQLite 3.40; newer trigram tokenizers skip it, and could find more): the write path refuses
NUL in text, so only raw SQL could store one. ``like_folds_ascii_only`` checks once that this SQLite's LIKE is the built-in one (an
ICU build folds more): else the LIKE always decides.

``engine.runtime.migrate.fulltext`` creates, rebuilds and drops these tables with the config;
Alembic's comparison looks only at ``obj_*`` and ``sys_*`` tables, so it never sees them or
their shadow tables (``is_index_table``: ``…_data``, ``…_idx``, ``…_docsize``, ``…_config``),
and a backup leaves them out of its row counts (a copy of the file holds them anyway).
"""

from __future__ import annotations

import functools
import hashlib
import re
import sqlite3
from collections.abc import Mapping, Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite as sqlite_dialect

#: The tokenizer and its options; part of the index's name, so a change means a new index.
TOKENIZER = "trigram case_sensitive 0"
#: Shortest form of a search text the index can serve: the trigram tokenizer finds nothing shorter.
MIN_CHARS = 3
#: Column names FTS5 keeps for itself; an object with a searchable field named so has no index.
RESERVED_COLUMNS = frozenset({"rank", "rowid"})
#: FTS5 index tables (``index_name``) and the shadow tables FTS5 keeps beside each.
INDEX_TABLE = re.compile(r"^fts_(obj_.+)_[0-9a-f]{8}(_(data|idx|docsize|config|content))?$")
#: The three triggers of an index: after insert, delete and update of the object's table.
TRIGGER_SUFFIXES = ("ai", "ad", "au")


@functools.cache
def supported() -> bool:
    """Whether this process's SQLite has FTS5 with the ``trigram`` tokenizer (asked once)."""
    try:
        probe = sqlite3.connect(":memory:")
        try:
            probe.execute(f"CREATE VIRTUAL TABLE probe USING fts5(a, tokenize='{TOKENIZER}')")
        finally:
            probe.close()
    except sqlite3.Error:
        return False
    return True


def indexed_names(fields: Sequence[str]) -> list[str]:
    """The field names an object's index covers (all its searchable fields), or [] for none:
    no searchable field, or one named as an FTS5 reserved column (LIKE serves that object)."""
    return [] if RESERVED_COLUMNS.intersection(fields) else list(fields)


def index_name(table: sa.Table, names: Sequence[str]) -> str:
    """``fts_<table>_<hash>``: the hash covers the columns, their SQL types and the tokenizer,
    so any change to what is indexed (a field added, renamed, retyped) is a new index."""
    dialect = sqlite_dialect.dialect()
    signature = ";".join(
        [TOKENIZER, table.name, *(f"{name}:{table.c[name].type.compile(dialect=dialect)}" for name in names)]
    )
    return f"fts_{table.name}_{hashlib.sha256(signature.encode()).hexdigest()[:8]}"


def trigger_names(index: str) -> list[str]:
    """The names of the triggers that keep ``index`` in step with its table."""
    return [f"{index}_{suffix}" for suffix in TRIGGER_SUFFIXES]


def is_index_table(name: str) -> bool:
    """Whether ``name`` is a search index or one of its shadow tables (derived data)."""
    return INDEX_TABLE.match(name) is not None


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def create_statements(table: str, names: Sequence[str], index: str) -> list[str]:
    """The FTS5 table over ``table``'s columns ``names`` and its three triggers (insert; delete;
    update of an indexed column, only when a value changes): ``[table, *triggers]``. The index
    starts empty: fill it with ``rebuild_statement``."""
    fts, columns = _quote(index), ", ".join(_quote(n) for n in names)
    new = ", ".join(f"new.{_quote(n)}" for n in names)
    old = ", ".join(f"old.{_quote(n)}" for n in names)
    changed = " OR ".join(f"old.{_quote(n)} IS NOT new.{_quote(n)}" for n in ("id", *names))
    insert = f"INSERT INTO {fts} (rowid, {columns}) VALUES (new.id, {new});"
    delete = f"INSERT INTO {fts} ({fts}, rowid, {columns}) VALUES ('delete', old.id, {old});"
    after_insert, after_delete, after_update = (_quote(t) for t in trigger_names(index))
    return [
        f"CREATE VIRTUAL TABLE {fts} USING fts5({columns}, content={_literal(table)}, "
        f"content_rowid='id', tokenize={_literal(TOKENIZER)})",
        f"CREATE TRIGGER {after_insert} AFTER INSERT ON {_quote(table)} BEGIN {insert} END",
        f"CREATE TRIGGER {after_delete} AFTER DELETE ON {_quote(table)} BEGIN {delete} END",
        f"CREATE TRIGGER {after_update} AFTER UPDATE OF {', '.join(_quote(n) for n in ('id', *names))} "
        f"ON {_quote(table)} WHEN {changed} BEGIN {delete} {insert} END",
    ]


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def rebuild_statement(index: str) -> str:
    """FTS5's ``rebuild``: the index made again from every row of its table."""
    return f"INSERT INTO {_quote(index)} ({_quote(index)}) VALUES ('rebuild')"


def drop_trigger_statements(index: str) -> list[str]:
    """Drop the triggers of ``index`` (those gone with a dropped or rebuilt table are skipped)."""
    return [f"DROP TRIGGER IF EXISTS {_quote(t)}" for t in trigger_names(index)]


def drop_statements(index: str) -> list[str]:
    """Drop ``index`` and its triggers."""
    return [*drop_trigger_statements(index), f"DROP TABLE IF EXISTS {_quote(index)}"]


def exists(connection: sa.Connection, index: str) -> bool:
    """Whether the database holds the index ``index`` (one catalogue lookup)."""
    found = connection.exec_driver_sql(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (index,)
    ).first()
    return found is not None


@functools.cache
def like_folds_ascii_only() -> bool:
    """Whether this process's SQLite LIKE is the built-in one: ASCII letters folded, nothing else
    (an ICU build folds ``É`` too; asked once). ``decides`` relies on it."""
    probe = sqlite3.connect(":memory:")
    try:
        row = probe.execute("SELECT 'a' LIKE 'A', 'é' LIKE 'É', char(8490) LIKE 'k', char(383) LIKE 's'").fetchone()
    finally:
        probe.close()
    return tuple(row) == (1, 0, 0, 0)


@functools.cache
def _agrees(character: str) -> bool:
    """Whether FTS5's trigram folding and SQLite's LIKE find the same characters for this one
    (see the module docstring): ASCII but ``k``/``s``, or a character with no case."""
    if character < "\x80":
        return character not in "kKsS"
    return character.lower() == character == character.upper() == character.casefold()


def decides(matches: Mapping[str, Sequence[str]]) -> bool:
    """Whether the index's MATCH for ``matches`` finds exactly the records LIKE finds, so that it
    may decide alone: every form is made of characters both fold alike (``_agrees``) and this
    SQLite's LIKE is the built-in one."""
    return all(_agrees(c) for form in matches for c in form) and like_folds_ascii_only()


def match_expression(matches: Mapping[str, Sequence[str]]) -> str | None:
    """The FTS5 query for ``matches`` (each form of a search text → the fields it is looked for
    in): ``{"a" "b"}: "form" OR {"c"}: "other"``; None when a form is shorter than ``MIN_CHARS``
    (the index cannot find it) or there is nothing to look for."""
    if not matches or any(len(form) < MIN_CHARS for form in matches):
        return None
    return " OR ".join(
        "{" + " ".join(_quote(name) for name in names) + "}: " + _quote(form) for form, names in matches.items()
    )


def serving_index(
    connection: sa.Connection, table: sa.Table, searchable: Sequence[str], matches: Mapping[str, Sequence[str]]
) -> str | None:
    """The name of the index that finds ``matches`` in ``table``, or None when none can (see the
    module docstring: another database, no FTS5, a form too short, the index not built; one
    catalogue lookup). ``searchable``: every searchable field of the object."""
    names = indexed_names(searchable)
    if not names or match_expression(matches) is None or connection.dialect.name != "sqlite" or not supported():
        return None
    index = index_name(table, names)
    return index if exists(connection, index) else None


def candidates_in(table: sa.Table, index: str, expression: str | sa.BindParameter[str]) -> sa.ColumnElement[bool]:
    """``id IN (SELECT rowid FROM <index> WHERE <index> MATCH expression)``; ``expression`` is
    ``match_expression``'s text, or a bound parameter that takes it (a statement built once for
    every text of one shape: ``engine.runtime.records.ranking``)."""
    fts = sa.table(index, sa.column("rowid"), sa.column(index))
    found = sa.select(fts.c.rowid).where(fts.c[index].match(expression))
    return table.c.id.in_(found)


def candidates(
    connection: sa.Connection, table: sa.Table, searchable: Sequence[str], matches: Mapping[str, Sequence[str]]
) -> sa.ColumnElement[bool] | None:
    """``id IN (SELECT rowid FROM <index> WHERE <index> MATCH …)``: the records the index finds
    for ``matches`` (a superset of LIKE's; the same when ``decides``), or None when the index
    cannot serve them (``serving_index``). ``searchable``: every searchable field of the object."""
    index = serving_index(connection, table, searchable, matches)
    expression = match_expression(matches)
    if index is None or expression is None:
        return None
    return candidates_in(table, index, expression)

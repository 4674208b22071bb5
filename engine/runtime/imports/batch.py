"""One batch of an import: its rows read and converted, their lookups and matches found, and
written through the write path (``Session.create_many`` / ``update_many``, ``on_error="collect"``).

``batches(plan, skip)`` cuts the file's rows into batches; ``write(session, plan, rows)`` writes
one in the caller's transaction and returns what it did and the rows that failed, each with its
problems in words, naming the column they came from.

A batch's lookups are found before its rows are written, so a row that needs a record an earlier
row of its batch makes — a row matching an earlier row's value, an account whose parent account
is a row above it — starts the next batch, written once the earlier row's record exists.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from engine.metadata.fieldtypes import FieldValueError
from engine.metadata.model import FieldDef, ObjectDef
from engine.runtime.errors import RECORD_ERRORS, TrellisError, ValidationFailed
from engine.runtime.imports.cells import CellContext, Ref, blank, convert_cell
from engine.runtime.imports.jobs import Counts, FailedRow
from engine.runtime.imports.mapping import EXTRA_FIELDS, Column, ColumnMap, field_of, finding_field, lookup_field
from engine.runtime.imports.problems import label, say
from engine.runtime.imports.reading import Source
from engine.runtime.imports.resolve import find, key_of
from engine.runtime.messages import localized
from engine.runtime.records.duplicates import Candidate, DuplicateBlocked, PossibleDuplicate
from engine.runtime.records.session import Session
from engine.runtime.records.writes import MAX_CHUNK


@dataclass
class Row:
    """One data row on its way: its cells as read, the values for the write path, its problems."""

    number: int
    cells: list[Any]
    values: dict[str, Any]
    problems: list[str] = field(default_factory=list)
    key: Any = None
    #: Values of the object's own records its lookups name, and that its own record will hold
    #: (for a lookup of the object to itself: a parent account by name).
    needs: set[Any] = field(default_factory=set)
    gives: set[Any] = field(default_factory=set)


class RowsMade:
    """The records a run wrote (of an object with duplicate rules) and the file rows they came from
    (16 bytes a record), so that a later row found to duplicate one of them is told which row of the
    file it repeats — also in a dry run, whose records are rolled back. New ids grow with each
    insert, so a lookup is a bisection."""

    def __init__(self) -> None:
        self._ids: array[int] = array("q")
        self._rows: array[int] = array("q")

    def add(self, record_id: int, row: int) -> None:
        """Remember that file row ``row`` made record ``record_id``."""
        at = len(self._ids) if not self._ids or record_id > self._ids[-1] else bisect_left(self._ids, record_id)
        self._ids.insert(at, record_id)
        self._rows.insert(at, row)

    def row_of(self, record_id: int | None) -> int | None:
        """The file row that made ``record_id`` in this run, or None."""
        if record_id is None:
            return None
        at = bisect_left(self._ids, record_id)
        return self._rows[at] if at < len(self._ids) and self._ids[at] == record_id else None


@dataclass
class Plan:
    """What is fixed for a whole run: the object, the map, constants, options."""

    obj: ObjectDef
    columns: ColumnMap
    constants: dict[str, Any]
    context: CellContext
    #: Rows per batch, and what to do with a row matching a record (``skip``/``update``/``error``).
    batch: int
    on_duplicate: str | None
    match: FieldDef | None
    source: Source
    #: A job of the web or the API (their users choose ``on_duplicate`` in a form or a field, not a flag).
    queued: bool = False
    #: The records this run wrote so far, by file row (a duplicate names the row it repeats).
    made: RowsMade = field(default_factory=RowsMade)

    @cached_property
    def own_lookups(self) -> list[tuple[FieldDef, FieldDef]]:
        """The lookups of the object to itself, each with the field its records are named by
        (not the id: a row cannot name a record not made yet by its id)."""
        found = []
        for column in self.columns.mapped:
            fdef = self.obj.fields.get(column.field or "")
            if fdef is not None and fdef.type == "lookup" and fdef.target == self.obj.name:
                by = self.obj.fields.get(finding_field(self.obj, column))
                if by is not None:
                    found.append((fdef, by))
        return found

    @cached_property
    def targets(self) -> tuple[tuple[Column, FieldDef], ...]:
        """The mapped columns, each with the field it fills (found once, used for every cell)."""
        return tuple((column, field_of(self.obj, column.field or "")) for column in self.columns.mapped)

    def label_of(self, name: str) -> str:
        """How an error names a field: the column it came from, else its label."""
        column = self.columns.column_of(name)
        if column is not None:
            return column.header
        fdef = self.obj.fields.get(name) or EXTRA_FIELDS.get(name)
        return label(fdef.label) if fdef is not None else name


# --- batches -------------------------------------------------------------------------------------------
def batches(plan: Plan, skip: int) -> Iterator[tuple[int, list[Row]]]:
    """The file's rows after the first ``skip``, converted, in batches of ``options.batch``; yields
    ``(rows read through the batch, rows)``. A row whose match value repeats one of its batch
    starts the next batch, so that it meets the record the earlier row made; so does a row whose
    lookup names the object's own record an earlier row of the batch makes."""
    batch: list[Row] = []
    keys: set[Any] = set()
    given: set[Any] = set()
    consumed = skip
    for number, cells in plan.source.rows(skip):
        index = number - plan.source.first_row
        if all(blank(cell) for cell in cells):
            consumed = index + 1
            continue
        row = _convert(plan, number, cells)
        if len(batch) >= plan.batch or (row.key is not None and row.key in keys) or row.needs & given:
            yield consumed, batch
            batch, keys, given = [], set(), set()
        batch.append(row)
        if row.key is not None:
            keys.add(row.key)
        given |= row.gives
        consumed = index + 1
    if batch or consumed > skip:
        yield consumed, batch


def _convert(plan: Plan, number: int, cells: list[Any]) -> Row:
    row = Row(number, cells, dict(plan.constants))
    width = len(cells)
    for column, fdef in plan.targets:
        cell = cells[column.index] if column.index < width else None
        try:
            value = convert_cell(cell, fdef, plan.context)
        except FieldValueError as exc:
            row.problems.append(f"{column.header}: {localized(exc.code, exc.message, exc.params)}")
            continue
        if value is not None:
            row.values[fdef.name] = value
    if plan.match is not None and plan.match.name in row.values:
        row.key = key_of(plan.match, row.values[plan.match.name], plan.context.settings)
    settings = plan.context.settings
    for fdef, by in plan.own_lookups:
        ref = row.values.get(fdef.name)
        needed = key_of(by, ref.text, settings) if isinstance(ref, Ref) else None
        given = key_of(by, row.values[by.name], settings) if by.name in row.values else None
        if needed is not None:
            row.needs.add((fdef.name, needed))
        if given is not None:
            row.gives.add((fdef.name, given))
    return row


def _plain(cell: Any) -> Any:
    """A cell as stored with a failed row (JSON): text, number or boolean; dates as ISO text. NUL
    characters are dropped (PostgreSQL's JSON cannot hold them; the write path refuses them anyway)."""
    if isinstance(cell, str):
        return cell.replace("\x00", "")
    if cell is None or isinstance(cell, int | float | bool):
        return cell
    return cell.isoformat() if hasattr(cell, "isoformat") else str(cell)


# --- writing a batch -----------------------------------------------------------------------------------
def write(session: Session, plan: Plan, rows: list[Row]) -> tuple[Counts, list[FailedRow]]:
    """Resolve, match and write one batch through the write path; its counts and failed rows."""
    _resolve_lookups(session, plan, rows)
    creates, updates, skipped, failures = _sort_out(session, plan, rows)
    chunk = max(1, min(len(rows), MAX_CHUNK))
    created = held = updated = 0
    if creates and not session.principal.grant(plan.obj.name).create:
        refusal = say("import.no_create", object=label(plan.obj.plural_label))
        failures.extend(_failed(row, [refusal]) for row in creates)
        creates = []
    if creates:
        outcomes = session.create_many(plan.obj.name, [r.values for r in creates], on_error="collect", chunk_size=chunk)
        created, held, passed = _outcomes(plan, creates, outcomes, failures)
        skipped += passed
    if updates:
        changes = [(record_id, row.values) for row, record_id in updates]
        outcomes = session.update_many(plan.obj.name, changes, on_error="collect", chunk_size=chunk)
        updated, held_updates, passed = _outcomes(plan, [row for row, _ in updates], outcomes, failures)
        held += held_updates
        skipped += passed
    failures.sort(key=lambda f: f.row)
    return Counts(created, updated, skipped, held, len(failures)), failures


def _sort_out(
    session: Session, plan: Plan, rows: list[Row]
) -> tuple[list[Row], list[tuple[Row, int]], int, list[FailedRow]]:
    """Which rows create a record, which update one (with its id), how many are skipped, which fail."""
    creates: list[Row] = []
    updates: list[tuple[Row, int]] = []
    failures: list[FailedRow] = []
    skipped = 0
    match = plan.match
    existing = find(session, plan.obj, match.name, [r.key for r in rows], archived=True) if match else {}
    for row in rows:
        ids = existing.get(row.key, []) if row.key is not None else []
        if row.problems:
            failures.append(_failed(row, row.problems))
        elif not ids or match is None:
            creates.append(row)
        elif len(ids) > 1:
            field = plan.label_of(match.name)
            failures.append(_failed(row, [say("import.ambiguous_match", count=len(ids), field=field)]))
        elif plan.on_duplicate == "skip":
            skipped += 1
        elif plan.on_duplicate == "update":
            updates.append((row, ids[0]))
        else:
            failures.append(
                _failed(row, [say(_hint("import.duplicate", plan), field=plan.label_of(match.name), id=ids[0])])
            )
    return creates, updates, skipped, failures


def _outcomes(plan: Plan, rows: list[Row], outcomes: list[Any], failures: list[FailedRow]) -> tuple[int, int, int]:
    """Count what the write path did with ``rows`` (written, held for approval, skipped: a likely
    duplicate under ``--on-duplicate skip``); refusals join ``failures``."""
    written = held = skipped = 0
    for row, outcome in zip(rows, outcomes, strict=True):
        if isinstance(outcome, PossibleDuplicate) and plan.on_duplicate == "skip":
            skipped += 1
        elif isinstance(outcome, TrellisError):
            failures.append(_failed(row, _messages(plan, outcome, rows)))
        elif outcome.pending_approval is not None:
            held += 1
        else:
            written += 1
            if outcome.id is not None and plan.obj.duplicates:
                plan.made.add(outcome.id, row.number)
    return written, held, skipped


def _resolve_lookups(session: Session, plan: Plan, rows: list[Row]) -> None:
    """Turn every lookup cell (``Ref``) into the id of the one record it names."""
    for column in plan.columns.mapped:
        fdef = plan.obj.fields.get(column.field or "")
        if fdef is None or fdef.type != "lookup":
            continue
        target = session.config.objects[fdef.target or ""]
        by = lookup_field(session.config, plan.obj, column)
        by_field = target.fields.get(by)
        keys = {}
        for row in rows:
            ref = row.values.get(fdef.name)
            if isinstance(ref, Ref):
                keys[ref.text] = key_of(by_field, ref.text, session.config.settings)
        found = find(session, target, by, keys.values())
        for row in rows:
            ref = row.values.get(fdef.name)
            if not isinstance(ref, Ref):
                continue
            ids = found.get(keys[ref.text], [])
            if len(ids) == 1:
                row.values[fdef.name] = ids[0]
                continue
            del row.values[fdef.name]
            code = "import.no_record" if not ids else "import.ambiguous_record"
            row.problems.append(
                f"{column.header}: "
                + say(code, object=label(target.label), value=ref.text[:60], count=len(ids), field=by)
            )


def _messages(plan: Plan, error: TrellisError, rows: list[Row]) -> list[str]:
    """A refusal of the write path as sentences, each naming its column (``rows``: those written
    with the refused one, as the write path numbered them)."""
    if isinstance(error, PossibleDuplicate):
        return [say(_hint("import.possible_duplicate", plan), records=_candidates(plan, error.candidates, rows))]
    if isinstance(error, DuplicateBlocked):
        return _blocked(plan, error, rows)
    if not isinstance(error, ValidationFailed):
        return [str(error)]
    out = []
    order = {column.field: column.index for column in plan.columns.mapped}
    for name, problems in sorted(error.errors.items(), key=lambda item: order.get(item[0], len(order))):
        for problem in problems:
            out.append(problem.message if name == RECORD_ERRORS else f"{plan.label_of(name)}: {problem.message}")
    return out


def _file_row(plan: Plan, candidate: Candidate, rows: list[Row]) -> int | None:
    """The row of the file a likely duplicate came from: an earlier row of the batch, or a record
    this run made; None for a record that was there before."""
    if candidate.row is not None:
        return rows[candidate.row].number
    return plan.made.row_of(candidate.record_id)


def _candidates(plan: Plan, candidates: list[Candidate], rows: list[Row]) -> str:
    """The likely duplicates as the importing user may know them: the row of this file it repeats,
    a record's title and id, or only the owner of a record they may not read."""
    out = []
    for c in candidates[:3]:
        number = _file_row(plan, c, rows)
        if number is not None:
            out.append(say("import.duplicate_row", row=number, title=c.title))
        elif c.record_id is not None:
            out.append(f"{c.title} (id {c.record_id})")
        else:
            out.append(say("import.hidden_duplicate", owner=c.owner))
    return ", ".join(out)


def _blocked(plan: Plan, error: DuplicateBlocked, rows: list[Row]) -> list[str]:
    """A row a ``block`` rule refused: per matched field, the row of this file or the record it
    repeats; a record the user may not read by its owner only (the write path's words)."""
    out = [problem.message for problem in error.errors.get(RECORD_ERRORS, [])]
    for c in error.candidates:
        number = _file_row(plan, c, rows)
        for match in c.matches:
            field = plan.label_of(match.field)
            if number is not None:
                out.append(say("import.same_as_row", field=field, row=number, title=c.title))
            else:
                out.append(say("import.same_as_record", field=field, title=c.title, id=c.record_id))
    return list(dict.fromkeys(out))


def _failed(row: Row, problems: list[str]) -> FailedRow:
    return FailedRow(row.number, [_plain(c) for c in row.cells], "; ".join(problems))


def _hint(key: str, plan: Plan) -> str:
    """The message ``key`` as the run's user can act on it: the CLI's names its ``--on-duplicate``
    flag, a queued job's (the wizard and the API) its "when a row matches a record" choice."""
    return f"{key}.queued" if plan.queued else key

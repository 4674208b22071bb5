"""Group keys as people read them, and the order groups come in.

Picklist values (the stage too) read as their labels and keep their declared order; users
read as their display names and lookups as the titles the viewer may see (``Session.titles``:
a record out of their scope stays ``#id``), both in alphabetical order; booleans as yes/no;
date buckets as a day, ``Week of …``, ``Apr 2026``/``2026年4月``, ``Q2 2026``/``2026年第2季度``
or a year. No value reads ``(empty)`` and comes last.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from babel.dates import format_skeleton

from engine.metadata.model import FieldDef, ObjectDef, ReportGroup
from engine.metadata.reports import report_field
from engine.runtime.messages import message
from engine.runtime.records.present import References, ValueFormatter, babel_locale, date_text
from engine.runtime.security.users import user_names

if TYPE_CHECKING:
    from engine.runtime.records.session import Session

Order = tuple[int, Any]


def field_label(obj: ObjectDef, name: str, language: str) -> str:
    """The label of field ``name`` (a system column's from the messages) in ``language``."""
    if name in obj.fields:
        return obj.fields[name].label.get(language)
    return message(f"column.{name}", language)


class Labeller:
    """Labels and order of one level's keys, for one reader."""

    def __init__(self, session: Session, obj: ObjectDef, group: ReportGroup, language: str) -> None:
        self.session, self.obj, self.group, self.language = session, obj, group, language
        field = report_field(obj, group.field)
        assert field is not None  # the compiler checked it
        self.field: FieldDef = field
        self.formatter = ValueFormatter(session.config.settings, language)
        self.names: dict[Any, str] = {}

    def read(self, raws: Iterable[Any]) -> None:
        """Read the names and titles the keys ``raws`` need, in one query."""
        ids = sorted({r for r in raws if r is not None})
        if self.group.bucket or not ids:
            return
        if self.field.kind.refers_to_user:
            self.names = dict(user_names(self.session, ids))
        elif self.field.kind.refers_to_record and self.field.target:
            self.names = dict(self.session.titles(self.field.target, ids))

    def label(self, raw: Any) -> str:
        """``raw`` as people read it."""
        if raw is None:
            return message("report.empty", self.language)
        if self.group.bucket:
            return self.bucket(raw)
        if self.names or self.field.kind.refers_to_user or self.field.kind.refers_to_record:
            return self.names.get(raw, f"#{raw}")
        refs = References()
        return ValueFormatter(self.formatter.settings, self.language, refs).text(raw, self.field)

    def bucket(self, start: dt.date) -> str:
        unit, settings = self.group.bucket, self.session.config.settings
        if unit == "day":
            return date_text(start, settings)
        if unit == "week":
            return message("report.week", self.language, date=date_text(start, settings))
        if unit == "month":
            return format_skeleton("yMMM", start, locale=babel_locale(self.language, settings))
        if unit == "quarter":
            return message("report.quarter", self.language, quarter=(start.month - 1) // 3 + 1, year=start.year)
        return message("report.year", self.language, year=start.year)

    def order(self, raw: Any) -> Order:
        """Where a group with ``raw`` comes: declared picklist order, names and titles
        alphabetically, others by value; no value last."""
        if raw is None:
            return (2, "")
        picklist = self.field.picklist if not self.group.bucket else None
        if picklist is not None:
            keys = [v.key for v in picklist.walk()]
            return (0, keys.index(raw) if raw in keys else len(keys))
        if self.names or self.field.kind.refers_to_user or self.field.kind.refers_to_record:
            return (1, self.label(raw).casefold())
        return (0, raw)

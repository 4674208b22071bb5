"""How a dry run of automation words what it would do (``actions.ActionKind.preview``) and
what triggers a rule (``triggers.TriggerKind.describe``).

Two readers, one registry of words: ``RAW`` for the config's author (``trellis automation
simulate``: field keys, values as JSON, moments in UTC ISO, durations as ``1d``, English) and
``PeopleWords`` for the explain page (``webui/ui/explain_admin.py``): field, object and stage
labels, picklist labels, lookup titles, user names, dates in ``settings.date_format`` and moments
in the company time zone (``records.present.ValueFormatter``), the sentences in the reader's
language (``engine.runtime.messages``, codes ``dryrun.*``, ``trigger.*`` and ``duration.*``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine.metadata.fieldtypes import coerce_value
from engine.metadata.model import Label, ObjectDef
from engine.runtime.messages import MESSAGES, message
from engine.runtime.records.present import References, ValueFormatter, date_text, moment_text
from engine.runtime.security.users import user_names
from engine.runtime.workflow.rulecontext import show

if TYPE_CHECKING:
    from engine.runtime.records.session import Session

#: System columns that hold a user's id.
USER_COLUMNS = ("owner_id", "created_by")
#: What an empty value reads as for people.
EMPTY = "—"
#: The units a duration is written in, largest first: (letter, seconds).
UNITS = (("d", 86400), ("h", 3600), ("m", 60))


def unit_of(seconds: int) -> tuple[int, str]:
    """``seconds`` as a count of the largest unit that divides it: ``86400`` → ``(1, "d")``."""
    for unit, size in UNITS:
        if seconds and seconds % size == 0:
            return seconds // size, unit
    return seconds, "s"


class RawWords:
    """Words for the config's author: keys, JSON values, English."""

    def field(self, obj: ObjectDef | None, name: str) -> str:
        """A field's name."""
        return name

    def object(self, obj: ObjectDef) -> str:
        """An object's name."""
        return obj.name

    def record(self, obj: ObjectDef, record_id: int) -> str:
        """A record named by a sentence."""
        return f"{obj.name} #{record_id}"

    def value(self, obj: ObjectDef | None, name: str, value: Any) -> str:
        """The value ``value`` of field ``name`` of ``obj``."""
        return show(value)

    def user(self, user_id: int, username: str) -> str:
        """A user: the user name."""
        return username

    def label(self, label: Label, name: str | None) -> str:
        """A configured thing (an assignment rule, a conversion): its name."""
        return name or ""

    def stage(self, obj: ObjectDef | None, key: str) -> str:
        """A stage of ``obj``'s pipeline: its key."""
        return key

    def duration(self, seconds: int) -> str:
        """A span of time: ``1d``, ``24h``… (the largest unit that divides it)."""
        count, unit = unit_of(seconds)
        return f"{count}{unit}"

    def either(self, items: list[str]) -> str:
        """Alternatives: ``a or b``."""
        return " or ".join(items)

    def say(self, code: str, english: str, **params: Any) -> str:
        """A sentence: ``english`` for the author, the catalogue's ``code`` for people."""
        return english


RAW = RawWords()


@dataclass
class PeopleWords(RawWords):
    """Words as people read them, in ``language``; titles and names read in ``session``."""

    session: Session
    language: str

    def field(self, obj: ObjectDef | None, name: str) -> str:
        found = obj.fields.get(name) if obj is not None else None
        if found is not None:
            return found.label.get(self.language)
        column = f"column.{name}"
        return message(column, self.language) if column in MESSAGES else name

    def object(self, obj: ObjectDef) -> str:
        return obj.label.get(self.language)

    def record(self, obj: ObjectDef, record_id: int) -> str:
        title = self.session.titles(obj.name, [record_id]).get(record_id)
        if not title:
            return f"{self.object(obj)} #{record_id}"
        return message("dryrun.record", self.language, object=self.object(obj), title=title)

    def value(self, obj: ObjectDef | None, name: str, value: Any) -> str:
        if value is None or value == "" or value == []:
            return EMPTY
        settings = self.session.config.settings
        f = obj.fields.get(name) if obj is not None else None
        if f is None:  # a system column
            if name in USER_COLUMNS and isinstance(value, int):
                return user_names(self.session, [value]).get(value, f"#{value}")
            if isinstance(value, dt.datetime):
                return moment_text(value, settings)
            if isinstance(value, dt.date):
                return date_text(value, settings)
            return show(value)
        refs = References()
        if f.kind.refers_to_record and f.target and isinstance(value, int):
            refs = References(titles={(f.target, i): t for i, t in self.session.titles(f.target, [value]).items()})
        elif f.kind.refers_to_user and isinstance(value, int):
            refs = References(users=user_names(self.session, [value]))
        try:  # as the write path would take it ("2026-07-01" for a date), then as people read it
            return ValueFormatter(settings, self.language, refs).text(coerce_value(f, value, settings), f) or EMPTY
        except (TypeError, ValueError, AttributeError, LookupError):  # a value the write path would refuse
            return show(value)

    def user(self, user_id: int, username: str) -> str:
        return user_names(self.session, [user_id]).get(user_id, username)

    def label(self, label: Label, name: str | None) -> str:
        return label.get(self.language)

    def stage(self, obj: ObjectDef | None, key: str) -> str:
        pipeline = obj.pipeline if obj is not None else None
        found = next((s for s in pipeline.all_stages() if s.key == key), None) if pipeline else None
        return found.label.get(self.language) if found is not None else key

    def duration(self, seconds: int) -> str:
        count, unit = unit_of(seconds)
        return message(f"duration.{unit}{'.one' if count == 1 else ''}", self.language, count=count)

    def either(self, items: list[str]) -> str:
        return message("words.or", self.language).join(items)

    def say(self, code: str, english: str, **params: Any) -> str:
        return message(code, self.language, **params)

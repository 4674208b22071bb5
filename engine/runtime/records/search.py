"""Global search: one text, every object the caller may read, a few best matches of each.

``search_everything(session, text)`` searches each readable object as its ``Query.search`` does
(the same conditions: ``query.text_condition``) — so the
caller's record scope applies, hidden fields are neither searched nor shown, encrypted
fields are never searched and archived records are left out, exactly as in the object's
list with ``?q=`` — and returns, per object with matches, the best ``per_object`` records
and how many match, counted up to ``SEARCH_CAP``. Each object costs one SELECT that never
reads every match: the first ``SEARCH_CAP + 1`` matches the database reads (in no order, so
that it stops there), ranked among themselves, with ``count(*) OVER ()`` for the count,
limited to ``per_object`` rows. When more than ``SEARCH_CAP`` records match, the count is
``SEARCH_CAP`` with ``ObjectHits.capped`` (people read "1,000+"). On PostgreSQL a team's matches
of a text that is neither rare nor common are read owner by owner, so that the database stops
after the owners that hold the first ``SEARCH_CAP + 1`` (``ranking.by_owner``). Each object's
statement is built once per shape (its visible columns, the scope's shape, the text's) with the
text and the owners bound (``engine.runtime.records.ranking``); an object whose scope admits no
record is not read.

Ranking (``ranking.rank``): a title field equal to the text, then a title field starting with it,
then any searched field equal to it (an e-mail address or phone number typed in full),
then the rest; among equals the most recently changed first. When at most ``SEARCH_CAP``
records match, every match is ranked; when more match, only the first ``SEARCH_CAP`` the
database reads are — an arbitrary thousand, not the newest — so a record whose title equals
the text may then not be shown first: the object's list (newest first) or a longer text finds
it. Titles and matched values are formatted for people in the caller's language (picklist labels, local dates, lookup
titles the caller may see, users' names, phone numbers in international form).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine.metadata.model import FieldDef, ObjectDef
from engine.runtime.errors import FieldError
from engine.runtime.records import ranking
from engine.runtime.records.listparams import BadListParams
from engine.runtime.records.present import References, ValueFormatter, moment_text
from engine.runtime.records.query import MAX_SEARCH_LENGTH, Query, row_to_record, search_matches
from engine.runtime.records.record import Record
from engine.runtime.security.users import user_names

if TYPE_CHECKING:
    from engine.runtime.records.session import Session

#: Records shown per object by default (the top bar's suggestions, the results page).
PER_OBJECT = 5
#: Most records per object a caller may ask for.
MAX_PER_OBJECT = 20
#: Shortest search text: two characters, or one Chinese, Japanese or Korean character
#: (a family name such as 张 is a meaningful search).
MIN_SEARCH_LENGTH = 2
#: Matches counted, and ranked, per object at most: past it the count says "1,000+" and the
#: ranking applies to the first ``SEARCH_CAP`` matches the database reads only.
SEARCH_CAP = 1000
#: Most matched fields (beyond the title) shown per record.
MAX_MATCHED = 2
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")


class BadSearch(BadListParams):
    """The search cannot run: ``errors`` names the parameter (``q``, ``objects``) and why."""

    code = "bad_search"


@dataclass(frozen=True)
class Hit:
    """One record found: its title and the fields other than the title that matched, for people."""

    record: Record
    title: str
    #: (field, its value formatted for people) of the fields beyond the title that hold the text.
    matched: tuple[tuple[FieldDef, str], ...] = ()

    @property
    def id(self) -> int:
        """The record's id."""
        return int(self.record.id)


@dataclass(frozen=True)
class ObjectHits:
    """The best matches in one object and how many records match, up to ``SEARCH_CAP``."""

    obj: ObjectDef
    hits: tuple[Hit, ...]
    total: int
    #: More than ``total`` records match (``total`` is then ``SEARCH_CAP``): "1,000+".
    capped: bool = False

    @property
    def more(self) -> bool:
        """Whether more records match than ``hits`` shows."""
        return self.capped or self.total > len(self.hits)


@dataclass(frozen=True)
class SearchResults:
    """What a global search found: the objects with matches, in config order."""

    text: str
    groups: tuple[ObjectHits, ...]
    #: The objects searched (readable, with a field the caller may search in).
    searched: tuple[ObjectDef, ...]

    @property
    def total(self) -> int:
        """How many records match in all objects (a lower bound when ``capped``)."""
        return sum(group.total for group in self.groups)

    @property
    def capped(self) -> bool:
        """Whether some object has more matches than its count says."""
        return any(group.capped for group in self.groups)


def search_text(text: str | None) -> str:
    """``text`` as searched (trimmed, NUL removed); ``BadSearch`` for ``q`` when it is too short
    (``MIN_SEARCH_LENGTH``; one CJK character is enough) or too long (``MAX_SEARCH_LENGTH``)."""
    text = (text or "").replace("\x00", "").strip()
    if len(text) > MAX_SEARCH_LENGTH:
        problem = FieldError(
            "search_too_long",
            f"The search text is at most {MAX_SEARCH_LENGTH} characters, not {len(text)}.",
            {"max": MAX_SEARCH_LENGTH},
        )
        raise BadSearch({"q": [problem]})
    if len(text) < MIN_SEARCH_LENGTH and not _CJK.search(text):
        problem = FieldError(
            "search_too_short",
            f"Type at least {MIN_SEARCH_LENGTH} characters to search (one Chinese character is enough).",
            {"min": MIN_SEARCH_LENGTH},
        )
        raise BadSearch({"q": [problem]})
    return text


def searchable_objects(session: Session, names: Sequence[str] = ()) -> list[ObjectDef]:
    """The objects a global search looks in: those the caller may read records of (all, or those
    ``names`` gives); ``BadSearch`` for ``objects`` naming one that is not among them (an object
    the caller may not read is answered as an unknown one)."""
    principal = session.principal
    readable = {name: obj for name, obj in session.config.objects.items() if principal.grant(name).read != "none"}
    unknown = [name for name in names if name not in readable]
    if unknown:
        problem = FieldError(
            "search_unknown_object",
            f"There is no object {unknown[0]!r} to search; use one of {', '.join(readable) or 'none'}.",
            {"name": unknown[0], "objects": ", ".join(readable)},
        )
        raise BadSearch({"objects": [problem]})
    wanted = set(names)
    return [obj for name, obj in readable.items() if not wanted or name in wanted]


def search_everything(
    session: Session,
    text: str | None,
    objects: Sequence[str] = (),
    per_object: int = PER_OBJECT,
    language: str = "en",
) -> SearchResults:
    """The best ``per_object`` matches of ``text`` in each object the caller may read (or in
    ``objects``), with the number of matches per object (up to ``SEARCH_CAP``); one SELECT per object."""
    text = search_text(text)
    if not 1 <= per_object <= MAX_PER_OBJECT:
        raise BadSearch(
            {
                "per_object": [
                    FieldError(
                        "search_per_object",
                        f"per_object is a whole number from 1 to {MAX_PER_OBJECT}.",
                        {"max": MAX_PER_OBJECT},
                    )
                ]
            }
        )
    settings = session.config.settings
    groups, searched = [], []
    for obj in searchable_objects(session, objects):
        matches = search_matches(session.principal, obj, text, settings)
        if not matches:  # nothing the caller may search in: the object is not searched at all
            continue
        searched.append(obj)
        rows, total = _ranked(session.query(obj.name), text, matches, per_object)
        if total:
            records = [row_to_record(obj, row, session.crm.keys) for row in rows]
            hits = _hits(session, obj, records, matches, language)
            groups.append(ObjectHits(obj, hits, min(total, SEARCH_CAP), capped=total > SEARCH_CAP))
    return SearchResults(text, tuple(groups), tuple(searched))


def _ranked(query: Query, text: str, matches: Mapping[str, list[str]], limit: int) -> tuple[list[dict[str, Any]], int]:
    """The best ``limit`` records of ``query`` (the caller's plain query of one object) holding
    ``text`` (``matches``: its forms and the fields searched for each) and how many do, up to
    ``SEARCH_CAP + 1``: one statement built once per shape (``ranking.ranked``)."""
    return ranking.ranked(query, matches, limit, SEARCH_CAP)


def _hits(
    session: Session, obj: ObjectDef, records: list[Record], matches: Mapping[str, list[str]], language: str
) -> tuple[Hit, ...]:
    """The records with their titles and matched fields, formatted for people in ``language``."""
    fmt = ValueFormatter(session.config.settings, language, _references(session, obj, records))
    title_fields = set(obj.title_fields())
    hits = []
    for record in records:
        matched: list[tuple[FieldDef, str]] = []
        for name in dict.fromkeys(n for names in matches.values() for n in names):
            if name in title_fields or len(matched) >= MAX_MATCHED:
                continue
            value = record.get(name)
            if isinstance(value, str) and any(form.lower() in value.lower() for form in matches):
                field = obj.fields[name]
                matched.append((field, fmt.text(value, field)))
        hits.append(Hit(record, people_title(obj, record, fmt), tuple(matched)))
    return tuple(hits)


def people_title(obj: ObjectDef, record: Record, fmt: ValueFormatter) -> str:
    """The record's title (``title`` template) with each value as people read it — a picklist's
    label, a local date, a lookup's title — or the object's label and id when it comes out empty."""
    if obj.title:
        shown: dict[str, str] = {}
        for name in obj.title_fields():
            value, field = record.get(name), obj.fields.get(name)
            if field is not None:
                shown[name] = fmt.text(value, field)
            elif isinstance(value, dt.datetime):
                shown[name] = moment_text(value, fmt.settings)
            else:
                shown[name] = "" if value is None else str(value)
        text = obj.title.format_map(shown).strip()
        if text:
            return text
    return f"{obj.label.get(fmt.language)} {record.id}"


def _references(session: Session, obj: ObjectDef, records: list[Record]) -> References:
    """Titles of the lookups and names of the users the records' titles name, as the caller sees them."""
    titles: dict[tuple[str, int], str] = {}
    users: set[int] = set()
    for name in obj.title_fields():
        field = obj.fields.get(name)
        if field is None:
            continue
        ids: list[int] = [r[name] for r in records if r.get(name) is not None]
        if field.target and ids:
            titles.update({(field.target, i): t for i, t in session.titles(field.target, ids).items()})
        elif field.kind.refers_to_user:
            users.update(ids)
    return References(titles, user_names(session, users) if users else {})

"""One list request, read alike by every list: the web list and board, the REST API's list
and the CSV export.

``parse(args)`` reads a query string (a plain mapping, or a multi-mapping such as Werkzeug's
``MultiDict``) into an immutable ``ListParams``. It never raises: a parameter it cannot read
is left out of the params and kept as a problem (``ListParams.problems``: parameter → field
errors with a stable code). ``ListParams.apply(query)`` builds the list on the one read path
(``engine.runtime.records.query``, which adds the caller's scope and refuses hidden fields): filters →
owner → search → ordering. It raises ``BadListParams`` (a ``QueryError``, code ``bad_query``)
naming every problem at once: those of parsing and those the query finds (an unknown or
hidden field, an unknown operator, a value that does not fit, an unknown sort key).

The parameters (docs/api.md, "Listing"):

- ``q``: search the text fields; ``sort``: ``-amount,name``; ``page`` (from 1) and ``per_page``
  (1 to ``MAX_PER_PAGE``);
- ``owner``: ``me`` (the caller's records), ``team`` (records owned by anyone in the caller's
  team, the caller included — exactly the ``team`` record scope, ``Principal.owners("team")``;
  just the caller without a team; never the people below a manager in other teams) or a user
  id. It narrows the caller's scope, never widens it, and does not combine with an
  ``owner_id`` filter;
- ``any_empty``: ``industry,phone`` keeps the records where at least one of these fields is
  empty (a completeness report's incomplete records, S41);
- ``moved_to``, ``moved_from``, ``moved_during``: the records that made one stage move
  (``engine.runtime.records.moves``: a funnel's figures);
- every other parameter filters: ``field=value`` or ``field__op=value``.

An empty value is no parameter (a filter form sends all its controls; ``field__isnull=true``
asks for empty fields); values are stripped; a parameter given twice or holding the NUL
character is a problem. What a list does without ``sort`` or ``per_page`` is the caller's
choice (``apply``'s ``default_sort``; ``per_page`` stays None): the web list shows the newest
records first, the API lists in id order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from engine.metadata.model import frozen_map
from engine.runtime.errors import FieldError, QueryError
from engine.runtime.records import moves
from engine.runtime.records.query import MAX_PER_PAGE, MAX_SEARCH_LENGTH, Page, Query

if TYPE_CHECKING:
    from engine.runtime.security.permissions import Principal

#: Parameters with a meaning of their own; every other one is a filter.
RESERVED = ("q", "sort", "page", "per_page", "owner", "any_empty", *moves.PARAMETERS)
#: ``per_page`` when neither the request nor the caller says.
DEFAULT_PER_PAGE = 50
#: The highest page number read (nine digits).
MAX_PAGE = 10**9 - 1
#: ``owner`` values that are not a user id.
OWNER_SHORTCUTS = ("me", "team")
#: The longest user id ``owner`` takes, in digits.
_MAX_ID_DIGITS = 18

Problems = Mapping[str, tuple[FieldError, ...]]


class BadListParams(QueryError):
    """Some list parameters cannot be used; ``errors`` maps each one to its problems
    (``FieldError`` with a code), all of them at once."""

    code = "bad_query"

    def __init__(self, errors: Mapping[str, Sequence[FieldError]]) -> None:
        self.errors = {name: list(problems) for name, problems in errors.items()}
        super().__init__("; ".join(e.message.rstrip(".") for problems in self.errors.values() for e in problems))


@dataclass(frozen=True)
class ListParams:
    """What a list asks for; build one with ``parse``."""

    filters: Mapping[str, str] = field(default_factory=frozen_map)
    #: ``""`` (anyone's), ``me``, ``team`` or a user id (digits).
    owner: str = ""
    search: str = ""
    sort: tuple[str, ...] = ()
    #: Fields of which at least one is empty in every record listed (``any_empty``).
    any_empty: tuple[str, ...] = ()
    #: A stage move every record listed made (``moved_to``, ``moved_from``, ``moved_during``).
    moved: moves.Moved | None = None
    page: int = 1
    #: None: the caller's default.
    per_page: int | None = None
    #: The parameters left out because they cannot be read, with why.
    problems: Problems = field(default_factory=frozen_map)

    @property
    def sort_text(self) -> str:
        """``sort`` as the query string writes it (``-amount,name``)."""
        return ",".join(self.sort)

    def args(self, **changes: Any) -> dict[str, Any]:
        """This list's query string as a dict, with ``changes`` (None drops a parameter);
        what ``parse`` reads back into the same params."""
        args: dict[str, Any] = {"q": self.search, "sort": self.sort_text, "owner": self.owner, **self.filters}
        args["any_empty"] = ",".join(self.any_empty)
        if self.moved is not None:
            args.update(self.moved.args())
        if self.page > 1:
            args["page"] = self.page
        if self.per_page is not None:
            args["per_page"] = self.per_page
        args.update(changes)
        return {key: value for key, value in args.items() if value not in (None, "")}

    def owner_filter(self, principal: Principal) -> dict[str, Any]:
        """The filter ``owner`` stands for: ``me`` → the caller; ``team`` → the owners of the
        caller's ``team`` scope (their team and themselves); an id → that user."""
        if self.owner == "me":
            return {"owner_id": principal.user_id}
        if self.owner == "team":
            return {"owner_id__in": sorted(principal.owners("team") or ())}
        if self.owner:
            return {"owner_id": self.owner}
        return {}

    def apply(self, query: Query, default_sort: Sequence[str] = ()) -> Query:
        """``query`` narrowed by these params: filters → owner → search → ordering (``default_sort``
        without ``sort``). Raises ``BadListParams`` with every problem, of parsing and of the query."""
        problems = {name: list(errors) for name, errors in self.problems.items()}
        for key, value in self.filters.items():
            query = _step(problems, key, "bad_filter", query, _filtered(key, value))
        if self.any_empty:
            empty = {f"{name}__isnull": "true" for name in self.any_empty}
            query = _step(problems, "any_empty", "bad_filter", query, lambda q: q.any_of(**empty))
        moved = self.moved
        if moved is not None:
            query = _step(problems, "moved_to", "bad_filter", query, lambda q: q.moved(moved))
        owner = self.owner_filter(query.session.principal)
        if owner:
            query = _step(problems, "owner", "bad_owner", query, lambda q: q.filter(**owner))
        if self.search:
            query = _step(problems, "q", "bad_search", query, lambda q: q.search(self.search))
        query = _step(problems, "sort", "bad_sort", query, lambda q: q.order_by(*(self.sort or default_sort)))
        if problems:
            raise BadListParams(problems)
        return query

    def read_page(
        self, query: Query, default_sort: Sequence[str] = (), default_per_page: int = DEFAULT_PER_PAGE
    ) -> Page:
        """The page these params ask for of ``apply(query)``."""
        return self.apply(query, default_sort).page(self.page, self.per_page or default_per_page)


def _filtered(key: str, value: Any) -> Callable[[Query], Query]:
    """A step of ``apply``: the query filtered by one ``field__op=value``."""
    return lambda query: query.filter(**{key: value})


def _step(
    problems: dict[str, list[FieldError]], name: str, code: str, query: Query, refine: Callable[[Query], Query]
) -> Query:
    """``refine(query)``, or ``query`` with the QueryError noted as a problem of ``name``."""
    try:
        return refine(query)
    except QueryError as exc:
        problems.setdefault(name, []).append(FieldError(code, str(exc), {"parameter": name}))
        return query


def parse(args: Mapping[str, str]) -> ListParams:
    """Read a list's query string; what cannot be read becomes a problem (see the module)."""
    problems: dict[str, list[FieldError]] = {}
    values: dict[str, str] = {}
    for name, value in _pairs(args):
        if "\x00" in name or "\x00" in value:
            name = name.replace("\x00", "")
            _problem(problems, name, "nul_character", "Query parameters cannot contain the NUL character (%00).")
        elif name in values:
            _problem(
                problems,
                name,
                "repeated_parameter",
                f"Give {name} once; for several values use {name.split('__')[0]}__in=a,b.",
            )
        else:
            values[name] = value.strip()
    for name in problems:
        values.pop(name, None)
    page = _whole_number(problems, values, "page", "bad_page", MAX_PAGE)
    per_page = _whole_number(problems, values, "per_page", "bad_per_page", MAX_PER_PAGE)
    owner = _owner(problems, values)
    search = values.get("q", "")
    if len(search) > MAX_SEARCH_LENGTH:
        _problem(
            problems,
            "q",
            "search_too_long",
            f"the search text is at most {MAX_SEARCH_LENGTH} characters, not {len(search)}",
            max=MAX_SEARCH_LENGTH,
        )
        search = ""
    filters = {name: value for name, value in values.items() if name not in RESERVED and value}
    if owner and any(name.partition("__")[0] == "owner_id" for name in filters):
        _problem(
            problems, "owner", "owner_conflict", "Filter on the owner either with owner or with owner_id, not both."
        )
        owner = ""
    return ListParams(
        filters=frozen_map(filters),
        owner=owner,
        search=search,
        sort=tuple(part.strip() for part in values.get("sort", "").split(",") if part.strip()),
        any_empty=tuple(dict.fromkeys(part.strip() for part in values.get("any_empty", "").split(",") if part.strip())),
        moved=moves.Moved.of(values),
        page=page or 1,
        per_page=per_page,
        problems=frozen_map({name: tuple(errors) for name, errors in problems.items()}),
    )


def _pairs(args: Mapping[str, str]) -> Iterable[tuple[str, str]]:
    """Every (name, value) of ``args``, a repeated name as often as it is given."""
    if hasattr(args, "getlist"):  # a multi-mapping (Werkzeug's MultiDict)
        return list(args.items(multi=True))  # type: ignore[call-arg]
    return list(args.items())


def _whole_number(
    problems: dict[str, list[FieldError]], values: Mapping[str, str], name: str, code: str, highest: int
) -> int | None:
    """``name`` as a whole number from 1 to ``highest``; None when absent, empty or wrong."""
    text = values.get(name, "")
    if not text:
        return None
    if not text.isdigit() or len(text) > len(str(highest)) or not 1 <= int(text) <= highest:
        limit = f" to {highest}" if highest != MAX_PAGE else ""
        _problem(
            problems, name, code, f"{name} must be a whole number from 1{limit}, not {text[:40]!r}.", highest=highest
        )
        return None
    return int(text)


def _owner(problems: dict[str, list[FieldError]], values: Mapping[str, str]) -> str:
    value = values.get("owner", "")
    if not value or value in OWNER_SHORTCUTS:
        return value
    if value.isdigit() and len(value) <= _MAX_ID_DIGITS and int(value) > 0:
        return str(int(value))
    _problem(problems, "owner", "bad_owner", f"owner is me, team or a user id, not {value[:40]!r}.")
    return ""


def _problem(problems: dict[str, list[FieldError]], name: str, code: str, text: str, **params: object) -> None:
    problems.setdefault(name, []).append(FieldError(code, text, {"parameter": name, **params}))

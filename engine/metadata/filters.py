"""The filter language of lists and reports, as far as a config can know it without a database.

A filter is ``field__op: value`` (``op`` defaults to ``eq``), the same keys a list's query
string takes (``engine.runtime.records.listparams``). ``OPERATORS`` are the operators;
``PERIODS`` the relative date ranges a date or datetime field may be compared with
(``created_at: this_quarter``), computed at run time in the company time zone
(``engine.runtime.records.periods``). ``split_key`` reads a key; a report's ``filter:``
is checked with them at compile time (T-E175).
"""

from __future__ import annotations

#: Filter operators and what they mean (``Query.filter``).
OPERATORS = ("eq", "ne", "lt", "lte", "gt", "gte", "in", "not_in", "contains", "startswith", "isnull")
#: Relative date ranges: ``field: <period>`` keeps the records whose date falls in it.
PERIODS = (
    "today",
    "yesterday",
    "this_week",
    "last_week",
    "this_month",
    "last_month",
    "this_quarter",
    "last_quarter",
    "this_year",
    "last_year",
    "last_7_days",
    "last_30_days",
    "last_90_days",
)
#: The period before a relative range of the same length (a KPI's comparison), where there is one.
PREVIOUS_PERIODS = {
    "today": "yesterday",
    "this_week": "last_week",
    "this_month": "last_month",
    "this_quarter": "last_quarter",
    "this_year": "last_year",
}
#: The system columns a filter, a group or a measure may name, as a field of this type.
SYSTEM_TYPES = {
    "id": "integer",
    "created_by": "user",
    "owner_id": "user",
    "version": "integer",
    "created_at": "datetime",
    "updated_at": "datetime",
    "archived_at": "datetime",
    "stage_entered_at": "datetime",
    "last_activity_at": "datetime",
}
#: The field types (value types) a relative range applies to.
PERIOD_TYPES = ("date", "datetime")


def split_key(key: str) -> tuple[str, str]:
    """``amount__gte`` → ``("amount", "gte")``; ``stage`` → ``("stage", "eq")``."""
    name, _, op = key.partition("__")
    return name, op or "eq"

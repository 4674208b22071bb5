"""The board of a pipeline object (``/o/<object>/board``): one column per stage.

HTTP and view models only. The records come from the one read path: the list's
parameters (``listing.list_params``: search, owner, field filters, sort) build the
query with ``listing.build_query`` on ``Session.query``, which adds the user's scope
and never selects a hidden field. Per column:

- the number of records and the sum of the object's amount field (``amount_field``),
  counted in SQL over that same query (``column_totals``), so big tables stay fast;
- the first ``CARDS_PER_COLUMN`` cards (title, owner, amount), and a link to the list
  filtered to the stage for the rest.

Each card is focusable and has a "Move to…" select in a small POST form (works without
JavaScript; ``webui.ui.pipeline.move`` answers); ``static/board.js`` adds drag and drop
(HTML5 with a mouse, pointer events from the card's handle with touch or a pen) and the
dialog that asks for the fields a gated stage needs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from flask import abort, request, url_for

from engine.metadata.model import FieldDef, ObjectDef, Stage
from engine.runtime.errors import QueryError
from engine.runtime.query import Query, format_title
from engine.runtime.record import Record
from engine.runtime.records import Session
from webui.api.meta import visible_fields
from webui.i18n import Formatter
from webui.ui import display, forms, listing
from webui.ui.context import formatter, ui_session
from webui.ui.views import readable, render_page

#: Most cards a column shows; the rest are a link to the filtered list.
CARDS_PER_COLUMN = 50
#: The config's stage colours (the schema allows ``#rrggbb`` only; checked again here).
COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")


def stage_classes(obj: ObjectDef, stage: Stage) -> str:
    """CSS classes of a stage: its outcome, and its config colour (``/stages.css``)."""
    classes = f"outcome-{stage.outcome}"
    if stage.color and COLOR.match(stage.color):
        classes += f" stage-colored stage-{obj.name}-{stage.key}"
    return classes


def percent(stage: Stage | None, fmt: Formatter) -> str:
    """The stage's win probability as "50%" (empty without one)."""
    if stage is None or stage.probability is None:
        return ""
    return fmt.number(round(stage.probability)) + "%"


def value_type(f: FieldDef) -> str:
    """The type of a field's values (a formula's result type)."""
    return f.value_type if f.type == "formula" else f.type


def amount_field(obj: ObjectDef, principal: Any) -> FieldDef | None:
    """The field a board sums: among the currency fields (and formulas with a currency
    result) the user may see, the first in the list's columns, else one named ``amount``,
    else the first formula (a computed total), else the first; None without one."""
    money = [f for f in visible_fields(obj, principal) if value_type(f) == "currency" and not f.encrypted]
    if not money:
        return None
    by_name = {f.name: f for f in money}
    for name in (*obj.list_columns, "amount"):
        if name in by_name:
            return by_name[name]
    return next((f for f in money if f.type == "formula"), money[0])


def column_totals(session: Session, obj: ObjectDef, query: Query,
                  amount: FieldDef | None) -> dict[Any, tuple[int, Decimal | None]]:
    """Per stage key: how many records of ``query`` are in it, and the sum of ``amount``.

    Runs over ``query.statement()`` (scope, filters and hidden fields applied) as one
    GROUP BY."""
    assert obj.pipeline is not None
    inner = query.statement().order_by(None).subquery("board")
    stage = inner.c[obj.pipeline.field]
    columns: list[Any] = [stage, sa.func.count()]
    if amount is not None:
        columns.append(sa.func.sum(inner.c[amount.name]))
    totals = {}
    for row in session.connection.execute(sa.select(*columns).group_by(stage)):
        total = row[2] if amount is not None else None
        totals[row[0]] = (row[1], Decimal(str(total)) if total is not None else None)
    return totals


# --- view models -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Card:
    """One record on the board."""

    id: int
    title: str
    url: str
    owner: str
    amount: str
    version: int
    stage: str
    can_move: bool


@dataclass(frozen=True)
class Column:
    """One stage of the board."""

    key: str
    label: str
    outcome: str
    css: str
    probability: str
    count: int
    count_text: str
    sum_text: str
    cards: list[Card]
    more_text: str
    more_url: str
    can_drop: bool


@dataclass(frozen=True)
class BoardView:
    """Everything ``board.html`` shows."""

    obj: ObjectDef
    title: str
    params: listing.ListParams
    columns: list[Column]
    stages: list[tuple[str, str]]
    filters: list[listing.FilterWidget]
    kept: list[tuple[str, str]]
    sentence: str
    error: str | None
    list_url: str
    clear_url: str
    amount_label: str
    other_text: str
    other_count: int
    can_move: bool
    next_url: str
    stylesheet: str


def show_board(object_name: str) -> str:
    """``GET /o/<object>/board``: the board with the list's filters."""
    params = listing.list_params(request.args)
    fmt = formatter()
    with ui_session() as session:
        obj = readable(session, object_name)
        if obj.pipeline is None or not session.principal.can_see(obj.name, obj.pipeline.field):
            abort(404)
        view = board_view(session, obj, params, fmt)
    return render_page("board.html", obj, view=view)


def board_view(session: Session, obj: ObjectDef, params: listing.ListParams, fmt: Formatter) -> BoardView:
    """The view model of a board: columns with their totals and first cards."""
    pipe = obj.pipeline
    assert pipe is not None
    principal = session.principal
    amount = amount_field(obj, principal)
    stage_field = obj.fields[pipe.field]
    may_change_stage = principal.grant(obj.name).edit != "none" and forms.editable(session, obj, stage_field)
    error, totals, per_stage = None, {}, {}
    try:
        query = listing.build_query(session, obj, params)
        totals = column_totals(session, obj, query, amount)
        for stage in pipe.stages:
            if totals.get(stage.key, (0, None))[0]:
                per_stage[stage.key] = query.filter(**{pipe.field: stage.key}).page(
                    1, CARDS_PER_COLUMN, count_limit=CARDS_PER_COLUMN).items
    except QueryError as exc:
        error = fmt.t("list.bad_filter", message=str(exc))
    records = [r for items in per_stage.values() for r in items]
    refs = display.collect_references(session, obj, records, [amount] if amount is not None else [])
    next_url = request.full_path.rstrip("?")
    columns = [_column(session, obj, stage, totals.get(stage.key, (0, None)), per_stage.get(stage.key, []),
                       amount, refs, params, may_change_stage, fmt) for stage in pipe.stages]
    known = {s.key for s in pipe.stages}
    other = sum(count for key, (count, _) in totals.items() if key not in known)
    widgets = [w for w in listing.filter_widgets(obj, principal, params, fmt.lang)
               if w.kind in ("select", "boolean") and w.name != pipe.field]
    shown = {w.name for w in widgets}
    kept = [(k, v) for k, v in params.filters.items() if k not in shown]
    refs = listing.filter_references(session, obj, params, refs)
    label = obj.plural_label.get(fmt.lang)
    return BoardView(
        obj=obj, title=fmt.t("board.title", objects=label), params=params, columns=columns,
        stages=[(s.key, s.label.get(fmt.lang)) for s in pipe.stages], filters=widgets, kept=kept,
        sentence=listing.filter_sentence(obj, params, fmt, refs, session.config.settings), error=error,
        list_url=url_for("records.list_records", object_name=obj.name, **params.args(page=None)),
        clear_url=url_for("pipeline.board", object_name=obj.name),
        amount_label=amount.label.get(fmt.lang) if amount is not None else "",
        other_text=fmt.t("board.other", count=fmt.number(other)) if other else "", other_count=other,
        can_move=may_change_stage, next_url=next_url, stylesheet=url_for("pipeline.stage_colors"),
    )


def _column(session: Session, obj: ObjectDef, stage: Stage, total: tuple[int, Decimal | None], records: list[Record],
            amount: FieldDef | None, refs: display.References, params: listing.ListParams, may_change: bool,
            fmt: Formatter) -> Column:
    count, summed = total
    cards = [Card(r.id, format_title(obj, r) or f"#{r.id}",
                  url_for("records.show", object_name=obj.name, record_id=r.id),
                  refs.users.get(r.get("owner_id"), ""),
                  display.format_value(r.get(amount.name), amount, fmt, refs) if amount is not None else "",
                  r.version, stage.key, may_change and display.may(session, obj, "edit", r))
             for r in records]
    more = count - len(cards)
    pipe_field = obj.pipeline.field
    return Column(
        key=stage.key, label=stage.label.get(fmt.lang), outcome=stage.outcome, css=stage_classes(obj, stage),
        probability=percent(stage, fmt), count=count,
        count_text=fmt.t("board.count_one") if count == 1 else fmt.t("board.count", count=fmt.number(count)),
        sum_text=fmt.t("board.sum", amount=fmt.money(summed or Decimal(0))) if amount is not None else "",
        cards=cards, more_text=fmt.t("board.more", count=fmt.number(more)) if more > 0 else "",
        more_url=url_for("records.list_records", object_name=obj.name,
                         **params.args(page=None, **{pipe_field: stage.key})),
        can_drop=may_change,
    )

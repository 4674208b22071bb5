"""The board of a pipeline object (``/o/<object>/board``): one column per stage.

HTTP and view models only. The records come from the one read path: the list's
parameters (``listing.list_params``: search, owner, field filters, sort — the one spec of
``engine.runtime.records.listparams``) build the query with ``listing.build_query`` on
``Session.query``, which adds the user's scope and never selects a hidden field; a
parameter that cannot be used is a message above the board. Per column:

- the number of records and the sum of the object's amount field (``amount_field``),
  counted in SQL over that same query (``column_totals``, ``Query.grouped``), so big tables stay fast;
- the first ``CARDS_PER_COLUMN`` cards (title, owner, amount), and a link to the list
  filtered to the stage for the rest.

An object with several pipelines (``pipeline.by`` + ``pipelines``) has one board per
pipeline, chosen with ``?pipeline=<key>`` (``default`` for the object's own stages) and a
switcher above the columns; each board shows the records whose ``by`` value chooses that
pipeline (``Pipeline.for_values``), with that pipeline's stages and labels.

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

from flask import abort, request, url_for

from engine.metadata.model import FieldDef, ObjectDef, Pipeline, Stage
from engine.runtime.errors import QueryError
from engine.runtime.records.query import Query, format_title
from engine.runtime.records.record import Record
from engine.runtime.records.session import Session
from webui.api.meta import visible_fields
from webui.i18n import Formatter
from webui.ui import display, forms, listing
from webui.ui.context import formatter, ui_session
from webui.ui.views import readable, render_page

#: Most cards a column shows; the rest are a link to the filtered list.
CARDS_PER_COLUMN = 50
#: The config's stage colours (the schema allows ``#rrggbb`` only; checked again here).
COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")


def stage_class(obj: ObjectDef, stage: Stage, pipe: Pipeline | None = None) -> str:
    """The CSS class carrying a stage's config colour (``/stages.css``); a variant
    pipeline's stages have their own (a key may be in two pipelines, coloured apart)."""
    if pipe is None or pipe.key == "default":
        return f"stage-{obj.name}-{stage.key}"
    return f"stage-{obj.name}-{pipe.key}-{stage.key}"


def stage_classes(obj: ObjectDef, stage: Stage, pipe: Pipeline | None = None) -> str:
    """CSS classes of a stage: its outcome, and its config colour (``/stages.css``)."""
    classes = f"outcome-{stage.outcome}"
    if stage.color and COLOR.match(stage.color):
        classes += f" stage-colored {stage_class(obj, stage, pipe)}"
    return classes


def pipeline_arg(obj: ObjectDef, pipe: Pipeline) -> dict[str, str]:
    """The board URL's ``pipeline`` argument for ``pipe`` (none for the object's own pipeline)."""
    return {} if obj.pipeline is None or pipe.key == obj.pipeline.key else {"pipeline": pipe.key}


def chosen_pipeline(obj: ObjectDef, key: str | None) -> Pipeline | None:
    """The pipeline ``?pipeline=key`` names (the object's own without a key); None if unknown."""
    assert obj.pipeline is not None
    if not key:
        return obj.pipeline
    return next((p for p in obj.pipeline.all_pipelines() if p.key == key), None)


def in_pipeline(query: Query, obj: ObjectDef, pipe: Pipeline) -> Query:
    """Narrow ``query`` to the records that move through ``pipe``: those whose ``by`` value
    it is chosen for — for the object's own pipeline, any other value or none."""
    root = obj.pipeline
    assert root is not None
    if root.by is None or not root.variants:
        return query
    if pipe.key != root.key:
        when = next(v.when for v in root.variants if v.key == pipe.key)
        return query.filter(**{f"{root.by}__in": list(when)})
    others = [value for v in root.variants for value in v.when]
    return query.any_of(**{f"{root.by}__not_in": others, f"{root.by}__isnull": True})


def percent(stage: Stage | None, fmt: Formatter) -> str:
    """The stage's win probability as "50%" (empty without one)."""
    if stage is None or stage.probability is None:
        return ""
    return fmt.number(round(stage.probability)) + "%"


def amount_field(obj: ObjectDef, principal: Any) -> FieldDef | None:
    """The field a board sums: among the currency fields (and formulas with a currency
    result) the user may see, the first in the list's columns, else one named ``amount``,
    else the first formula (a computed total), else the first; None without one."""
    money = [f for f in visible_fields(obj, principal) if f.value_kind.money and not f.encrypted]
    if not money:
        return None
    by_name = {f.name: f for f in money}
    for name in (*obj.list_columns, "amount"):
        if name in by_name:
            return by_name[name]
    return next((f for f in money if f.expression is not None), money[0])


def column_totals(obj: ObjectDef, query: Query, amount: FieldDef | None) -> dict[Any, tuple[int, Decimal | None]]:
    """Per stage key: how many records of ``query`` are in it, and the sum of ``amount``
    (``Query.grouped``: one GROUP BY inside the user's scope, filters applied)."""
    assert obj.pipeline is not None
    stage = obj.pipeline.field
    sums = [amount.name] if amount is not None else []
    return {
        group.values[stage]: (group.count, group.sums.get(amount.name) if amount is not None else None)
        for group in query.grouped(stage, sums=sums)
    }


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
class PipelineTab:
    """One entry of the pipeline switcher."""

    key: str
    label: str
    url: str
    current: bool


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
    pipelines: list[PipelineTab]
    pipeline_label: str
    #: The name of the user ``owner=<id>`` names, for the owner filter's select.
    owner_name: str = ""


def show_board(object_name: str) -> Any:
    """``GET /o/<object>/board``: the board with the list's filters (``?pipeline=`` picks
    one of several pipelines; an unknown one is a 404 naming those there are); a bad
    parameter is the board with the message, status 400, as on the list."""
    args = request.args.copy()
    key = args.pop("pipeline", "").strip()
    params = listing.list_params(args)
    fmt = formatter()
    with ui_session(read=True) as session:
        obj = readable(session, object_name)
        if obj.pipeline is None or not session.principal.can_see(obj.name, obj.pipeline.field):
            abort(404)
        pipes = board_pipelines(session, obj)
        pipe = next((p for p in pipes if p.key == key), None) if key else pipes[0]
        view = board_view(session, obj, params, fmt, pipe) if pipe is not None else None
    if view is None:
        message = fmt.t(
            "board.unknown_pipeline", pipeline=key, known=", ".join(f"{p.key} ({p.label.get(fmt.lang)})" for p in pipes)
        )
        return render_page("error.html", obj, message=message, status=404), 404
    return render_page("board.html", obj, view=view), 400 if view.error else 200


def board_pipelines(session: Session, obj: ObjectDef) -> tuple[Pipeline, ...]:
    """The pipelines the viewer gets a board of: every one when they may see the field that
    chooses among them, else the object's own only."""
    root = obj.pipeline
    assert root is not None
    if root.by is None or not session.principal.can_see(obj.name, root.by):
        return (root,)
    return root.all_pipelines()


def board_view(
    session: Session, obj: ObjectDef, params: listing.ListParams, fmt: Formatter, pipe: Pipeline | None = None
) -> BoardView:
    """The view model of a board of ``pipe`` (the object's own by default): columns with
    their totals and first cards."""
    pipe = pipe or obj.pipeline
    assert pipe is not None
    pipes = board_pipelines(session, obj)
    principal = session.principal
    amount = amount_field(obj, principal)
    stage_field = obj.fields[pipe.field]
    may_change_stage = principal.grant(obj.name).edit != "none" and forms.editable(session, obj, stage_field)
    error, totals, per_stage = None, {}, {}
    try:
        query = listing.build_query(session, obj, params)
        if len(pipes) > 1:
            query = in_pipeline(query, obj, pipe)
        totals = column_totals(obj, query, amount)
        for stage in pipe.stages:
            if totals.get(stage.key, (0, None))[0]:
                per_stage[stage.key] = (
                    query.filter(**{pipe.field: stage.key})
                    .page(1, CARDS_PER_COLUMN, count_limit=CARDS_PER_COLUMN)
                    .items
                )
    except QueryError as exc:
        error = fmt.t("list.bad_filter", message=str(exc))
    records = [r for items in per_stage.values() for r in items]
    refs = display.collect_references(session, obj, records, [amount] if amount is not None else [])
    next_url = request.full_path.rstrip("?")
    columns = [
        _column(
            session,
            obj,
            pipe,
            stage,
            totals.get(stage.key, (0, None)),
            per_stage.get(stage.key, []),
            amount,
            refs,
            params,
            may_change_stage,
            fmt,
        )
        for stage in pipe.stages
    ]
    known = {s.key for s in pipe.stages}
    other = sum(count for key, (count, _) in totals.items() if key not in known)
    widgets = [
        w
        for w in listing.filter_widgets(obj, principal, params, fmt.lang)
        if w.kind in ("select", "boolean") and w.name != pipe.field
    ]
    shown = {w.name for w in widgets}
    kept = [(k, v) for k, v in params.filters.items() if k not in shown]
    refs = listing.filter_references(session, obj, params, refs)
    label = obj.plural_label.get(fmt.lang)
    return BoardView(
        obj=obj,
        title=fmt.t("board.title", objects=label),
        params=params,
        columns=columns,
        stages=[(s.key, s.label.get(fmt.lang)) for s in pipe.stages],
        filters=widgets,
        kept=kept,
        sentence=listing.filter_sentence(obj, params, fmt, refs, session.config.settings),
        error=error,
        list_url=url_for("records.list_records", object_name=obj.name, **params.args(page=None)),
        clear_url=url_for("pipeline.board", object_name=obj.name, **pipeline_arg(obj, pipe)),
        amount_label=amount.label.get(fmt.lang) if amount is not None else "",
        other_text=fmt.plural("board.other", other) if other else "",
        other_count=other,
        can_move=may_change_stage,
        next_url=next_url,
        stylesheet=url_for("pipeline.stage_colors"),
        pipelines=[
            PipelineTab(
                p.key,
                p.label.get(fmt.lang),
                url_for("pipeline.board", object_name=obj.name, **pipeline_arg(obj, p), **params.args(page=None)),
                p.key == pipe.key,
            )
            for p in pipes
        ]
        if len(pipes) > 1
        else [],
        pipeline_label=pipe.label.get(fmt.lang),
        owner_name=listing.owner_name(params, refs),
    )


def _column(
    session: Session,
    obj: ObjectDef,
    pipe: Pipeline,
    stage: Stage,
    total: tuple[int, Decimal | None],
    records: list[Record],
    amount: FieldDef | None,
    refs: display.References,
    params: listing.ListParams,
    may_change: bool,
    fmt: Formatter,
) -> Column:
    count, summed = total
    cards = [
        Card(
            r.id,
            format_title(obj, r) or f"#{r.id}",
            url_for("records.show", object_name=obj.name, record_id=r.id),
            refs.users.get(r.get("owner_id"), ""),
            display.format_value(r.get(amount.name), amount, fmt, refs) if amount is not None else "",
            r.version,
            stage.key,
            may_change and display.may(session, obj, "edit", r),
        )
        for r in records
    ]
    more = count - len(cards)
    pipe_field = obj.pipeline.field
    return Column(
        key=stage.key,
        label=stage.label.get(fmt.lang),
        outcome=stage.outcome,
        css=stage_classes(obj, stage, pipe),
        probability=percent(stage, fmt),
        count=count,
        count_text=fmt.plural("board.count", count),
        sum_text=fmt.t("board.sum", amount=fmt.money(summed or Decimal(0))) if amount is not None else "",
        cards=cards,
        more_text=fmt.t("board.more", count=fmt.number(more)) if more > 0 else "",
        more_url=url_for(
            "records.list_records", object_name=obj.name, **params.args(page=None, **{pipe_field: stage.key})
        ),
        can_drop=may_change,
    )

"""Reports in the web UI (issue 15): the reports page and one report's page.

HTTP and view models only: which reports a user may open, the figures, their labels and
drill-down filters are ``engine.runtime.reports``'.

- ``/reports``: the reports the user may open, under the object each counts;
- ``/reports/<name>``: the report's table (one level, or none: a row per group) or matrix
  (two levels: the first down, the second across; one matrix per measure), with the total;
  every figure is a link to the record list filtered exactly as it was computed. The form
  above it overrides the period and the owner (``?period=this_month&owner=me``); notes say
  which measures were left out (hidden fields). Above the table, the ``chart`` block draws the
  report's ``chart:`` (``report_charts``), its bars and slices linked as the table's numbers;
- ``/reports/<name>/export.csv`` and ``.xlsx``: the figures as a file (labels, not keys),
  with the overrides of the page; the export grant and a recent re-confirmation as for lists.

A report the user may not open is 404, as an unknown one is.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Flask, Response, abort, g, request, send_file, url_for
from flask_login import current_user

from engine.metadata.filters import PERIODS
from engine.runtime import reports
from engine.runtime.errors import QueryError
from engine.runtime.exports.writers import WRITERS
from engine.runtime.reports.access import may_open, reports_for
from engine.runtime.reports.export import export_report
from engine.runtime.reports.result import Figure, ReportResult, Row
from webui.charts import Chart
from webui.state import get_trellis
from webui.ui import context, reconfirm
from webui.ui.context import language, t, ui_session
from webui.ui.report_charts import drill_url, previous_run, report_chart
from webui.ui.subscriptions import ScheduleForm, schedule_form
from webui.ui.views import _require_login, render_page

#: A report file is spooled in memory up to this size, then on disk.
SPOOL_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class ReportLink:
    """One report on the reports page."""

    name: str
    title: str
    description: str
    url: str


@dataclass(frozen=True)
class ReportGroupView:
    """The reports of one object."""

    object: str
    label: str
    reports: list[ReportLink]


@dataclass(frozen=True)
class Cell:
    """One figure on the page: its text and the list it was computed from (None: no link)."""

    text: str
    url: str | None = None


@dataclass(frozen=True)
class TableRow:
    """A row of the table: the group's labels, then a cell per measure."""

    labels: list[str]
    cells: list[Cell]
    #: A subtotal row (a forecast's team), drawn as one.
    subtotal: bool = False


@dataclass(frozen=True)
class Matrix:
    """One measure over two levels: ``rows`` (first level) × ``columns`` (second level)."""

    title: str
    columns: list[str]
    rows: list[tuple[str, list[Cell], Cell]]
    column_totals: list[Cell]
    total: Cell


@dataclass(frozen=True)
class ReportPage:
    """Everything ``report.html`` shows."""

    result: ReportResult
    table: list[TableRow]
    total: list[Cell]
    matrices: list[Matrix]
    periods: list[tuple[str, str]]
    period: str
    owner: str
    csv_url: str
    xlsx_url: str
    #: The report's chart (None for ``chart: table`` or without a figure to draw).
    chart: Chart | None = None
    #: The "Subscribe by e-mail" form's choices (``webui.ui.subscriptions``).
    subscribe: ScheduleForm | None = None


def figure_cell(result: ReportResult, figure: Figure | None) -> Cell:
    """A figure linked to the list of the records it was computed from (— without a value)."""
    if figure is None:
        return Cell("")
    if figure.value is None:
        return Cell("—")
    if figure.filter is None:
        return Cell(figure.text)
    return Cell(figure.text, drill_url(result.report.object, figure.filter))


def table_rows(result: ReportResult) -> list[TableRow]:
    """The report's groups as table rows: their labels and each figure linked to its records."""
    return [
        TableRow([k.label for k in row.keys], [figure_cell(result, f) for f in row.figures], row.subtotal)
        for row in result.rows
    ]


def _matrices(result: ReportResult) -> list[Matrix]:
    """One matrix per measure of a two-level report, with the totals of each row and column
    (``ReportResult.subtotals``: measures that add up; the others read —)."""
    if len(result.levels) != 2 or result.nested:
        return []
    firsts = list(dict.fromkeys((r.keys[0].raw, r.keys[0].label) for r in result.rows))
    seconds = [(key.raw, key.label) for key in result.columns]
    found = {(r.keys[0].raw, r.keys[1].raw): r for r in result.rows}
    matrices = []
    for measure in result.measures:
        rows = [
            (
                label,
                [_cell(result, found.get((raw, other)), measure.key) for other, _ in seconds],
                _cell(result, result.subtotals.get((0, raw)), measure.key),
            )
            for raw, label in firsts
        ]
        column_totals = [_cell(result, result.subtotals.get((1, other)), measure.key) for other, _ in seconds]
        total = figure_cell(result, result.total.figure(measure.key))
        matrices.append(Matrix(measure.label, [label for _, label in seconds], rows, column_totals, total))
    return matrices


def _cell(result: ReportResult, row: Row | None, measure: str) -> Cell:
    """The figure of ``measure`` in ``row`` (empty without the row; — without a value)."""
    if row is None:
        return Cell("")
    return figure_cell(result, row.figure(measure))


def overrides() -> reports.Overrides:
    """The page's or the file's overrides (``period``, ``owner``, ``team``)."""
    return reports.Overrides.parse(
        request.args.get("period", ""), request.args.get("owner", ""), request.args.get("team", "")
    )


# --- pages -------------------------------------------------------------------------------------------
def index() -> str:
    """The reports the user may open, by object."""
    lang = language()
    with ui_session() as session:
        found = reports.available(session)
        objects = {r.object: session.object(r.object) for r in found}
    groups = [
        ReportGroupView(
            name,
            obj.plural_label.get(lang),
            [
                ReportLink(
                    r.name,
                    r.label.get(lang),
                    r.description.get(lang) if r.description else "",
                    url_for("reports.show", name=r.name),
                )
                for r in found
                if r.object == name
            ],
        )
        for name, obj in objects.items()
    ]
    return render_page("reports.html", None, groups=groups)


def show(name: str) -> tuple[str, int]:
    """One report for the user (404 when they may not open it); a bad override or a report
    reading a hidden field is the page with the message, status 400."""
    args = {k: v for k, v in (("period", request.args.get("period")), ("owner", request.args.get("owner"))) if v}
    try:
        with ui_session(read=True) as session:
            report = reports.report_for(session, name)
            asked = overrides()
            result = reports.run(session, report.name, asked, language())
            previous = previous_run(session, result, asked) if report.chart == "kpi" else None
            currency = session.config.settings.currency
            chart = report_chart(result, session.object(report.object), currency, previous)
            page = ReportPage(
                result,
                table_rows(result),
                [figure_cell(result, f) for f in result.total.figures],
                _matrices(result),
                [(p, t(f"period.{p}")) for p in PERIODS],
                args.get("period", ""),
                args.get("owner", ""),
                url_for("reports.export", name=name, file_format="csv", **args),
                url_for("reports.export", name=name, file_format="xlsx", **args),
                chart,
                schedule_form(),
            )
    except reports.ReportNotFound:
        abort(404)
    except QueryError as exc:
        return render_page("error.html", None, status=400, message=str(exc)), 400
    return render_page("report.html", None, view=page), 200


def export(name: str, file_format: str) -> Response | tuple[str, int]:
    """The report's figures as a file: the export grant (403), a recent re-confirmation (S37)."""
    if file_format not in WRITERS:
        abort(404)
    principal = get_trellis().principal(current_user.username)
    report = get_trellis().config.reports.get(name)
    if report is None or not may_open(principal, report):
        abort(404)
    if principal.grant(report.object).export:
        back = reconfirm.needed()
        if back is not None:
            return back
    out = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 (send_file closes it)
    try:
        with ui_session(read=True) as session:
            result = reports.run(session, name, overrides(), language())
            export_report(session, result, out, file_format)
    except reports.ReportNotFound:
        out.close()
        abort(404)
    except QueryError as exc:
        out.close()
        return render_page("error.html", None, status=400, message=str(exc)), 400
    except Exception:
        out.close()
        raise
    out.seek(0)
    writer = WRITERS[file_format]
    return send_file(out, mimetype=writer.content_type, as_attachment=True, download_name=f"{name}.{writer.extension}")


# --- navigation -----------------------------------------------------------------------------------
def reports_nav() -> dict[str, Any]:
    """``reports_nav`` for base.html: the Reports link, when the user may open some report."""
    if not current_user.is_authenticated or not get_trellis().config.reports:
        return {"reports_nav": None}
    if "reports_nav" not in g:
        principal = context._principal()
        link = None
        if principal is not None and reports_for(get_trellis().config, principal):  # no database read
            link = {"url": url_for("reports.index"), "active": request.blueprint == "reports"}
        g.reports_nav = link
    return {"reports_nav": g.reports_nav}


ROUTES = (
    ("/reports", index, ["GET"]),
    ("/reports/<name>", show, ["GET"]),
    ("/reports/<name>/export.<file_format>", export, ["GET"]),
)


def create_blueprint(app: Flask) -> Blueprint:
    """The report routes; also gives templates ``reports_nav``."""
    app.context_processor(reports_nav)
    blueprint = Blueprint("reports", __name__)
    blueprint.before_request(_require_login)
    for rule, view, methods in ROUTES:
        blueprint.add_url_rule(rule, view.__name__, view, methods=methods)
    return blueprint

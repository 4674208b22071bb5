"""View models of the import wizard (``webui.ui.imports``): the map form read into the engine's
``ImportOptions``, and jobs as their pages show them (status in words, counts, local moments).

HTTP and words only: what a column may go into, which values are options, what a job may do
and who may see it are the engine's (``engine.runtime.imports``).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import url_for

from engine.metadata.model import ObjectDef
from engine.runtime.imports import QUEUED_BATCH, FailedRow, ImportOptions, Job, MapSpec, Preview
from engine.runtime.imports.mapping import SKIP
from engine.runtime.imports.reading import display_encoding
from webui.i18n import Formatter

#: What ``on_duplicate`` the map form offers ("" : every row makes a new record).
ON_DUPLICATE = ("", "skip", "update", "error")
#: A job's states, as the engine names them (``engine.runtime.imports.jobs``).
STATUSES = ("pending", "running", "done", "failed", "cancelled")
#: The states in which a job has rows left to run.
OPEN = ("pending", "running")


@dataclass(frozen=True)
class MapChoices:
    """The map form as sent: the options to import with, and the columns given no choice."""

    options: ImportOptions
    missing: tuple[str, ...]
    #: ``(field, first column, second column)`` for a field chosen for two columns.
    doubled: tuple[tuple[str, str, str], ...] = ()


def read_map_form(preview: Preview, form: Mapping[str, str]) -> MapChoices:
    """The choices of the map form (``col-<i>``: a field or ``skip``; ``val-<i>-<n>`` with
    ``valtext-<i>-<n>``: the option for a picklist value; ``by-<i>``: the field a lookup's cells
    name a record by; ``sheet``, ``on_duplicate``, ``match``). Values and ``by`` count only for the
    field they were offered for (``valfield-<i>``, ``byfield-<i>``)."""
    columns: dict[str, Any] = {}
    missing = []
    values: dict[int, dict[str, str]] = {}
    for key, option in form.items():
        if key.startswith("val-") and option:
            index, _, n = key[4:].partition("-")
            text = form.get(f"valtext-{index}-{n}")
            if index.isdigit() and text is not None:
                values.setdefault(int(index), {})[text] = option
    taken: dict[str, str] = {}
    doubled = []
    for column in preview.columns:
        choice = form.get(f"col-{column.index}", column.field or "")
        if not choice:
            missing.append(column.header)
            continue
        if choice == SKIP or column.note:
            columns[column.header] = SKIP
            continue
        if choice in taken:
            doubled.append((choice, taken[choice], column.header))
        taken.setdefault(choice, column.header)
        by = form.get(f"by-{column.index}")
        if values.get(column.index) and form.get(f"valfield-{column.index}") == choice:
            columns[column.header] = {"field": choice, "values": values[column.index]}
        elif by and form.get(f"byfield-{column.index}") == choice:
            columns[column.header] = {"field": choice, "by": by}
        else:  # nothing more chosen, or chosen for the field the column went into before
            columns[column.header] = choice
    on_duplicate = form.get("on_duplicate") or None
    options = ImportOptions(
        sheet=(form.get("sheet") or None) if preview.kind == "xlsx" else None,
        spec=MapSpec(columns),
        on_duplicate=on_duplicate,
        match=(form.get("match") or None) if on_duplicate else None,
        batch=QUEUED_BATCH,
    )
    return MapChoices(options, tuple(missing), tuple(doubled))


def read_as(preview: Preview, fmt: Formatter) -> str:
    """How the file was read, in the page's language."""
    if preview.kind == "csv":
        return fmt.t("imports.read_csv", encoding=display_encoding(preview.encoding))
    return fmt.t("imports.read_xlsx", sheet=preview.sheet or "")


@dataclass(frozen=True)
class JobView:
    """One job as its page and the history show it."""

    id: int
    url: str
    file_name: str
    dry_run: bool
    kind: str
    status: str
    status_text: str
    open: bool
    user: str
    at: str
    at_iso: str
    finished: str
    rows: str
    created: str
    updated: str
    skipped: str
    held: str
    failed: str
    failed_count: int
    percent: int | None
    message: str
    summary: str
    #: Whether some rows were (or, in a dry run, would be) created, updated or held.
    passing: bool


def job_view(obj: ObjectDef, job: Job, user_name: str, fmt: Formatter) -> JobView:
    """``job`` for people: status and kind in words, counts in the locale's digits, moments local."""
    percent = round(100 * job.fraction) if job.fraction is not None else None
    if job.status == "done":
        percent = 100
    counts = {
        "rows": fmt.number(job.rows_done),
        "created": fmt.number(job.created),
        "updated": fmt.number(job.updated),
        "skipped": fmt.number(job.skipped),
        "held": fmt.number(job.held),
        "failed": fmt.number(job.failed),
    }
    summary = fmt.t("imports.dry_summary" if job.dry_run else "imports.summary", **counts)
    return JobView(
        id=job.id,
        url=url_for("imports.job", object_name=obj.name, job_id=job.id),
        file_name=job.file_name,
        dry_run=job.dry_run,
        kind=fmt.t("imports.kind.dry_run" if job.dry_run else "imports.kind.import"),
        status=job.status,
        status_text=fmt.t(f"imports.status.{job.status}") if job.status in STATUSES else job.status,
        open=job.status in OPEN,
        user=user_name,
        at=fmt.moment(job.created_at),
        at_iso=_iso(job.created_at),
        finished=fmt.moment(job.finished_at) if job.finished_at else "",
        failed_count=job.failed,
        percent=percent,
        message=(job.message or "")
        .replace(job.file_path, job.file_name)
        .replace(Path(job.file_path).name, job.file_name),
        summary=summary,
        passing=bool(job.created or job.updated or job.held),
        **counts,
    )


@dataclass(frozen=True)
class FailureView:
    """A failed row as the job page lists it: its number, why, and its cells under their columns."""

    row: int
    error: str
    cells: list[tuple[str, str]]


#: A date stored as a moment at midnight (a date cell of a workbook), as the failed row keeps it.
_MIDNIGHT = re.compile(r"^(\d{4}-\d\d-\d\d)T00:00:00$")


def failure_view(failure: FailedRow, headers: list[str]) -> FailureView:
    """``failure`` with each cell as text beside its column (dates of a workbook without ``T00:00:00``)."""
    cells = []
    for index, cell in enumerate(failure.cells):
        text = "" if cell is None else str(cell)
        cells.append((headers[index] if index < len(headers) else "", _MIDNIGHT.sub(r"\1", text)))
    return FailureView(failure.row, failure.error, cells)


def progress_data(view: JobView, fmt: Formatter) -> dict[str, Any]:
    """The progress JSON a job's page polls (``static/import.js``)."""
    return {
        "id": view.id,
        "status": view.status,
        "status_text": view.status_text,
        "open": view.open,
        "percent": view.percent,
        "rows": view.rows,
        "text": fmt.t("imports.progress_text", rows=view.rows, failed=view.failed),
        "summary": view.summary,
    }


def records_url(obj: ObjectDef, job: Job) -> str:
    """The list of the records a job created: made by its user between its start and its end."""
    end = job.finished_at or job.updated_at
    return url_for(
        "records.list_records",
        object_name=obj.name,
        created_by=job.user_id,
        created_at__gte=_iso(job.created_at),
        created_at__lte=_iso(end + dt.timedelta(seconds=1)),
    )


def _iso(moment: dt.datetime) -> str:
    return (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).astimezone(dt.UTC).isoformat(timespec="seconds")

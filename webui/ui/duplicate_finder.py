"""The duplicates page of an object (issue 14 §3): the finder's groups, "Find duplicates",
"Merge" and "Not a duplicate". HTTP and view models only: who may see what of a group, the
scan and the dismissals are the engine's (``engine.runtime.records.finder``).

For holders of the ``merge`` grant on an object with duplicate rules (the list page links it,
``duplicates_link``):

- ``show`` (GET ``/o/<object>/duplicates``): the groups, by score (``sort``: ``-score``, ``score``,
  ``-size``, ``size``), of one rule or all (``rule``), paged; each member as the user may see it
  (title linked, owner, the fields it matched by, its score; a record out of their scope by its
  owner only); the latest run — "running…" while the worker has it (the page refreshes itself),
  then what it found;
- ``find`` (POST): queues a run for ``trellis worker``;
- ``dismiss`` (POST ``/o/<object>/duplicates/<group>/dismiss``, ``record``, ``whole``): "not a
  duplicate" — the record leaves the group, or (``whole``) none of its records are duplicates.

"Merge" opens the side-by-side merge page with the group's records the user may read, the
oldest as the survivor.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, Flask, Response, abort, flash, g, redirect, request, url_for

from engine.metadata.model import ObjectDef
from engine.runtime.records.finder import finding, groups, runs
from engine.runtime.records.session import Session
from webui.i18n import Formatter
from webui.ui.context import formatter, plural, t, ui_session
from webui.ui.notifications import page_number
from webui.ui.views import _require_login, readable, render_page

PER_PAGE = 25
#: Seconds between two looks of the page at a run that has not ended.
REFRESH = 5


@dataclass(frozen=True)
class MemberRow:
    """One record of a group as the page shows it (``url`` None: outside the user's scope)."""

    record_id: int | None
    title: str
    url: str | None
    owner: str
    matched: str
    score: str


@dataclass(frozen=True)
class GroupRow:
    """One group: its rule, score, records and the Merge link (two readable records or more)."""

    id: int
    anchor: str
    rule: str
    score: str
    size: str
    members: list[MemberRow]
    merge_url: str | None
    dismiss_url: str
    anchor_record: int


@dataclass(frozen=True)
class RunView:
    """The object's latest run in words; ``running`` while it waits or runs."""

    text: str
    running: bool
    failed: bool


def duplicates_link(obj: ObjectDef) -> str | None:
    """The list page's link to the duplicates page, for holders of the ``merge`` grant."""
    principal = g.get("principal")
    if principal is None or not obj.duplicates or not principal.grant(obj.name).merge_:
        return None
    return url_for("duplicate_finder.show", object_name=obj.name)


def _object(session: Session, object_name: str) -> ObjectDef:
    obj = readable(session, object_name)
    if not obj.duplicates:
        abort(404)
    finding.check_may_find(session, obj)
    return obj


def show(object_name: str) -> str:
    """The object's groups of likely duplicates."""
    fmt = formatter()
    rule = request.args.get("rule") or None
    order = request.args.get("sort") if request.args.get("sort") in groups.ORDERS else "-score"
    number = page_number(request.args.get("page"))
    with ui_session(read=True) as session:
        obj = _object(session, object_name)
        if rule is not None and rule not in {r.name for r in obj.duplicates}:
            rule = None
        found = groups.page(session, obj.name, rule, order, number, PER_PAGE)
        starter = session.unit.user(found.run.user_id) if found.run is not None else None
    who = (starter.display_name or starter.username) if starter is not None else t("finder.run.cli")
    rows = [_group_row(obj, group, fmt) for group in found.items]

    def link(**changes: object) -> str:
        args = {"rule": rule, "sort": order if order != "-score" else None, **changes}
        return url_for("duplicate_finder.show", object_name=obj.name, **{k: v for k, v in args.items() if v})

    run = _run_view(found.run, who, fmt)
    return render_page(
        "duplicate_groups.html",
        obj,
        label=obj.plural_label.get(fmt.lang),
        groups=rows,
        total=plural("finder.count", found.total),
        run=run,
        refresh=REFRESH if run is not None and run.running else None,
        rules=[(r.name, r.name == rule) for r in obj.duplicates],
        rule=rule or "",
        order=order,
        orders=[(o, t(f"finder.sort.{o}")) for o in groups.ORDERS],
        newer_url=link(page=found.page - 1 if found.page > 2 else None) if found.page > 1 else None,
        older_url=link(page=found.page + 1) if found.has_next else None,
        find_url=url_for("duplicate_finder.find", object_name=obj.name),
    )


def _group_row(obj: ObjectDef, group: groups.GroupView, fmt: Formatter) -> GroupRow:
    members = []
    for m in group.members:
        owner = m.owner or fmt.t("duplicates.no_owner")
        labels = ", ".join(obj.fields[name].label.get(fmt.lang) for name in m.matched if name in obj.fields)
        score = f"{round(m.score * 100)}%"
        if m.record_id is None:
            members.append(MemberRow(None, fmt.t("duplicates.hidden", owner=owner), None, owner, "", score))
            continue
        url = url_for("records.show", object_name=obj.name, record_id=m.record_id)
        members.append(MemberRow(m.record_id, m.title or str(m.record_id), url, owner, labels, score))
    readable_ids = sorted(group.readable)
    merge_url = (
        url_for("merging.merge_page", object_name=obj.name, record_id=readable_ids[0], **{"with": readable_ids[1:]})
        if len(readable_ids) > 1
        else None
    )
    return GroupRow(
        group.id,
        f"group-{group.id}-{readable_ids[0]}",
        group.rule.name,
        f"{round(group.score * 100)}%",
        plural("finder.size", len(group.members)),
        members,
        merge_url,
        url_for("duplicate_finder.dismiss", object_name=obj.name, group_id=group.id),
        readable_ids[0],
    )


def _run_view(run: runs.Run | None, who: str, fmt: Formatter) -> RunView | None:
    if run is None:
        return None
    if run.status == runs.QUEUED:
        return RunView(fmt.t("finder.run.queued", who=who), True, False)
    if run.status == runs.RUNNING:
        return RunView(fmt.t("finder.run.running", who=who), True, False)
    when = fmt.moment(run.finished_at) if run.finished_at else ""
    if run.status == runs.FAILED:
        return RunView(fmt.t("finder.run.failed", when=when, message=run.message or ""), False, True)
    text = fmt.t(
        "finder.run.done",
        when=when,
        who=who,
        groups=fmt.number(run.groups or 0),
        duplicates=fmt.number(run.duplicates or 0),
        records=fmt.number(run.records or 0),
        seconds=fmt.number(round(run.seconds or 0, 1)) if run.seconds is not None else "0",
    )
    if run.skipped_blocks:
        text += " " + fmt.plural("finder.run.skipped", run.skipped_blocks)
    return RunView(text, False, False)


def find(object_name: str) -> Response:
    """Queue a run over the object for the worker, then back to the page ("running…")."""
    with ui_session() as session:
        obj = _object(session, object_name)
        run = finding.queue(session, obj.name)
    flash(t("finder.queued") if run.status == runs.QUEUED else t("finder.already_running"), "info")
    return redirect(url_for("duplicate_finder.show", object_name=object_name))


def dismiss(object_name: str, group_id: int) -> Response:
    """ "Not a duplicate": the record leaves the group, or (``whole``) the group is dismissed."""
    raw = request.form.get("record", "")
    whole = request.form.get("whole") == "1"
    back = url_for("duplicate_finder.show", object_name=object_name)
    with ui_session() as session:
        obj = _object(session, object_name)
        try:
            count = groups.dismiss(session, obj.name, group_id, int(raw) if raw.isdigit() else -1, whole)
        except LookupError:
            count = -1
    if count < 0:
        flash(t("finder.gone"), "error")
    else:
        flash(t("finder.dismissed_group") if whole else t("finder.dismissed"), "info")
    return redirect(back)


ROUTES = (
    ("/o/<object_name>/duplicates", show, ["GET"]),
    ("/o/<object_name>/duplicates/find", find, ["POST"]),
    ("/o/<object_name>/duplicates/<int:group_id>/dismiss", dismiss, ["POST"]),
)


def create_blueprint(app: Flask) -> Blueprint:
    """The duplicates page's routes; makes ``duplicates_link`` available to templates."""
    app.jinja_env.globals["duplicates_link"] = duplicates_link
    blueprint = Blueprint("duplicate_finder", __name__)
    blueprint.before_request(_require_login)
    for rule, view, methods in ROUTES:
        blueprint.add_url_rule(rule, view.__name__, view, methods=methods)
    return blueprint

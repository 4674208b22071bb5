"""The record routes of the web UI: parse HTTP → call the engine → render.

Each request is one engine session as the logged-in user on the ``web``
channel (``context.ui_session``). Engine errors become pages in ``errors``:
NotFound (also outside the user's scope) → 404, PermissionDenied → 403,
QueryError → 400. Templates are looked up most specific first
(``<object>/<page>.html`` before ``<page>.html``), in the config's own
``templates`` folder before ``webui/templates``.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_login import current_user
from jinja2 import ChoiceLoader, FileSystemLoader
from werkzeug.datastructures import MultiDict

from engine.metadata.model import ObjectDef
from engine.runtime import dashboards
from engine.runtime.errors import Conflict, FieldError, QueryError, TrellisError, ValidationFailed
from engine.runtime.exports.export import export_file
from engine.runtime.exports.writers import WRITERS
from engine.runtime.records import files
from engine.runtime.records import views as saved_views
from engine.runtime.records.duplicates import Candidate, DuplicateBlocked, PossibleDuplicate
from engine.runtime.records.listparams import BadListParams
from engine.runtime.records.query import format_title
from engine.runtime.records.session import Session
from engine.runtime.workflow import converted
from webui.api.meta import readable_objects
from webui.state import get_trellis
from webui.ui import approvals, display, forms, frames, listing, reconfirm, uploads
from webui.ui.context import formatter, language, reads_only, t, ui_session
from webui.ui.duplicates import duplicates_view

LOOKUP_LIMIT = 20
#: The input that confirms closing a record as lost (the edit form, the move form).
CONFIRM_LOST = "confirm_lost"


def _require_login() -> Any:
    if not current_user.is_authenticated:
        return current_app.login_manager.unauthorized()
    return None


def render_page(page: str, obj: ObjectDef | None, **context: Any) -> str:
    """Render ``<object>/<page>`` if the config ships one, else ``<page>``."""
    return render_template(page_names(page, obj), obj=obj, **context)


def page_names(page: str, obj: ObjectDef | None) -> list[str]:
    """The templates ``page`` is looked up as, most specific first."""
    return [f"{obj.name}/{page}", page] if obj is not None else [page]


def readable(session: Session, object_name: str) -> ObjectDef:
    """The object, when the user may read some of its records; else 404."""
    obj = session.object(object_name)
    if session.principal.grant(obj.name).read == "none":
        abort(404)
    return obj


# --- lists --------------------------------------------------------------------------------
def home() -> Response | str:
    """The user's home dashboard (the first whose roles hold one of theirs, else the default
    one); without one, the first object the user may read."""
    with ui_session() as session:
        dashboard = dashboards.home_for(session.config, session.principal)
        objects = readable_objects(session.config, session.principal)
    if dashboard is not None:
        return redirect(url_for("dashboards.show", name=dashboard.name))
    if not objects:
        return render_page("error.html", None, status=403, message=t("error.no_objects")), 403
    return redirect(url_for("records.list_records", object_name=objects[0].name))


@reads_only
def list_records(object_name: str) -> tuple[str, int]:
    """A page of records with search, filters, sorting and paging; a bad filter, sort or search
    (``QueryError``) is the page with the message, status 400."""
    return _list_page(object_name, listing.list_params(request.args))


def _list_page(
    object_name: str, params: listing.ListParams, save_form: listing.SaveViewForm | None = None
) -> tuple[str, int]:
    fmt = formatter()
    with ui_session(read=True) as session:
        obj = readable(session, object_name)
        page, error = None, None
        try:
            page = listing.read_page(session, obj, params)
        except QueryError as exc:
            error = t("list.bad_filter", message=str(exc))
        links = listing.saved_view_links(obj, saved_views.list_views(session, obj.name), params)
        view = listing.list_view(session, obj, params, page, error, fmt, links, save_form)
    return frames.render_list(obj, view, page_names("list.html", obj)), 400 if error else 200


def save_view(object_name: str) -> Response | tuple[str, int]:
    """Save the list's current filters (the form's ``query``) under ``name`` for this user."""
    query = listing.normalize_query(request.form.get("query", ""))
    name = request.form.get("name", "")
    try:
        with ui_session() as session:
            obj = readable(session, object_name)
            saved_views.save_view(session, obj.name, name, query)
    except ValidationFailed as exc:
        message = "; ".join(e.message for problems in exc.errors.values() for e in problems)
        params = listing.list_params(MultiDict(parse_qsl(query)))
        form = listing.SaveViewForm(query, name, t("views.not_saved", message=message))
        return _list_page(object_name, params, form)[0], 422
    flash(t("views.saved"), "info")
    return redirect(url_for("records.list_records", object_name=obj.name) + (f"?{query}" if query else ""))


def delete_view(object_name: str, view_id: int) -> Response:
    """Delete one of the user's saved views (another user's is 404)."""
    with ui_session() as session:
        obj = readable(session, object_name)
        saved_views.delete_view(session, obj.name, view_id)
    flash(t("views.deleted"), "info")
    return redirect(url_for("records.list_records", object_name=obj.name))


def export_csv(object_name: str) -> Response | tuple[str, int]:
    """The list (with its filters) as CSV (``export_list``)."""
    return export_list(object_name, "csv")


def export_xlsx(object_name: str) -> Response | tuple[str, int]:
    """The list (with its filters) as an Excel workbook (``export_list``)."""
    return export_list(object_name, "xlsx")


#: The export's own parameter (not a list filter: a field key never starts with ``_``): ``1`` adds
#: a second header row of field keys, for re-import.
KEYS_PARAM = "_keys"
#: Up to this size an export is kept in memory before it is sent; beyond, in a temporary file.
EXPORT_SPOOL_BYTES = 8 * 1024 * 1024


def export_list(object_name: str, file_format: str) -> Response | tuple[str, int]:
    """The list's records, all pages, as a file (``engine.runtime.exports.export_file``: labels
    and values in the user's language, hidden fields never, the access log written); needs the
    export grant (403 otherwise) and a recent re-confirmation (S37: else the confirmation page,
    which comes back here). A bad parameter is the error page with the list's message, status 400."""
    args = MultiDict(request.args)
    keys = args.pop(KEYS_PARAM, "") == "1"
    params = listing.list_params(args)
    back = reconfirm.needed() if get_trellis().principal(current_user.username).grant(object_name).export else None
    if back is not None:  # asked before the engine session: the check reads the database on its own
        return back
    out = tempfile.SpooledTemporaryFile(max_size=EXPORT_SPOOL_BYTES)  # noqa: SIM115 (send_file closes it)
    try:
        with ui_session(read=True) as session:
            obj = readable(session, object_name)
            query = listing.build_query(session, obj, params)
            export_file(session, obj.name, out, query=query, file_format=file_format, language=language(), keys=keys)
    except BadListParams as exc:
        out.close()
        return render_page("error.html", None, status=400, message=t("list.bad_filter", message=str(exc))), 400
    except Exception:
        out.close()
        raise
    out.seek(0)
    writer = WRITERS[file_format]
    return send_file(
        out, mimetype=writer.content_type, as_attachment=True, download_name=f"{obj.name}.{writer.extension}"
    )


def lookup(object_name: str) -> Response:
    """Type-ahead: ``[{id, title}]`` of records the user may read that match ``q``."""
    with ui_session() as session:
        obj = readable(session, object_name)
        query = session.query(obj.name).search(request.args.get("q", ""))
        records = query.page(1, LOOKUP_LIMIT).items
        return jsonify([{"id": r.id, "title": format_title(obj, r)} for r in records])


# --- records ------------------------------------------------------------------------------------
def show(object_name: str, record_id: int) -> str:
    """The record page: fields, related lists, history (for those allowed)."""
    with ui_session() as session:
        obj = readable(session, object_name)
        view = display.record_view(session, obj, session.get(obj.name, record_id), formatter())
    return render_page("record.html", obj, view=view)


def download(object_name: str, record_id: int, field_name: str) -> Response:
    """A stored file, to those who can read the record and see the field, and only the file
    uploaded to that record and field (``engine.runtime.records.files.owned_file``); 404 otherwise."""
    with ui_session() as session:
        obj = readable(session, object_name)
        value = files.owned_file(session, obj.name, record_id, field_name)
    path = uploads.stored_file(value)
    if path is None:
        abort(404)
    name, content_type = uploads.download_headers(value, path.name)
    return send_file(path, as_attachment=True, download_name=name, mimetype=content_type)


def _form_page(
    obj_name: str,
    state: forms.FormState,
    errors: dict[str, list[FieldError]],
    record_id: int | None = None,
    version: int | None = None,
    status: int = 200,
    candidates: Sequence[Candidate] = (),
) -> tuple[str, int]:
    confirm_lost = bool(request.form.get(CONFIRM_LOST)) or any(
        p.code == "confirm_lost" for problems in errors.values() for p in problems
    )
    fmt = formatter()
    with ui_session() as session:
        obj = readable(session, obj_name)
        record = session.get(obj.name, record_id) if record_id is not None else None
        view = forms.form_view(session, obj, state, errors, fmt, record, version, confirm_lost)
    if candidates:
        view = replace(view, duplicates=duplicates_view(obj, candidates, fmt))
    return render_page("form.html", obj, view=view), status


def _asked(session: Session, obj: ObjectDef, record: Any, parsed: forms.ParsedForm) -> dict[str, list[FieldError]]:
    """What the form asks before the write goes ahead (closing as lost is confirmed first)."""
    return forms.lost_confirmation(obj, record, parsed, bool(request.form.get(CONFIRM_LOST)), formatter())


def create(object_name: str) -> Response | tuple[str, int]:
    """The create form; a record that does not validate comes back with its errors and input."""
    fmt = formatter()
    with ui_session() as session:
        obj = readable(session, object_name)
        if not session.principal.grant(obj.name).create:
            abort(403)
    if request.method == "GET":
        with ui_session() as session:
            state = forms.default_state(session, obj, fmt)
        return _form_page(object_name, state, {})
    parsed = None
    try:
        with ui_session() as session:
            parsed = forms.parse_form(session, obj, request.form, request.files, fmt)
            record = _save(
                parsed,
                lambda values: session.create(obj.name, forms.without_empty(values), allow_duplicate=_save_anyway()),
                _asked(session, obj, None, parsed),
            )
            if record.pending_approval is not None:  # nothing created yet: the request waits
                flash(
                    t(
                        "approvals.create_sent",
                        approver=approvals.approver_text(session, record.pending_approval.current_step, fmt),
                    ),
                    "info",
                )
                return redirect(url_for("pipeline.inbox"))
    except PossibleDuplicate as exc:
        return _form_page(object_name, parsed.state if parsed else {}, {}, status=409, candidates=exc.candidates)
    except ValidationFailed as exc:
        found = exc.candidates if isinstance(exc, DuplicateBlocked) else ()
        return _form_page(object_name, parsed.state if parsed else {}, exc.errors, status=422, candidates=found)
    flash(t("record.saved"), "info")
    return redirect(url_for("records.show", object_name=obj.name, record_id=record.id))


def _save(parsed: forms.ParsedForm, write: Any, asked: dict[str, list[FieldError]] | None = None) -> Any:
    """Write through the engine; input errors found here and the form's questions
    (``asked``: confirm closing as lost) join the engine's, so that one round shows every
    problem, and then nothing is kept (raising rolls the session back)."""
    extra = _merged(asked or {}, parsed.errors)
    try:
        result = write(parsed.values)
    except ValidationFailed as exc:
        if extra:
            raise ValidationFailed(_merged(exc.errors, extra), exc.object_name) from None
        raise
    if extra:
        raise ValidationFailed(extra)
    return result


def _merged(*sources: dict[str, list[FieldError]]) -> dict[str, list[FieldError]]:
    """Field → problems of every source, each message once."""
    out: dict[str, list[FieldError]] = {}
    for errors in sources:
        for name, problems in errors.items():
            kept = out.setdefault(name, [])
            kept.extend(p for p in problems if p.message not in {k.message for k in kept})
    return out


def edit(object_name: str, record_id: int) -> Response | tuple[str, int]:
    """The edit form; carries the version, so a concurrent change is reported, not overwritten
    (a POST without one is refused the same way: 409, "reload")."""
    fmt = formatter()
    with ui_session() as session:
        obj = readable(session, object_name)
        record = session.get(obj.name, record_id)
        conversion = converted.converted_by(session.config, obj.name, record)
        if conversion is None and not display.may(session, obj, "edit", record):
            abort(403)
        state = forms.record_state(session, obj, record, fmt)
    if conversion is not None:  # read-only: back to the record, saying why
        flash(
            t("record.converted_read_only", object=obj.label.get(fmt.lang), conversion=conversion.label.get(fmt.lang)),
            "error",
        )
        return redirect(url_for("records.show", object_name=obj.name, record_id=record_id))
    if request.method == "GET":
        return _form_page(object_name, state, {}, record_id, record.version)
    version = _version(request.form.get("version"))
    parsed = None
    try:
        with ui_session() as session:
            required_version(session, obj.name, record_id, request.form.get("version"))
            parsed = forms.parse_form(session, obj, request.form, request.files, fmt, record)
            saved = _save(
                parsed,
                lambda values: session.update(
                    obj.name, record_id, values, version=version, allow_duplicate=_save_anyway()
                ),
                _asked(session, obj, record, parsed),
            )
            message = approvals.saved_message(session, saved, fmt)  # "Sent for approval…" when it waits
    except PossibleDuplicate as exc:
        current = parsed.state if parsed else state
        return _form_page(object_name, current, {}, record_id, version, 409, exc.candidates)
    except ValidationFailed as exc:
        found = exc.candidates if isinstance(exc, DuplicateBlocked) else ()
        current = parsed.state if parsed else state
        return _form_page(object_name, current, exc.errors, record_id, version, 422, found)
    except Conflict as exc:
        message = _conflict_message(obj.name, record_id, exc)
        return _form_page(
            object_name,
            parsed.state if parsed else state,
            {"_record": [FieldError("conflict", message)]},
            record_id,
            version,
            409,
        )
    flash(message, "info")
    return redirect(url_for("records.show", object_name=obj.name, record_id=record_id))


def _save_anyway() -> bool:
    """The form's "Save anyway" was pressed after it listed likely duplicates (a ``warn`` rule)."""
    return request.form.get("allow_duplicate") == "1"


def _version(raw: str | None) -> int | None:
    raw = (raw or "").strip()
    return int(raw) if raw.isdigit() and len(raw) < 18 else None


class VersionMissing(Conflict):
    """A web write that does not say which version of the record it started from: refused
    like a stale one (409, "reload"), never applied over whatever is stored."""

    def __init__(self, object_name: str, record_id: int) -> None:
        self.object_name, self.record_id = object_name, record_id
        self.expected, self.actual = None, None
        TrellisError.__init__(
            self,
            f"{object_name} {record_id}: the change does not say which version it "
            "started from; reload it and apply your change again",
        )


def required_version(session: Session, object_name: str, record_id: int, raw: str | None) -> int:
    """The ``version`` a web form or move carried (a whole number from 1); ``VersionMissing``
    when it is absent or not a version, so that no channel overwrites silently. A record
    outside the user's scope stays ``NotFound`` (404), whatever the version."""
    version = _version(raw)
    if version is None or version < 1:
        session.get(object_name, record_id)
        raise VersionMissing(object_name, record_id)
    return version


def conflict_text(conflict: Conflict) -> str:
    """The generic text of a refused stale or version-less write."""
    if isinstance(conflict, VersionMissing):
        return t("form.version_missing")
    return t("form.conflict_anonymous", version=conflict.actual)


def _conflict_message(object_name: str, record_id: int, conflict: Conflict) -> str:
    if isinstance(conflict, VersionMissing):
        return conflict_text(conflict)
    with ui_session() as session:
        who = display.latest_editor(session, object_name, record_id)
    if who:
        return t("form.conflict", user=who, version=conflict.actual)
    return t("form.conflict_anonymous", version=conflict.actual)


def delete(object_name: str, record_id: int) -> Response:
    """Delete the record; refused (with the reason) while other records point at it."""
    try:
        with ui_session() as session:
            obj = readable(session, object_name)
            version = required_version(session, obj.name, record_id, request.form.get("version"))
            pending = session.delete(obj.name, record_id, version=version)
            waiting = approvals.pending_text(session, pending, formatter()) if pending is not None else None
    except ValidationFailed as exc:
        for problems in exc.errors.values():
            for problem in problems:
                flash(problem.message, "error")
        return redirect(url_for("records.show", object_name=object_name, record_id=record_id))
    except Conflict as exc:
        flash(_conflict_message(object_name, record_id, exc), "error")
        return redirect(url_for("records.show", object_name=object_name, record_id=record_id))
    if waiting:  # the delete needs approval: nothing was deleted
        flash(waiting, "info")
        return redirect(url_for("records.show", object_name=object_name, record_id=record_id))
    flash(t("record.deleted"), "info")
    return redirect(url_for("records.list_records", object_name=object_name))


#: The routes: URL rule, view, methods (the endpoint is the view's name).
ROUTES = (
    ("/", home, ["GET"]),
    ("/o/<object_name>", list_records, ["GET"]),
    ("/o/<object_name>/export.csv", export_csv, ["GET"]),
    ("/o/<object_name>/export.xlsx", export_xlsx, ["GET"]),
    ("/o/<object_name>/lookup", lookup, ["GET"]),
    ("/o/<object_name>/views", save_view, ["POST"]),
    ("/o/<object_name>/views/<int:view_id>/delete", delete_view, ["POST"]),
    ("/o/<object_name>/<int:record_id>", show, ["GET"]),
    ("/o/<object_name>/<int:record_id>/file/<field_name>", download, ["GET"]),
    ("/o/<object_name>/new", create, ["GET", "POST"]),
    ("/o/<object_name>/<int:record_id>/edit", edit, ["GET", "POST"]),
    ("/o/<object_name>/<int:record_id>/delete", delete, ["POST"]),
)


def create_blueprint(app: Flask) -> Blueprint:
    """A fresh blueprint of the record routes (one per app); the config's ``templates``
    folder overrides ours."""
    source = app.extensions["trellis"].config.source_path
    if source:
        own = Path(source).resolve().parent / "templates"
        app.jinja_loader = ChoiceLoader([FileSystemLoader(str(own)), app.jinja_loader])
    frames.init_app(app)
    blueprint = Blueprint("records", __name__)
    blueprint.before_request(_require_login)
    for rule, view, methods in ROUTES:
        blueprint.add_url_rule(rule, view.__name__, view, methods=methods)
    return blueprint

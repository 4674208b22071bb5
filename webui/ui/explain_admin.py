"""The "Why can … see this?" admin page (``/admin/explain/<object>/<id>``, issue 17 §2).

For holders of ``manage_config`` only (the engine's ``explain.require`` checks it; everyone
else gets 403, and a record outside the admin's own read scope 404). HTTP and view models only;
the explanations are the engine's, the same as ``trellis explain``:

- a user picker (``userpicker``: a ``<select>`` for few users, the type-ahead for many) and,
  for the chosen user, whether they may read, edit and delete the record and why
  (``engine.runtime.security.explain.Explainer.access``);
- every active user who may read it, with edit, delete and the reason (``Explainer.who``);
- for a record with a pipeline, "what would moving to stage X need" as the chosen user (or the
  system): a dry run of the real move (``engine.runtime.workflow.explain_stage``);
- what the automation rules would do for the record, changing nothing
  (``engine.runtime.workflow.simulate.simulate_record``, as ``trellis automation simulate``).

``explain_url`` (a template global) gives the record page its link, for admins only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Flask, g, request, url_for

from engine.runtime.errors import NotFound, TrellisError
from engine.runtime.security import explain
from engine.runtime.security.explain import AccessExplanation, Reader
from engine.runtime.workflow.explain_stage import explain_stage
from engine.runtime.workflow.simulate import RecordSimulation, simulate_record
from webui.state import get_trellis
from webui.ui import display, userpicker
from webui.ui.context import language, t, ui_session
from webui.ui.views import _require_login, render_page


@dataclass(frozen=True)
class Picker:
    """The user picker: the choices of a ``<select>``, or the type-ahead's URL and typed name."""

    choices: list[userpicker.UserChoice]
    lookup_url: str | None
    chosen_id: int | None
    chosen_name: str


@dataclass(frozen=True)
class Answer:
    """One action for the chosen user: its word and yes/no."""

    action: str
    label: str
    allowed: bool


def explain_url(view: display.RecordView) -> str | None:
    """The record page's "Why can … see this?" link, for holders of ``manage_config``."""
    principal = g.get("principal")
    if principal is None or not principal.has(explain.PERMISSION):
        return None
    return url_for("explain_admin.show", object_name=view.obj.name, record_id=view.record.id)


def show(object_name: str, record_id: int) -> str:
    """The explanations of one record (404 for an unknown object or record, 403 without ``manage_config``)."""
    lang = language()
    args = request.args
    with ui_session() as session:
        explainer = explain.Explainer(session, lang)
        obj = session.object(object_name)
        title, readers, inactive = explainer.who(obj.name, record_id)
        picker, problem = _picker(session, args)
        found = explainer.access(obj.name, record_id, picker.chosen_id) if picker.chosen_id is not None else None
    chosen = found.username if found is not None else None
    stages = [(s.key, s.label.get(lang)) for s in obj.pipeline.all_stages()] if obj.pipeline else []
    stage = args.get("stage", "") if any(k == args.get("stage") for k, _ in stages) else ""
    moving, unmovable = None, None
    if stage:
        try:
            moving = explain_stage(get_trellis(), obj.name, record_id, stage, chosen, args.get("reason") or None, lang)
        except NotFound:
            unmovable = t("explain_admin.stage_unreadable", user=found.user_name if found else "")
    automation = _automation(obj.name, record_id, lang)
    return render_page(
        "explain.html",
        obj,
        object_label=obj.label.get(lang),
        record_id=record_id,
        title=title,
        record_url=url_for("records.show", object_name=obj.name, record_id=record_id),
        picker=picker,
        problem=problem,
        found=found,
        answers=_answers(found) if found else [],
        sentences=found.sentences(lang) if found else [],
        readers=_readers(readers, lang),
        inactive=inactive,
        stages=stages,
        stage=stage,
        reason=args.get("reason", ""),
        moving=moving,
        moving_sentences=moving.sentences(lang) if moving else [],
        unmovable=unmovable,
        automation=automation,
    )


def _picker(session: Any, args: Any) -> tuple[Picker, str | None]:
    """The picker and the chosen user (``user``: an id; ``user__name``: what was typed)."""
    many = userpicker.count(session) > userpicker.select_max()
    chosen: int | None = None
    problem = None
    typed = (args.get("user__name") or "").strip()
    if args.get("user", "").isdigit():
        chosen = int(args["user"])
    elif typed:
        chosen = userpicker.resolve(session, typed)
        if chosen is None:
            problem = t("explain_admin.no_such_user", name=typed[:100])
    if chosen is not None and not any(p.id == chosen for p in userpicker.choices(session, [chosen])):
        problem, chosen = t("explain_admin.no_such_user", name=str(chosen)), None
    if many:
        name = next((c.name for c in userpicker.choices(session, [chosen])), "") if chosen is not None else typed
        return Picker([], url_for("auth.users_lookup"), chosen, name), problem
    return Picker(userpicker.choices(session), None, chosen, ""), problem


def _answers(found: AccessExplanation) -> list[Answer]:
    return [Answer(a, t(f"explain_admin.can_{a}"), found.can(a)) for a in explain.ACTIONS]


@dataclass(frozen=True)
class ReaderView:
    """One row of the "who can read it" table."""

    name: str
    username: str
    url: str
    edit: bool
    delete: bool
    why: str


def _readers(readers: list[Reader], lang: str) -> list[ReaderView]:
    args = {k: v for k, v in request.args.items() if k not in ("user", "user__name")}
    return [
        ReaderView(
            r.name,
            r.username,
            url_for("explain_admin.show", **request.view_args or {}, **args, user=r.user_id),
            r.can_edit,
            r.can_delete,
            r.reason.text(lang),
        )
        for r in readers
    ]


def _automation(object_name: str, record_id: int, lang: str) -> RecordSimulation | None:
    """What the automation rules would do for the record, with values as people read them in
    ``lang`` (None when it cannot be told)."""
    try:
        return simulate_record(get_trellis(), object_name, record_id, language=lang)
    except TrellisError:
        return None


ROUTES = (("/admin/explain/<object_name>/<int:record_id>", show, ["GET"]),)


def create_blueprint(app: Flask) -> Blueprint:
    """The explain admin route; makes ``explain_url`` available to templates."""
    app.jinja_env.globals["explain_url"] = explain_url
    blueprint = Blueprint("explain_admin", __name__)
    blueprint.before_request(_require_login)
    for rule, view, methods in ROUTES:
        blueprint.add_url_rule(rule, view.__name__, view, methods=methods)
    return blueprint

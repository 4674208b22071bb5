"""The Convert button of record pages and its confirmation page (S12).

HTTP and view models only: whether a record may be converted, what the targets'
values are, which existing record is linked, and the one transaction are the
engine's (``engine.runtime.workflow.conversion``, ``Session.convert``).

- ``conversion_actions`` (a template global, shown by ``_convert_button.html`` on
  the record page) lists the conversions that apply to the record now and that the
  user may try: its condition holds, it is not converted yet, the record is in the
  user's edit scope, and every target that cannot be skipped may be created (or,
  with ``match``, linked).
- ``convert`` (GET) shows what converting would do: per target, the existing record
  that will be linked, or the fields of the new record — the mapped values and the
  required fields the mapping leaves empty — as inputs the user may change, with a
  checkbox for optional targets. Input names are prefixed with the target
  (``contact.name``). A POST converts; the values the user gave are ``overrides``.
  Problems come back beside the fields (``role="alert"``); a record that cannot be
  converted (any more) goes back to its page with the reason; on success the record
  page shows what it became through its link fields.
- A new target's likely duplicates (issue 14 §2: the engine's ``TargetPlan.candidates``, as
  the user may know them) are listed with a radio group ``link.<target>``: each readable one
  ("Link to …", value its id) and, where only ``warn`` rules matched, "Create a new … anyway"
  (value ``new``). A record the user may not read is named by its owner only, without a choice.
  Nothing is chosen in advance: converting without a choice comes back (409) asking for one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from flask import Blueprint, Flask, Response, flash, g, redirect, request, url_for
from werkzeug.datastructures import MultiDict

from engine.metadata.model import Conversion, ConversionTarget, FieldDef, ObjectDef
from engine.runtime.errors import RECORD_ERRORS, Conflict, FieldError, ValidationFailed
from engine.runtime.records.duplicates import Candidate
from engine.runtime.records.query import format_title
from engine.runtime.records.session import Session
from engine.runtime.workflow import conversion as conversions
from webui.i18n import Formatter
from webui.state import get_trellis
from webui.ui import display, forms
from webui.ui.context import formatter, t, ui_session
from webui.ui.views import VersionMissing, _require_login, readable, render_page, required_version

#: Form names: the checkbox of an optional target, and the marker of a target whose inputs are shown.
CREATE, SHOWN = "create.", "shown."
#: The radio group of a target with likely duplicates: a record's id, or ``NEW`` (create anyway).
LINK, NEW = "link.", "new"


# --- the button ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Action:
    """A Convert button."""

    label: str
    url: str


def conversion_actions(view: display.RecordView) -> list[Action]:
    """The conversions the record page offers (see the module docstring)."""
    principal = g.get("principal")
    if principal is None:
        return []
    crm = get_trellis()
    found = conversions.available(crm.config, principal, view.record, crm.clock_now())
    lang = formatter().lang
    return [
        Action(
            c.label.get(lang),
            url_for("conversion.convert", object_name=view.obj.name, record_id=view.record.id, conversion=c.name),
        )
        for c in found
    ]


# --- the confirmation page ----------------------------------------------------------------------------
@dataclass(frozen=True)
class DuplicateChoice:
    """A likely duplicate the user may link the target to: one radio button."""

    value: str
    title: str
    url: str
    details: str
    checked: bool


@dataclass(frozen=True)
class Duplicates:
    """A new target's likely duplicates: the records to link, the ones only named by their owner,
    and whether "create anyway" is offered (and chosen)."""

    choices: list[DuplicateChoice]
    hidden: list[str]
    create_allowed: bool
    create_checked: bool

    @property
    def note(self) -> str:
        """What the user may do, in their words (``convert.duplicates_*``)."""
        if self.create_allowed:
            return "convert.duplicates_warn"
        return "convert.duplicates_block" if self.choices else "convert.duplicates_hidden_only"


@dataclass(frozen=True)
class TargetView:
    """One target on the confirmation page."""

    name: str
    label: str
    object_label: str
    optional: bool
    chosen: bool
    fields: list[forms.FormField] = field(default_factory=list)
    matched: display.Cell | None = None
    errors: list[str] = field(default_factory=list)
    duplicates: Duplicates | None = None


@dataclass(frozen=True)
class ConvertView:
    """Everything ``convert.html`` shows."""

    obj: ObjectDef
    heading: str
    record_title: str
    targets: list[TargetView]
    record_errors: list[str]
    action_url: str
    cancel_url: str
    version: int
    button: str


@dataclass(frozen=True)
class Choices:
    """A POST read: targets to skip, values per target, the inputs to show again, input errors,
    and per target with likely duplicates the record to link or the create-anyway choice."""

    skip: list[str]
    overrides: dict[str, dict[str, Any]]
    state: dict[str, forms.FormState]
    errors: dict[str, list[FieldError]]
    link: dict[str, str] = field(default_factory=dict)
    allow_duplicate: list[str] = field(default_factory=list)

    def picked(self, target: str) -> str | None:
        """The radio value chosen for ``target``: a record id, ``NEW`` or None."""
        return NEW if target in self.allow_duplicate else self.link.get(target)


def shown_fields(session: Session, target: ConversionTarget) -> list[FieldDef]:
    """The fields of a new target the page shows: those the mapping fills (not references, not
    the owner) and the required ones it leaves to the user, that the user may see; in the
    object's order, files excepted."""
    obj = session.object(target.object)
    mapped = {m.field for m in target.fields if m.kind != "target"}
    references = {m.field for m in target.fields if m.kind == "target"}
    principal = session.principal
    return [
        f
        for f in obj.fields.values()
        if f.name not in references
        and not f.kind.stores_file
        and principal.can_see(obj.name, f.name)
        and (
            f.name in mapped
            or (f.required and not f.is_computed and f.default is None and f.default_expression is None)
        )
    ]


def duplicates_view(obj: ObjectDef, candidates: Sequence[Candidate], picked: str | None, fmt: Formatter) -> Duplicates:
    """A target's likely duplicates as radio choices (each readable record once, best first)."""
    choices: list[DuplicateChoice] = []
    hidden: list[str] = []
    seen: set[int] = set()
    for c in candidates:
        owner = c.owner or fmt.t("duplicates.no_owner")
        if c.record_id is None:
            text = fmt.t("duplicates.hidden", owner=owner)
            if text not in hidden:
                hidden.append(text)
            continue
        if c.record_id in seen:
            continue
        seen.add(c.record_id)
        matched = ", ".join(obj.fields[m.field].label.get(fmt.lang) for m in c.matches)
        details = fmt.t("convert.candidate_details", owner=owner, matched=matched, score=f"{round(c.score * 100)}%")
        choices.append(
            DuplicateChoice(
                str(c.record_id),
                c.title or str(c.record_id),
                url_for("records.show", object_name=obj.name, record_id=c.record_id),
                details,
                picked == str(c.record_id),
            )
        )
    allowed = conversions.create_allowed(candidates)
    return Duplicates(choices, hidden, allowed, allowed and picked == NEW)


def target_view(
    session: Session,
    declared: Conversion,
    plan: conversions.TargetPlan,
    state: forms.FormState | None,
    chosen: bool,
    errors: Mapping[str, list[FieldError]],
    fmt: Formatter,
    picked: str | None = None,
) -> TargetView:
    """One target: the record it links to, or the inputs of the record it creates (with its
    likely duplicates to choose from; ``picked``: the radio value chosen before)."""
    target, lang = plan.target, fmt.lang
    obj = session.object(target.object)
    prefix = f"{target.name}."
    mine = {name[len(prefix) :]: problems for name, problems in errors.items() if name.startswith(prefix)}
    common = {
        "name": target.name,
        "label": target.label.get(lang),
        "object_label": obj.label.get(lang),
        "optional": target.optional,
        "chosen": chosen,
    }
    if plan.matched is None and plan.candidates:
        common["duplicates"] = duplicates_view(obj, plan.candidates, picked, fmt)
    if plan.matched is not None:
        cell = display.Cell(
            format_title(obj, plan.matched), url_for("records.show", object_name=obj.name, record_id=plan.matched.id)
        )
        return TargetView(**common, matched=cell, errors=_messages(mine))
    if state is None:
        state = {f.name: forms.form_text(f, plan.values.get(f.name), fmt) for f in shown_fields(session, target)}
    inputs, placed = [], set()
    for f in shown_fields(session, target):
        messages = [e.message for e in mine.get(f.name, [])]
        if forms.editable(session, obj, f):
            built = forms.build_field(session, obj, f, state, messages, fmt)
        else:
            refs = display.collect_references(session, obj, [plan.values], [f])
            built = forms.FormField(
                f.name,
                f.label.get(lang),
                "readonly",
                errors=messages,
                display=display.format_value(plan.values.get(f.name), f, fmt, refs),
            )
        inputs.append(_prefixed(built, prefix))
        placed.add(f.name)
    for mapping in target.fields:  # "@target": the record created or linked above
        if mapping.kind == "target" and mapping.field in obj.fields:
            f, referred = obj.fields[mapping.field], declared.target(mapping.source)
            inputs.append(
                forms.FormField(
                    f"{prefix}{f.name}",
                    f.label.get(lang),
                    "readonly",
                    display=t("convert.reference", target=referred.label.get(lang)),
                    errors=[e.message for e in mine.get(f.name, [])],
                )
            )
            placed.add(f.name)
    rest = {name: problems for name, problems in mine.items() if name not in placed}
    return TargetView(**common, fields=inputs, errors=_messages(rest, obj, lang))


def _prefixed(f: forms.FormField, prefix: str) -> forms.FormField:
    return replace(f, name=f"{prefix}{f.name}", parent=f"{prefix}{f.parent}" if f.parent else None)


def _messages(problems: Mapping[str, list[FieldError]], obj: ObjectDef | None = None, lang: str = "en") -> list[str]:
    out = []
    for name, errors in problems.items():
        f = obj.fields.get(name) if obj is not None else None
        label = "" if name == RECORD_ERRORS else f"{f.label.get(lang) if f else name}: "
        out.extend(f"{label}{e.message}" for e in errors)
    return out


def convert_view(
    session: Session,
    obj: ObjectDef,
    declared: Conversion,
    plan: conversions.ConversionPlan,
    choices: Choices | None,
    errors: Mapping[str, list[FieldError]],
    fmt: Formatter,
) -> ConvertView:
    """The view model of the confirmation page (``choices``: what a refused POST held)."""
    lang = fmt.lang
    errors = _choice_errors(errors)
    targets = [
        target_view(
            session,
            declared,
            p,
            choices.state.get(p.target.name) if choices else None,
            p.target.name not in (choices.skip if choices else ()),
            errors,
            fmt,
            choices.picked(p.target.name) if choices else None,
        )
        for p in plan.targets
    ]
    names = {f"{p.target.name}." for p in plan.targets}
    record_errors = [e.message for e in errors.get(RECORD_ERRORS, [])]
    record_errors += [
        f"{_source_label(obj, name, lang)}: {e.message}"
        for name, problems in errors.items()
        if name != RECORD_ERRORS and not any(name.startswith(n) for n in names)
        for e in problems
    ]
    title = format_title(obj, plan.source)
    label = declared.label.get(lang)
    return ConvertView(
        obj,
        t("convert.heading", conversion=label, title=title),
        title,
        targets,
        record_errors,
        url_for("conversion.convert", object_name=obj.name, record_id=plan.source.id, conversion=declared.name),
        url_for("records.show", object_name=obj.name, record_id=plan.source.id),
        plan.source.version,
        label,
    )


def _choice_errors(errors: Mapping[str, list[FieldError]]) -> dict[str, list[FieldError]]:
    """A refused link choice (``link.<target>``) is shown with its target (``<target>._record``)."""
    out: dict[str, list[FieldError]] = {}
    for name, problems in errors.items():
        key = f"{name.removeprefix(LINK)}.{RECORD_ERRORS}" if name.startswith(LINK) else name
        out.setdefault(key, []).extend(problems)
    return out


def _source_label(obj: ObjectDef, name: str, lang: str) -> str:
    """``lead.status`` (a problem of the converted record itself) → the field's label."""
    f = obj.fields.get(name.removeprefix(f"{obj.name}."))
    return f.label.get(lang) if f is not None else name


def read_choices(session: Session, declared: Conversion, form: MultiDict[str, str], fmt: Formatter) -> Choices:
    """Skipped targets, the values of the targets whose inputs were shown, and the duplicate
    choices (a linked target's inputs are kept to show again, not sent as its values)."""
    skip = [t.name for t in declared.targets if t.optional and f"{CREATE}{t.name}" not in form]
    overrides: dict[str, dict[str, Any]] = {}
    state: dict[str, forms.FormState] = {}
    errors: dict[str, list[FieldError]] = {}
    link: dict[str, str] = {}
    allow: list[str] = []
    for target in declared.targets:
        picked = (form.get(f"{LINK}{target.name}") or "").strip()
        if target.name in skip or not picked:
            continue
        if picked == NEW:
            allow.append(target.name)
        else:
            link[target.name] = picked
    for target in declared.targets:
        if f"{SHOWN}{target.name}" not in form or target.name in skip:
            continue
        prefix = f"{target.name}."
        own = MultiDict(
            [(key[len(prefix) :], value) for key, value in form.items(multi=True) if key.startswith(prefix)]
        )
        obj = session.object(target.object)
        parsed = forms.parse_form(session, obj, own, MultiDict(), fmt)
        shown = {f.name for f in shown_fields(session, target) if forms.editable(session, obj, f)}
        state[target.name] = parsed.state
        if target.name in link:
            continue
        overrides[target.name] = {k: v for k, v in parsed.values.items() if k in shown}
        errors.update({f"{prefix}{name}": problems for name, problems in parsed.errors.items()})
    return Choices(skip, overrides, state, errors, link, allow)


def convert(object_name: str, record_id: int, conversion: str) -> Response | str | tuple[str, int]:
    """GET: the confirmation page. POST: convert, then back to the record page."""
    if request.method == "GET":
        return _page(object_name, record_id, conversion, None, {})
    choices = None
    try:
        with ui_session() as session:
            obj = readable(session, object_name)
            declared = conversions.conversion_of(session.config, conversion, obj.name)
            choices = read_choices(session, declared, request.form, formatter())
            if choices.errors:
                raise conversions.ConversionFailed(choices.errors, obj.name)
            result = session.convert(
                declared.name,
                record_id,
                skip=choices.skip,
                overrides=choices.overrides,
                version=required_version(session, obj.name, record_id, request.form.get("version")),
                link=choices.link,
                allow_duplicate=choices.allow_duplicate,
            )
    except conversions.ConversionDuplicates as exc:  # nothing chosen for a likely duplicate: ask
        return _page(object_name, record_id, conversion, choices, exc.errors, 409)
    except conversions.ConversionRefused as exc:
        if set(exc.errors) == {RECORD_ERRORS}:
            return _back(object_name, record_id, exc)
        return _page(object_name, record_id, conversion, choices, exc.errors, 422)
    except ValidationFailed as exc:
        return _page(object_name, record_id, conversion, choices, exc.errors, 422)
    except Conflict as exc:
        flash(t("form.version_missing") if isinstance(exc, VersionMissing) else t("convert.conflict"), "error")
        return redirect(
            url_for("conversion.convert", object_name=object_name, record_id=record_id, conversion=conversion)
        )
    flash(_summary(result), "info")
    return redirect(url_for("records.show", object_name=object_name, record_id=record_id))


def _page(
    object_name: str,
    record_id: int,
    conversion: str,
    choices: Choices | None,
    errors: Mapping[str, list[FieldError]],
    status: int = 200,
) -> Response | tuple[str, int]:
    fmt = formatter()
    try:
        with ui_session() as session:
            obj = readable(session, object_name)
            declared = conversions.conversion_of(session.config, conversion, obj.name)
            overrides = choices.overrides if choices else None
            plan = conversions.plan(session, declared.name, record_id, overrides=overrides)
            view = convert_view(session, obj, declared, plan, choices, errors, fmt)
    except conversions.ConversionRefused as exc:
        return _back(object_name, record_id, exc)
    return render_page("convert.html", obj, view=view), status


def _back(object_name: str, record_id: int, refusal: ValidationFailed) -> Response:
    for problems in refusal.errors.values():
        for problem in problems:
            flash(problem.message, "error")
    return redirect(url_for("records.show", object_name=object_name, record_id=record_id))


def _summary(result: conversions.ConversionResult) -> str:
    crm, lang = get_trellis(), formatter().lang
    parts = []
    for outcome in result.targets:
        target = result.conversion.target(outcome.name)
        label = target.label.get(lang) if target else outcome.name
        title = format_title(crm.config.objects[outcome.object], outcome.record) if outcome.record is not None else ""
        parts.append(t(f"convert.{outcome.outcome}", target=label, title=title))
    return t("convert.done", details=t("convert.separator").join(parts))


def create_blueprint(app: Flask) -> Blueprint:
    """The conversion routes; makes ``conversion_actions`` available to templates."""
    app.jinja_env.globals["conversion_actions"] = conversion_actions
    blueprint = Blueprint("conversion", __name__)
    blueprint.before_request(_require_login)
    blueprint.add_url_rule(
        "/o/<object_name>/<int:record_id>/convert/<conversion>", "convert", convert, methods=["GET", "POST"]
    )
    return blueprint

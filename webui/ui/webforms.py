"""Public web forms (issue 16 §1, S14): ``/f/<form>`` and its embeddable script. No login.

- ``show`` (GET ``/f/<form>``): the form as a page of its own that works without JavaScript and
  at 375 px, in the visitor's language (``?lang=``, else ``Accept-Language``, else the company's),
  its fields labelled from the field definitions; the visit's UTM parameters, referrer and landing
  page travel in its signed token (``webui.ui.webform_guard``). ``?ref=`` and ``?page=`` (set by the
  embed script) give the embedding page's referrer and address.
- ``send`` (POST ``/f/<form>``, no CSRF cookie: the signed token replaces it): rate limits, size,
  origin, token, honeypot, fill time and challenge (``webform_guard.judge``); spam is recorded in
  ``sys_form_rejections`` (``engine.runtime.webforms.rejections``) and answered with the form again
  and why (413, 429, 403, 400 or 422); otherwise the submission goes through the write path
  (``engine.runtime.webforms.submit``): a refusal shows the form again with the visitor's values
  and each field's error (422), a success the thank-you text or a redirect (303).
- Every form response allows framing by the form's ``origins`` only (CSP ``frame-ancestors``; no
  ``X-Frame-Options``, which cannot list origins) and sets no cookie.
- ``embed_script`` (``/f/<form>/embed.js``) is ``static/webform-embed.js``: the snippet's script,
  which puts the form in an iframe sized to its content (``trellis forms snippet``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    g,
    redirect,
    render_template,
    request,
    send_from_directory,
)

from engine.metadata.fieldtypes import field_type
from engine.metadata.forms import CAPTURES
from engine.metadata.model import FieldDef, ObjectDef, WebForm
from engine.runtime.errors import FieldError, ValidationFailed
from engine.runtime.messages import set_language
from engine.runtime.webforms import rejections
from engine.runtime.webforms.submit import Submission, submit
from webui.i18n import LANGUAGES, Formatter, choose_language
from webui.state import get_trellis
from webui.ui import webform_guard
from webui.ui.context import t
from webui.ui.forms import error_text
from webui.ui.widgets import INPUT_TYPES, FormField, picklist_options

#: The largest body a form POST is read at all (``spam.max_bytes`` is at most this).
MAX_BODY = 1024 * 1024


@dataclass(frozen=True)
class FormPage:
    """What ``webform.html`` shows: the form, its fields, the token, the challenge's question,
    problems not about a shown field, and the thank-you text once sent."""

    name: str
    title: str
    intro: str
    fields: list[FormField]
    token: str
    honeypot: str
    question: str | None
    answer_error: str | None
    problems: list[str]
    notice: str | None
    thanks: str | None
    lang: str
    embedded: bool


def _form(name: str) -> WebForm:
    form = get_trellis().config.forms.get(name)
    if form is None:
        abort(404)
    return form


def _language() -> None:
    """The visitor's language: ``?lang=``, else ``Accept-Language``, else the company's."""
    posted = request.form.get("lang") if request.method == "POST" and _small_enough() else None
    chosen = request.args.get("lang") or posted or request.accept_languages.best_match(LANGUAGES)
    g.lang = choose_language(None, chosen, get_trellis().config.settings)
    g.pop("formatter", None)
    set_language(g.lang)


def _small_enough() -> bool:
    """Whether this POST's body is small enough to read at all (the largest ``max_bytes``); its
    form's own limit is checked by ``webform_guard.judge``."""
    return (request.content_length or 0) <= MAX_BODY


def _captured() -> dict[str, str]:
    """What the visit tells: UTM parameters, the referrer, the landing page (each cut to 500)."""
    out = {key: request.args[key] for key in CAPTURES if key.startswith("utm_") and request.args.get(key)}
    own = request.host_url.rstrip("/")
    # Framed by the embed script, the Referer is the embedding page: the visitor's is ``ref``.
    embedded = request.args.get("embed") == "1"
    referrer = request.args.get("ref") or ("" if embedded else request.referrer or "")
    if referrer and not referrer.startswith(own):
        out["referrer"] = referrer
    out["landing_page"] = request.args.get("page") or request.base_url
    return {key: value[:500] for key, value in out.items()}


def _fields(obj: ObjectDef, form: WebForm, state: dict[str, Any], errors: dict[str, list[str]]) -> list[FormField]:
    lang = g.lang
    out = []
    for name in form.fields:
        f = obj.fields[name]
        raw = state.get(name)
        widget = f.kind.widget
        common: dict[str, Any] = {
            "name": name,
            "label": f.label.get(lang),
            "widget": widget,
            "required": f.required or name in form.required,
            "errors": errors.get(name, []),
            "help": f.help.get(lang) if f.help else None,
            "input_type": INPUT_TYPES.get(widget, "text"),
        }
        if widget in ("select", "multiselect"):
            chosen = set(raw) if isinstance(raw, list) else {raw} if raw else set()
            out.append(FormField(**common, options=picklist_options(obj, f, chosen, lang)))
        elif widget == "checkbox":
            out.append(FormField(**common, checked=bool(raw)))
        else:
            out.append(FormField(**common, value=raw if isinstance(raw, str) else "", **_number(f)))
    return out


def _number(f: FieldDef) -> dict[str, str | None]:
    if f.kind.widget not in ("number", "money", "percent"):
        return {}
    scale = f.scale if f.scale is not None else field_type(f).default_scale
    return {
        "step": "1" if not scale else "0." + "0" * (scale - 1) + "1",
        "minimum": None if f.min is None else f"{f.min:g}",
        "maximum": None if f.max is None else f"{f.max:g}",
    }


def _page(
    form: WebForm,
    state: dict[str, Any] | None = None,
    errors: dict[str, list[str]] | None = None,
    problems: list[str] | None = None,
    notice: str | None = None,
    captured: dict[str, str] | None = None,
    answer_error: str | None = None,
) -> FormPage:
    obj = get_trellis().config.objects[form.object]
    ticket, challenge = webform_guard.new_ticket(form, captured if captured is not None else _captured())
    lang = g.lang
    return FormPage(
        form.name,
        form.label.get(lang),
        form.intro.get(lang) if form.intro else "",
        _fields(obj, form, state or {}, errors or {}),
        webform_guard.sign(ticket),
        form.spam.honeypot,
        t("webform.challenge", a=challenge.a, b=challenge.b) if challenge else None,
        answer_error,
        problems or [],
        notice,
        None,
        lang,
        request.values.get("embed") == "1",
    )


def _respond(form: WebForm, page: FormPage, status: int = 200) -> Response:
    response = current_app.make_response((render_template("webform.html", page=page), status))
    return _frame_headers(form, response)


def _frame_headers(form: WebForm, response: Response) -> Response:
    """Framing by the form's origins only; the form posts here, and may redirect to ``redirect``."""
    ancestors = " ".join(["'self'", *form.origins])
    actions = " ".join(["'self'", *([_origin(form.redirect)] if form.redirect else [])])
    response.headers["Content-Security-Policy"] = (
        f"default-src 'self'; frame-ancestors {ancestors}; base-uri 'self'; form-action {actions}"
    )
    response.headers["Referrer-Policy"] = "strict-origin-when-cross-origin"
    response.headers["Cache-Control"] = "no-store"
    return response


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def show(form_name: str) -> Response:
    """The form, empty."""
    form = _form(form_name)
    return _respond(form, _page(form))


def _inputs(obj: ObjectDef, form: WebForm) -> dict[str, Any]:
    """The POST's values of the form's fields (lists for multiple choices, True for a ticked box)."""
    out: dict[str, Any] = {}
    for name in form.fields:
        widget = obj.fields[name].kind.widget
        if widget == "multiselect":
            out[name] = request.form.getlist(name)
        elif widget == "checkbox":
            out[name] = True if request.form.get(name) else None
        else:
            out[name] = request.form.get(name, "")
    return out


def send(form_name: str) -> Response:
    """A submission: spam recorded and refused, else written (see the module docstring)."""
    form = _form(form_name)
    crm = get_trellis()
    obj = crm.config.objects[form.object]
    ip = webform_guard.client_address()
    wait = webform_guard.over_the_limit(form)
    if wait is not None:
        kept = _kept_inputs(obj, form)
        rejections.reject(crm, form.name, "rate_limited", kept, {}, ip)
        notice = t("webform.throttled", minutes=max(1, math.ceil(wait / 60)))
        response = _respond(form, _page(form, kept, notice=notice), 429)
        response.headers["Retry-After"] = str(wait)
        return response
    reason, ticket = webform_guard.judge(form)
    inputs = {} if reason == "too_large" else _inputs(obj, form)
    captured = ticket.captured if ticket is not None else {}
    if reason is not None:
        rejections.reject(crm, form.name, reason, inputs, captured, ip)
        return _refused(form, reason, inputs, captured)
    try:
        submit(crm, form, Submission(inputs, captured, ip))
    except ValidationFailed as exc:
        return _invalid(form, obj, inputs, captured, exc)
    if form.redirect:
        return _frame_headers(form, redirect(form.redirect, 303))
    thanks = form.thank_you.get(g.lang) if form.thank_you else t("webform.thanks")
    return _respond(form, replace(_page(form, captured=captured), thanks=thanks, fields=[]))


def _kept_inputs(obj: ObjectDef, form: WebForm) -> dict[str, Any]:
    """The inputs, unless the body is too large to read."""
    return {} if (request.content_length or 0) > form.spam.max_bytes else _inputs(obj, form)


#: The HTTP status and the words of each reason a submission is refused.
REFUSALS = {
    "too_large": (413, "webform.too_large"),
    "origin": (403, "webform.refused"),
    "bad_token": (400, "webform.expired"),
    "honeypot": (422, "webform.refused"),
    "too_fast": (422, "webform.refused"),
    "challenge": (422, "webform.refused"),
}


def _refused(form: WebForm, reason: str, inputs: dict[str, Any], captured: dict[str, str]) -> Response:
    """The form again with the visitor's values and why it was not accepted."""
    status, key = REFUSALS[reason]
    if reason == "challenge":
        page = _page(form, inputs, captured=captured, answer_error=t("webform.challenge_wrong"))
    else:
        page = _page(form, inputs, notice=t(key), captured=captured or None)
    return _respond(form, page, status)


def _invalid(
    form: WebForm, obj: ObjectDef, inputs: dict[str, Any], captured: dict[str, str], exc: ValidationFailed
) -> Response:
    """The form again with the visitor's values and each field's error in their language."""
    fmt = Formatter.for_language(g.lang, get_trellis().config.settings)
    errors: dict[str, list[str]] = {}
    problems: list[str] = []
    for name, found in exc.errors.items():
        texts = [error_text(e, fmt, obj, name) for e in found if isinstance(e, FieldError)]
        if name in form.fields:
            errors[name] = texts
        else:
            label = obj.fields[name].label.get(g.lang) if name in obj.fields else ""
            problems.extend(f"{label}: {text}" if label else text for text in texts)
    state = {k: v for k, v in inputs.items() if v is not None}
    page = _page(form, state, errors, problems, notice=t("webform.problems"), captured=captured)
    return _respond(form, page, 422)


def embed_script(form_name: str) -> Response:
    """The snippet's script (any form: it reads ``data-form`` of its own tag)."""
    _form(form_name)
    response = send_from_directory(current_app.static_folder or "static", "webform-embed.js", max_age=3600)
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


def create_blueprint(app: Flask) -> Blueprint:
    """The public form routes: no login, and the POST exempt from CSRF (the signed token replaces it)."""
    blueprint = Blueprint("webforms", __name__)
    blueprint.before_request(_language)
    blueprint.add_url_rule("/f/<form_name>", "show", show, methods=["GET"])
    blueprint.add_url_rule("/f/<form_name>", "send", send, methods=["POST"])
    blueprint.add_url_rule("/f/<form_name>/embed.js", "embed_script", embed_script, methods=["GET"])
    csrf = app.extensions.get("csrf")
    if csrf is not None:
        csrf.exempt(send)
    return blueprint

"""The generic web UI, generated from the config: server-rendered Jinja pages.

Modules, one concern each:

- ``security``: secret key, cookie settings, CSRF protection, security headers;
- ``auth``: log in (with the two-factor step), log out, the account page, the language switch;
  ``throttle``: failed logins per IP address; ``reconfirm``: re-confirmation of sensitive operations (S37);
- ``context``: what every page needs (user, language, navigation); templates draw charts with
  ``{{ chart(c) }}`` (``webui.charts``);
- ``display``: values formatted for people (Babel), record pages;
- ``listing``: list pages — parameters → query → page, filters as sentences;
  ``frames``: a list page's frame drawn once per user, language and parameters, filled per request;
- ``forms``: widgets per field type and form input → engine values, uploads;
- ``views``: the record routes (thin: parse, call the engine, render).
- ``conversion``: the Convert button and its confirmation page (S12).
- ``emails``: the E-mail action of record pages and its form (issue 16 §2);
- ``merging``: the Merge action, the side-by-side merge page and "Undo merge" (issue 14);
  ``duplicate_finder``: an object's likely duplicates found by the finder, "Find duplicates",
  "Not a duplicate".
- ``notifications``: the bell in the header and the notifications page;
  ``automation_admin``: rule runs and the outbox, for ``manage_config``; ``explain_admin``: who can
  see a record and why, what a stage move needs ("Why can … see this?").
- ``pipeline``, ``board``, ``approvals``: the stage path and moves, the board, the approvals page.
- ``imports`` (view models in ``import_views``): the import wizard and each object's import history.
- ``reports``: the reports page, one report's table or matrix with drill-down links, its files;
  ``dashboards``: the dashboards page, one dashboard's grid of widgets with its filters.
- ``search``: the top bar's global search, its suggestions (JSON) and the results page.
- ``webforms``: the public web forms ``/f/<form>`` (no login; ``webform_guard`` tells spam);
  ``form_review``: the rejected submissions for admins, "Accept anyway".
- ``subscriptions``: a report's "Subscribe by e-mail" form, the user's subscriptions, the e-mails'
  unsubscribe link.
- ``campaigns``: a campaign's Start button and results, a record's engagement events, and the
  tracking links of campaign e-mails (``/t/o``, ``/t/c``, ``/t/u``: no login).

Like the rest of ``webui`` it holds no business rules: validation, scopes,
hidden and read-only fields, versions and audit are the engine's. Templates
live in ``webui/templates``; a config may ship its own in a ``templates``
folder beside it (``<object>/list.html`` before ``list.html``, see
``views.render_page``). Static files (own CSS/JS, no CDN) are in ``webui/static``.
"""

from __future__ import annotations

from flask import Flask

from webui import charts
from webui.ui import (
    auth,
    automation_admin,
    campaigns,
    context,
    conversion,
    dashboards,
    duplicate_finder,
    emails,
    errors,
    explain_admin,
    form_review,
    imports,
    merging,
    notifications,
    pipeline,
    reports,
    search,
    security,
    subscriptions,
    timeline,
    views,
    webforms,
)


def init_app(app: Flask) -> None:
    """Register the web UI on ``app`` (after the API, whose blueprint CSRF must exempt)."""
    security.init_app(app)
    context.init_app(app)
    charts.init_app(app, context.formatter)
    for blueprint in (
        auth.create_blueprint(app),
        views.create_blueprint(app),
        timeline.create_blueprint(app),
        conversion.create_blueprint(app),
        merging.create_blueprint(app),
        emails.create_blueprint(app),
        duplicate_finder.create_blueprint(app),
        pipeline.create_blueprint(app),
        notifications.create_blueprint(app),
        automation_admin.create_blueprint(app),
        explain_admin.create_blueprint(app),
        imports.create_blueprint(app),
        reports.create_blueprint(app),
        dashboards.create_blueprint(app),
        search.create_blueprint(app),
        subscriptions.create_blueprint(app),
        webforms.create_blueprint(app),
        form_review.create_blueprint(app),
        *campaigns.create_blueprints(app),
    ):
        errors.register(blueprint)
        app.register_blueprint(blueprint)
    errors.init_app(app)

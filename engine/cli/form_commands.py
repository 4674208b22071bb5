"""``trellis forms list CONFIG`` and ``trellis forms snippet CONFIG FORM --url URL``: the config's
web forms (issue 16 §1) and the HTML that embeds one in the company's own site.

``snippet`` prints a script tag that shows the form in an iframe (and a link for visitors without
JavaScript); the site must be one of the form's ``origins``. Exit 0, or 1 with a message for an
unknown form or an address that is not http(s). Neither command needs the database.
"""

from __future__ import annotations

import click

from engine.cli.common import CONFIG_ARG, echo, user_errors
from engine.cli.group import main


@main.group()
def forms() -> None:
    """Web forms: list them, print the snippet that embeds one in another site."""


def _config(config: str):  # noqa: ANN202 - a Config
    from engine.metadata import load_config

    return load_config(config)


@forms.command("list")
@CONFIG_ARG
@user_errors
def list_forms(config: str) -> None:
    """The config's web forms: name, object, label, the sites that may embed it."""
    loaded = _config(config)
    if not loaded.forms:
        echo("This config declares no web forms (`forms:`).")
    for form in loaded.forms.values():
        origins = ", ".join(form.origins) or "this site only"
        echo(f"{form.name}: {form.object} — {form.label.get()} (/f/{form.name}; embedded by {origins})")


@forms.command()
@CONFIG_ARG
@click.argument("form_name", metavar="FORM")
@click.option("--url", "base_url", required=True, help="The address Trellis is served at, e.g. https://crm.example.com")
@click.option("--lang", "language", default="en", show_default=True, help="The language of the link's text.")
@user_errors
def snippet(config: str, form_name: str, base_url: str, language: str) -> None:
    """Print the HTML that shows FORM in another site (paste it where the form goes)."""
    from engine.runtime.webforms.snippet import BadBaseUrl
    from engine.runtime.webforms.snippet import snippet as make

    loaded = _config(config)
    form = loaded.forms.get(form_name)
    if form is None:
        known = ", ".join(loaded.forms) or "none"
        raise click.ClickException(f"unknown form {form_name!r}; the config's forms: {known}")
    try:
        echo(make(form, base_url, language), nl=False)
    except BadBaseUrl as exc:
        raise click.ClickException(str(exc)) from None

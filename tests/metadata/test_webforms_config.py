"""Web forms in the config (``forms:``, issue 16 §1): what a form compiles into, and every error
code T-E210…T-E219 with its path, message and hint. Pure Python: no database."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.metadata import load_config
from engine.metadata.errors import ConfigError
from engine.metadata.forms import parse_rate
from engine.metadata.model import WebFormSpam

pytestmark = pytest.mark.no_database

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
BASE = """
trellis: 1
objects:
  promotion:
    title: "{name}"
    fields:
      name: {type: text, required: true}
  lead:
    fields:
      name: {type: text, required: true}
      email: {type: email}
      source: {type: picklist, required: true, values: [{key: website}, {key: fair}]}
      visits: {type: integer}
      number: {type: autonumber, format: "L-{0000}"}
      referrer: {type: text, max_length: 500}
      campaign: {type: lookup, object: promotion}
      owner_user: {type: user}
      same_as: {type: lookup, object: lead}
forms:
"""


def test_a_form_compiles_into_the_model(write_config):
    config = load_config(
        write_config(
            BASE
            + """
  contact:
    object: lead
    label: {en: Contact us, zh: 联系我们}
    fields: [name, email]
    required: [email]
    values: {source: website}
    capture: {referrer: referrer}
    campaign: {field: campaign, value: Spring webinar}
    origins: [https://www.example.com/]
    redirect: https://www.example.com/thanks
    on_duplicate: link
    link_field: same_as
    spam: {min_seconds: 5, challenge: arithmetic, rate_limit: "3/minute;10 per hour"}
"""
        )
    )
    form = config.forms["contact"]
    assert (form.object, form.fields, form.required) == ("lead", ("name", "email"), ("email",))
    assert dict(form.values) == {"source": "website"} and dict(form.capture) == {"referrer": "referrer"}
    assert (form.campaign_field, form.campaign_value) == ("campaign", "Spring webinar")
    assert form.origins == ("https://www.example.com",) and form.label.get("zh") == "联系我们"
    assert (form.on_duplicate, form.link_field, form.acting_name) == ("link", "same_as", "web_form:contact")
    assert form.spam == WebFormSpam(min_seconds=5, challenge="arithmetic", rate_limit="3/minute;10 per hour")
    assert parse_rate("5 per minute;30 per hour") and not parse_rate("fast") and not parse_rate("0 per minute")


@pytest.mark.parametrize(
    ("entry", "code", "path", "message", "hint"),
    [
        ("{object: leed, fields: [name]}", "T-E210", "forms.f.object", "unknown object `leed`", "`lead`"),
        ("{object: lead, fields: [nme, source]}", "T-E211", "forms.f.fields[0]", "no field `nme`", "`name`"),
        ("{object: lead, fields: [name, source, number]}", "T-E211", "forms.f.fields[2]", "computed", "leave it out"),
        ("{object: lead, fields: [name, source, campaign]}", "T-E212", "forms.f.fields[2]", "cannot show", "values"),
        ("{object: lead, fields: [name, source, name]}", "T-E212", "forms.f.fields[2]", "shown twice", "once"),
        ("{object: lead, fields: [name, source], required: [email]}", "T-E212", "forms.f.required[0]", "not show", ""),
        (
            "{object: lead, fields: [name], values: {source: web}}",
            "T-E213",
            "forms.f.values.source",
            "'web'",
            "website",
        ),
        ("{object: lead, fields: [name, email]}", "T-E214", "forms.f.fields", "requires `source`", "values"),
        (
            "{object: lead, fields: [name, source], capture: {referrer: visits}}",
            "T-E215",
            "forms.f.capture.referrer",
            "integer",
            "text",
        ),
        (
            "{object: lead, fields: [name, source], campaign: {field: visits, value: x}}",
            "T-E215",
            "forms.f.campaign.field",
            "lookup, text or picklist",
            "",
        ),
        (
            "{object: lead, fields: [name, source], origins: ['www.example.com']}",
            "T-E216",
            "forms.f.origins[0]",
            "not an origin",
            "https://www.example.com",
        ),
        (
            "{object: lead, fields: [name, source], redirect: 'javascript:alert(1)'}",
            "T-E216",
            "forms.f.redirect",
            "not an http(s) address",
            "",
        ),
        (
            "{object: lead, fields: [name, source], on_duplicate: link}",
            "T-E217",
            "forms.f.on_duplicate",
            "link_field",
            "",
        ),
        (
            "{object: lead, fields: [name, source], on_duplicate: link, link_field: campaign}",
            "T-E217",
            "forms.f.link_field",
            "not a lookup to `lead`",
            "",
        ),
        (
            "{object: lead, fields: [name, source], spam: {rate_limit: lots}}",
            "T-E218",
            "forms.f.spam.rate_limit",
            "`lots` is not a rate limit",
            "5 per minute",
        ),
        (
            "{object: lead, fields: [name, source], spam: {honeypot: name}}",
            "T-E219",
            "forms.f.spam.honeypot",
            "named like an input",
            "website_url",
        ),
    ],
)
def test_each_error_has_its_code_path_message_and_hint(write_config, entry, code, path, message, hint):
    with pytest.raises(ConfigError) as caught:
        load_config(write_config(BASE + f"  f: {entry}\n"))
    (issue,) = [i for i in caught.value.issues if i.code == code]
    assert issue.path == path and message in issue.message and hint in (issue.hint or ""), issue
    assert issue.location.line > 0


def test_the_sample_configs_ship_forms():
    saas, retail = load_config(CONFIGS / "sample_saas.yaml"), load_config(CONFIGS / "sample_retail.yaml")
    assert saas.forms["contact_us"].object == "lead" and "utm_source" in saas.forms["contact_us"].capture.values()
    assert retail.forms["contact"].object == "lead" and retail.forms["service_request"].object == "ticket"

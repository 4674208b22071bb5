"""A campaign's segment and e-mail template are chosen from picklists (issue 16 §3): each value
key must name a segment of ``segments:`` (a template of ``templates:``) — T-E235 with the value's
path, line and the closest name — and text fields are still accepted (configs written before)."""

from __future__ import annotations

import pytest

from engine.metadata import load_config
from engine.metadata.errors import ConfigError

pytestmark = pytest.mark.no_database

CONFIG = """
trellis: 1
picklists:
  mailings:
    values:
      - {{key: {mailing}, label: {{en: Product news, zh: 新品发布}}}}
objects:
  person:
    fields:
      name: {{type: text}}
      email: {{type: email}}
  campaign:
    fields:
      name: {{type: text}}
      segment:
        type: picklist
        values:
          - {{key: everyone, label: {{en: Everyone, zh: 所有人}}}}
          - {{key: {segment}, label: {{en: East, zh: 华东}}}}
      template: {{type: picklist, picklist: mailings}}
      rate: {{type: text}}
      start_at: {{type: datetime}}
      status:
        type: picklist
        values: [draft, scheduled, sending, sent, cancelled]
segments:
  everyone: {{object: person}}
  east_people: {{object: person, filter: {{name__startswith: E}}}}
templates:
  product_news: {{subject: "News", body: "Hello {{{{ record.name }}}}"}}
"""


def test_picklist_values_naming_segments_and_templates_compile(write_config):
    config = load_config(write_config(CONFIG.format(segment="east_people", mailing="product_news")))
    segment = config.objects["campaign"].fields["segment"].picklist
    assert segment is not None and segment.find("east_people").label.get("zh") == "华东"
    assert set(segment.keys()) <= set(config.segments)


@pytest.mark.parametrize(
    ("segment", "mailing", "path", "message", "hint"),
    [
        (
            "east_peple",
            "product_news",
            "objects.campaign.fields.segment.values[1]",
            "the campaign's segment `east_peple` names no segment of `segments:`",
            "did you mean `east_people`?",
        ),
        (
            "east_people",
            "launch",
            "picklists.mailings.values[0]",
            "the campaign's template `launch` names no template of `templates:`",
            "name one of: product_news",
        ),
    ],
)
def test_a_value_naming_no_segment_or_template_is_refused(write_config, segment, mailing, path, message, hint):
    text = CONFIG.format(segment=segment, mailing=mailing)
    with pytest.raises(ConfigError) as caught:
        load_config(write_config(text))
    (issue,) = caught.value.issues
    assert (issue.code, issue.path, issue.message, issue.hint) == ("T-E235", path, message, hint)
    assert f"key: {segment if 'peple' in segment else mailing}," in text.splitlines()[issue.location.line - 1]


def test_a_text_template_is_still_accepted_but_no_other_type(write_config):
    valid = CONFIG.format(segment="east_people", mailing="product_news")
    template = "template: {type: picklist, picklist: mailings}"
    load_config(write_config(valid.replace(template, "template: {type: text}")))  # a config written before
    with pytest.raises(ConfigError) as caught:
        load_config(write_config(valid.replace(template, "template: {type: integer}")))
    (issue,) = caught.value.issues
    assert (issue.code, issue.path, issue.message) == (
        "T-E235",
        "objects.campaign.fields.template",
        "a campaign needs a picklist or text field `template`, not an integer field",
    )

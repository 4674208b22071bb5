"""Campaigns in the config (issue 16 §3): ``segments:``, the ``event`` trigger and the ``campaign``
object — what a segment compiles into, and every error code T-E230…T-E235 with its path,
message and hint."""

from __future__ import annotations

import pytest

from engine.metadata import load_config
from engine.metadata.campaigns import parse_rate
from engine.metadata.errors import ConfigError

pytestmark = pytest.mark.no_database

BASE = """
trellis: 1
objects:
  person:
    fields:
      name: {type: text, required: true}
      email: {type: email}
      work_email: {type: email}
      phone: {type: phone}
      do_not_email: {type: boolean, default: false}
      visits: {type: integer, default: 0}
  deal:
    fields:
      name: {type: text}
"""

CAMPAIGN = """
  campaign:
    fields:
      name: {type: text}
      segment: {type: text}
      template: {type: text}
      rate: {type: text}
      start_at: {type: datetime}
      status:
        type: picklist
        values: [draft, scheduled, sending, sent, cancelled]
"""


def test_a_segment_compiles_into_list_filters_and_its_address_field(write_config):
    config = load_config(
        write_config(
            BASE
            + CAMPAIGN
            + """
segments:
  quiet:
    object: person
    filter: {do_not_email: false, visits__gte: 2, name__in: [a, b]}
    email: work_email
  everyone: {object: person}
automations:
  - name: visit
    object: person
    on: {event: page_visited}
    when: "event['count'] > 1 and event['url'] == '/pricing'"
    do: [{add: {visits: 1}}]
"""
        )
    )
    quiet = config.segments["quiet"]
    assert dict(quiet.filter) == {"do_not_email": "false", "visits__gte": "2", "name__in": "a,b"}
    assert (quiet.email, config.segments["everyone"].email) == ("work_email", "email")
    assert config.automations[0].trigger.event == "page_visited"
    assert (parse_rate("600/hour"), parse_rate("2/second"), parse_rate("0/hour"), parse_rate("fast")) == (
        600 / 3600,
        2,
        None,
        None,
    )


@pytest.mark.parametrize(
    ("extra", "code", "path", "message", "hint"),
    [
        ("segments: {s: {object: persn}}", "T-E230", "segments.s.object", "unknown object `persn`", "`person`"),
        (
            "segments: {s: {object: person, filter: {emial__isnull: false}}}",
            "T-E231",
            "segments.s.filter.emial__isnull",
            "person has no field `emial`",
            "`email`",
        ),
        (
            "segments: {s: {object: person, filter: {visits__gtee: 2}}}",
            "T-E232",
            "segments.s.filter.visits__gtee",
            "unknown operator `gtee`",
            "`gte`",
        ),
        (
            "segments: {s: {object: person, filter: {do_not_email: maybe}}}",
            "T-E232",
            "segments.s.filter.do_not_email",
            "`do_not_email: maybe`",
            "",
        ),
        ("segments: {s: {object: deal}}", "T-E233", "segments.s.object", "deal has no e-mail field", "contact, lead"),
        (
            "segments: {s: {object: person, email: phone}}",
            "T-E233",
            "segments.s.email",
            "`phone` is not an e-mail field of person",
            "email, work_email",
        ),
        (
            "automations: [{name: r, object: person, on: {event: email_click}, do: [{archive: true}]}]",
            "T-E234",
            "automations[0].on.event",
            "unknown event kind 'email_click'",
            "`email_clicked`",
        ),
    ],
)
def test_each_error_has_its_code_path_message_and_hint(write_config, extra, code, path, message, hint):
    with pytest.raises(ConfigError) as caught:
        load_config(write_config(BASE + CAMPAIGN + extra + "\n"))
    (issue,) = [i for i in caught.value.issues if i.code == code]
    assert issue.path == path and message in issue.message and hint in (issue.hint or ""), issue
    assert issue.location.line > 0


def test_a_campaign_object_needs_the_fields_campaigns_read(write_config):
    broken = CAMPAIGN.replace("      rate: {type: text}\n", "").replace("{type: datetime}", "{type: date}")
    broken = broken.replace(", cancelled]", "]")
    with pytest.raises(ConfigError) as caught:
        load_config(write_config(BASE + broken))
    found = {(i.path, i.message) for i in caught.value.issues if i.code == "T-E235"}
    assert found == {
        ("objects.campaign.fields", "a campaign needs a text field `rate`"),
        ("objects.campaign.fields.start_at", "a campaign needs a datetime field `start_at`, not a date field"),
        (
            "objects.campaign.fields.status",
            "a campaign's status needs the values draft, scheduled, sending, sent, cancelled; cancelled missing",
        ),
    }

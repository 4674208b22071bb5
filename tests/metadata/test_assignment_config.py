"""Checking and compiling ``assignment:`` and ``scoring:``: the model, overlays, and every
error code T-E130…T-E139 with its location. Pure Python: no database."""

from __future__ import annotations

import pytest

from engine.metadata import load_config
from engine.metadata.errors import ConfigError
from engine.metadata.model import AssignmentPool, Condition

pytestmark = pytest.mark.no_database

BASE = """
trellis: 1
objects:
  lead:
    fields:
      name: {type: text, required: true}
      region: {type: picklist, values: [east, west]}
      status: {type: picklist, values: [new, converted, disqualified]}
      tags: {type: tags, values: [urgent, vip]}
      notes: {type: text}
      score: {type: integer, default: 0}
      rating: {type: decimal}
      engineer: {type: user}
      secret: {type: text, encrypted: true}
      campus: {type: lookup, object: campus}
  campus:
    fields:
      name: {type: text, required: true}
      team: {type: text}
      code: {type: integer}
roles:
  sales_rep: {objects: {lead: {read: own}}}
"""

GOOD = (
    BASE
    + """
assignment:
  new_leads:
    object: lead
    strategy: round_robin
    pool: {role: sales_rep}
    rules:
      - {name: east, when: "region == 'east'", pool: {role: sales_rep, team: east_it}}
      - {when: "region == 'west'", pool: {users: [amy, ben, amy]}}
    capacity: {max_open: 30, open_when: "status not in ('converted', 'disqualified') and 0 < score and not notes"}
    fallback: {user: lead_queue}
    on: created
    when: "owner_id is None"
    urgent_tag: {field: tags, tag: urgent}
  engineers: {object: lead, field: engineer, strategy: least_loaded, pool: {team: service}}
scoring:
  lead_score:
    object: lead
    field: score
    rules:
      - {name: east, when: "region == 'east'", points: 60}
      - {when: "status == 'converted'", points: -10}
automations:
  - {name: route, object: lead, on: created, do: [{assign: engineers}]}
"""
)


def test_assignment_and_scoring_compile_into_the_model(write_config):
    config = load_config(write_config(GOOD))
    rule = config.assignment["new_leads"]
    assert (rule.object, rule.field, rule.strategy, rule.on, rule.fallback, rule.max_open) == (
        "lead",
        "owner_id",
        "round_robin",
        "created",
        "lead_queue",
        30,
    )
    assert rule.pool == AssignmentPool(role="sales_rep") and rule.pool.key == "role:sales_rep"
    assert [t.pool.key for t in rule.territories] == ["role:sales_rep;team:east_it", "users:amy,ben"]
    assert rule.when.source == "owner_id is None" and (rule.urgent_field, rule.urgent_tag) == ("tags", "urgent")
    assert rule.open_filter == Condition(
        "and",
        (
            Condition("not_in", field="status", values=("converted", "disqualified")),
            Condition("gt", field="score", values=(0,)),
            Condition("not", (Condition("true", field="notes"),)),
        ),
    )
    assert config.assignment["engineers"].field == "engineer"
    scoring = config.scoring["lead_score"]
    assert [(r.name, r.points) for r in scoring.rules] == [("east", 60), (None, -10)]
    assert scoring.recompute == "on_change"
    assert config.automations[0].actions[0].rule == "engineers"


def test_overlays_change_territories_and_score_rules_by_name_and_add_unnamed_ones(write_config):
    write_config(GOOD, "base.yaml")
    overlay = write_config(
        """
trellis: 1
extends: base.yaml
assignment:
  new_leads:
    rules:
      - {name: east, when: "region == 'east'", pool: {team: east_only}}
      - {when: "name == 'vip'", pool: {users: [amy]}}
scoring:
  lead_score:
    rules:
      - {name: east, points: 50}
      - {when: "notes is not None", points: 5}
""",
        "overlay.yaml",
    )
    config = load_config(overlay)
    assert [t.pool.key for t in config.assignment["new_leads"].territories] == [
        "role:sales_rep;team:east_only",
        "users:amy,ben",
        "users:amy",
    ]  # mappings merge key by key
    assert [r.points for r in config.scoring["lead_score"].rules] == [50, -10, 5]


BAD_CASES = {
    "T-E130": ("assignment: {a: {object: leed, pool: {role: sales_rep}}}", "assignment.a.object"),
    "T-E131": ("assignment: {a: {object: lead, field: notes, pool: {role: sales_rep}}}", "assignment.a.field"),
    "T-E132": ("assignment: {a: {object: lead, pool: {role: sales_rpe}}}", "assignment.a.pool.role"),
    "T-E133": ("assignment: {a: {object: lead}}", "assignment.a"),
    "T-E134": (
        "assignment: {a: {object: lead, pool: {role: sales_rep}, urgent_tag: {field: tags, tag: hot}}}",
        "assignment.a.urgent_tag.tag",
    ),
    "T-E135": (
        "assignment: {a: {object: lead, pool: {role: sales_rep}, on: created},"
        " b: {object: lead, pool: {team: x}, on: created}}",
        "assignment.b.on",
    ),
    "T-E136": ("scoring: {s: {object: lead, field: rating, rules: [{when: 'True', points: 1}]}}", "scoring.s.field"),
    "T-E137": (
        "scoring: {s: {object: lead, field: score, rules: [{when: 'score > 5', points: 1}]}}",
        "scoring.s.rules[0].when",
    ),
    "T-E138": (
        "scoring: {s: {object: lead, field: score, rules: [{when: 'True', points: 1}]},"
        " t: {object: lead, field: score, rules: [{when: 'True', points: 2}]}}",
        "scoring.t.field",
    ),
    "T-E140": (
        "assignment: {a: {object: lead, pool: {role: sales_rep, team: {from: campus.teem}}}}",
        "assignment.a.pool.team.from",
    ),
    "T-E141": (
        "assignment: {a: {object: lead, pool: {role: sales_rep}, skip_when: created_by_owner}}",
        "assignment.a.skip_when",
    ),
    "T-E139": (
        "assignment: {a: {object: lead, pool: {role: sales_rep},"
        " capacity: {max_open: 3, open_when: \"contains(tags, 'vip')\"}}}",
        "assignment.a.capacity.open_when",
    ),
}


@pytest.mark.parametrize("code", sorted(BAD_CASES))
def test_each_error_code_with_its_path(write_config, code):
    snippet, path = BAD_CASES[code]
    with pytest.raises(ConfigError) as error:
        load_config(write_config(BASE + snippet + "\n"))
    found = [(issue.code, issue.path) for issue in error.value.issues]
    assert found == [(code, path)], [str(i) for i in error.value.issues]
    assert error.value.issues[0].location is not None and error.value.issues[0].hint


@pytest.mark.parametrize(
    ("snippet", "path"),
    [
        ("assignment: {a: {object: lead, pool: {users: [amy], team: x}}}", "assignment.a.pool"),
        ("assignment: {a: {object: lead, field: nothing, pool: {role: sales_rep}}}", "assignment.a.field"),
        (
            "assignment: {a: {object: lead, pool: {role: sales_rep}, urgent_tag: {field: notes, tag: x}}}",
            "assignment.a.urgent_tag.field",
        ),
        (
            "assignment: {a: {object: lead, pool: {role: sales_rep}, capacity: {max_open: 3, open_when: 'secret == 1'}}}",
            "assignment.a.capacity.open_when",
        ),
        (
            "assignment: {a: {object: lead, pool: {role: sales_rep}, capacity: {max_open: 3, open_when: 'score < rating'}}}",
            "assignment.a.capacity.open_when",
        ),
        ("assignment: {a: {object: lead, pool: {team: {from: campuz.team}}}}", "assignment.a.pool.team.from"),
        ("assignment: {a: {object: lead, pool: {team: {from: region.team}}}}", "assignment.a.pool.team.from"),
        ("assignment: {a: {object: lead, pool: {team: {from: campus.code}}}}", "assignment.a.pool.team.from"),
        ("assignment: {a: {object: lead, pool: {team: {from: secret}}}}", "assignment.a.pool.team.from"),
        ("assignment: {a: {object: lead, pool: {team: {from: campus.name.team}}}}", "assignment.a.pool.team.from"),
        (
            "assignment: {a: {object: lead, rules: [{when: 'True', pool: {team: {from: campus}}}]}}",
            "assignment.a.rules[0].pool.team.from",
        ),
        (
            "assignment: {a: {object: lead, pool: {role: sales_rep}, on: created, skip_when: created_by_me}}",
            "assignment.a.skip_when",
        ),
    ],
)
def test_more_shapes_of_the_same_errors(write_config, snippet, path):
    with pytest.raises(ConfigError) as error:
        load_config(write_config(BASE + snippet + "\n"))
    assert [issue.path for issue in error.value.issues] == [path], [str(i) for i in error.value.issues]


def test_expressions_and_the_assign_action_are_checked_too(write_config):
    bad = (
        BASE
        + """
assignment:
  a: {object: lead, pool: {role: sales_rep}, when: "regoin == 'east'", rules: [{when: "region ==", pool: {team: x}}]}
scoring:
  s: {object: lead, field: score, rules: [{when: "upper2(name) == 'X'", points: 1}]}
automations:
  - {name: r, object: lead, on: created, do: [{assign: b}]}
"""
    )
    with pytest.raises(ConfigError) as error:
        load_config(write_config(bad))
    assert sorted((i.code, i.path) for i in error.value.issues) == [
        ("T-E040", "assignment.a.rules[0].when"),
        ("T-E041", "assignment.a.when"),
        ("T-E042", "scoring.s.rules[0].when"),
        ("T-E127", "automations[0].do[0].assign"),
    ]


def test_a_pool_takes_its_team_from_the_record_or_a_looked_up_record(write_config):
    config = load_config(
        write_config(
            BASE
            + """
assignment:
  by_campus: {object: lead, pool: {role: sales_rep, team: {from: campus.team}}}
  by_region: {object: lead, rules: [{when: "True", pool: {team: {from: region}}}]}
"""
        )
    )
    pool = config.assignment["by_campus"].pool
    assert (pool.role, pool.team, pool.team_from) == ("sales_rep", None, ("campus", "team"))
    assert config.assignment["by_region"].territories[0].pool.team_from == ("region",)
    with pytest.raises(ConfigError) as error:
        load_config(write_config(BASE + "assignment: {a: {object: lead, pool: {team: {from: campus.code}}}}\n"))
    assert (
        error.value.issues[0].message == "`campus.code` is of type integer: a team is named by a text or picklist field"
    )

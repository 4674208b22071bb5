"""Configs are read with YAML 1.2 booleans: ``on``/``yes``/``no`` stay text, ``true``/``false`` do not."""

from __future__ import annotations

import pytest

from engine.metadata import load_config

pytestmark = pytest.mark.no_database

CONFIG = """
trellis: 1
objects:
  shipment:
    fields:
      country: {type: picklist, values: [cn, "no", se], default: no}
      fragile: {type: boolean, default: True}
      insured: {type: boolean, default: false}
      mode: {type: picklist, values: ["on", "off", "yes"]}
approvals:
  - {name: big, object: shipment, on: delete, approver: {role: admin}}
roles:
  admin: {objects: {"*": {read: all}}, permissions: [approve]}
"""


def test_yaml_1_1_words_stay_text_and_true_false_are_booleans(write_config):
    config = load_config(write_config(CONFIG))
    fields = config.objects["shipment"].fields
    assert fields["country"].default == "no"
    assert [v.key for v in fields["mode"].picklist.values] == ["on", "off", "yes"]
    assert fields["fragile"].default is True and fields["insured"].default is False
    assert config.approvals[0].trigger == "delete"

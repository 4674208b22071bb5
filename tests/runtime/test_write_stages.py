"""The write path's named stages: features join them through one registry, and a new one plugs in.

Every feature of the write path is one ``Feature`` naming the stages it joins
(``engine.runtime.records.stages``), listed once in ``engine.runtime.features``; the write path
calls no feature by name. A feature of one's own registered on a runtime sees each write at its
stages, can refuse a row like a built-in check, and sees a batch's chunk once at a chunk stage.
Runs on SQLite, and on PostgreSQL when TRELLIS_TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from engine import Trellis, ValidationFailed
from engine.runtime import features
from engine.runtime.records.stages import STAGE_NAMES, STAGES, Feature, UnknownStage, WriteStages
from tests.templates import apply_fresh

ROOT = Path(__file__).resolve().parents[2]
CONFIG = """
trellis: 1
objects:
  item:
    fields:
      name: {type: text, required: true}
      code: {type: text, unique: true}
      qty: {type: integer}
"""


@pytest.fixture
def crm(write_config, db_url):
    crm = Trellis.open(write_config(CONFIG), db_url)
    apply_fresh(crm)
    yield crm
    crm.close()


class Probe:
    """A feature of the test's own: notes what each stage shows it and refuses ``qty`` 13."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, object]] = []

    def feature(self) -> Feature:
        def at(stage: str):
            def hook(write, draft) -> None:
                record = draft.record if draft.record is not None else draft.current
                self.seen.append((stage, write.action, record["id"] if record is not None else None))

            return hook

        def validate(write, draft) -> None:
            at("validate")(write, draft)
            if draft.data.get("qty") == 13:
                draft.errors.add("qty", "unlucky", "13 is not a quantity we keep.")

        def check(write, drafts) -> None:
            self.seen.append(("check", write.action, len(drafts)))

        hooks = {"validate": validate, "check": check, "audit": at("audit"), "after": at("after")}
        return Feature("probe", hooks)


def test_every_built_in_feature_joins_only_stages_that_exist():
    for feature in features.FEATURES:
        assert set(feature.hooks) <= STAGE_NAMES, feature.name
    registry = features.write_stages()
    assert [f.name for f in registry.features] == [f.name for f in features.FEATURES]
    assert {f.name for f in registry.features} >= {"pipeline", "approvals", "audit", "automation", "files"}


def test_a_feature_naming_an_unknown_stage_is_refused_with_the_stages_listed():
    registry = WriteStages()
    with pytest.raises(UnknownStage) as refused:
        registry.register(Feature("typo", {"aftr": lambda write, draft: None}))
    assert "feature 'typo' joins unknown stage(s) 'aftr'" in str(refused.value)
    assert "read, input, prepare" in str(refused.value)
    assert registry.features == ()
    registry.register(Feature("one", {"after": lambda write, draft: None}))
    with pytest.raises(ValueError, match="'one' is registered already"):
        registry.register(Feature("one", {}))


def test_a_feature_goes_where_it_is_told():
    first, second, third = (Feature(name, {"after": lambda write, draft: None}) for name in ("a", "b", "c"))
    registry = WriteStages([first, third])
    registry.register(second, before="c")
    assert [f.name for f in registry.features] == ["a", "b", "c"]
    assert registry.hooks("after") == (first.hooks["after"], second.hooks["after"], third.hooks["after"])


def test_a_registered_feature_sees_each_write_at_its_stages(crm):
    probe = Probe()
    crm.stages.register(probe.feature())
    with crm.session() as s:
        record = s.create("item", {"name": "Bolt", "qty": 3})
        s.update("item", record.id, {"qty": 4})
        s.delete("item", record.id)

    assert probe.seen == [
        ("validate", "create", None),
        ("check", "create", 1),
        ("audit", "create", record.id),
        ("after", "create", record.id),
        ("validate", "update", record.id),
        ("check", "update", 1),
        ("audit", "update", record.id),
        ("after", "update", record.id),
        ("validate", "delete", record.id),
        ("audit", "delete", record.id),
        ("after", "delete", record.id),
    ]


def test_a_registered_feature_refuses_like_a_built_in_check(crm):
    crm.stages.register(Probe().feature())
    with pytest.raises(ValidationFailed) as refused, crm.session() as s:
        s.create("item", {"name": "Bolt", "qty": 13})
    assert [(e.code, e.message) for e in refused.value.errors["qty"]] == [("unlucky", "13 is not a quantity we keep.")]

    with crm.session() as s:
        outcomes = s.create_many(
            "item", [{"name": "A", "qty": 1}, {"name": "B", "qty": 13}, {"name": "C"}], on_error="collect"
        )
        assert [o.index if isinstance(o, ValidationFailed) else o["name"] for o in outcomes] == ["A", 1, "C"]
        assert [r["name"] for r in s.query("item").order_by("name").all()] == ["A", "C"]


def test_a_chunk_stage_sees_a_batch_once_per_chunk(crm):
    probe = Probe()
    crm.stages.register(probe.feature())
    with crm.session() as s:
        s.create_many("item", [{"name": f"Item {n}", "code": f"C-{n}"} for n in range(5)], chunk_size=2)

    assert [entry for entry in probe.seen if entry[0] == "check"] == [
        ("check", "create", 2),
        ("check", "create", 2),
        ("check", "create", 1),
    ]


def test_the_architecture_document_names_every_stage():
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    section = text.split("## The one write path", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"^\s*(?:→\s*)?([a-z]+)\s{2,}", section.split("```")[1], re.MULTILINE))
    assert named == {stage.name for stage in STAGES}

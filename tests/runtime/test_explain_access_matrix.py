"""``explain access`` agrees with the read and write paths over the whole permission matrix.

The data set is the permission matrix's (``tests/runtime/test_permission_matrix.py``: both
sample configs, every role's demo user, Hank (team ≠ subtree), Ivan (two roles) and Dora (the
``subtree`` overlay), an anchor and a free record per user and object, one without owner, one
archived), built once per module. For every case ``<config>-<subject>-<object>`` and every
record, three answers must be the same:

- the engine's explanation (``engine.runtime.security.explain``): can read / edit / delete;
- the read path: the record is among ``Session.query(object).include_archived()`` of the subject;
  the write path's own check: ``writes.read_current(…, "edit" / "delete")`` returns the record
  (not NotFound or PermissionDenied);
- the matrix's own expectation, computed from the role definitions and the users' teams and
  managers without the engine's scope code (``World.scope_ids``).

Every "cannot" has a reason naming the scope; hidden and read-only fields are the ones the
matrix expects.
"""

from __future__ import annotations

import pytest

from engine.runtime.records import writes
from engine.runtime.records.record import Record
from engine.runtime.security.explain import ACTIONS, Explainer
from tests.runtime.test_permission_matrix import CONFIG_NAMES, SAMPLES, _subjects, case_world, worlds  # noqa: F401


class Rollback(Exception):
    """Undo the locks the write path's read took."""


def _path_answers(crm, subject, obj_name: str, ids: list[int]) -> dict[str, set[int]]:
    """The ids the read path returns and the write path accepts for edit and delete."""
    found: dict[str, set[int]] = {}
    with pytest.raises(Rollback), crm.session(subject.username) as s:
        found["read"] = {r.id for r in s.query(obj_name).include_archived().all()}
        obj = s.object(obj_name)
        for action in ("edit", "delete"):
            outcome = writes.read_current(s, obj, list(ids), action)
            found[action] = {i for i, o in zip(ids, outcome, strict=True) if isinstance(o, Record)}
        raise Rollback
    return found


@pytest.mark.parametrize("name", CONFIG_NAMES)
def test_explain_says_what_the_read_and_write_paths_do_for_every_case(worlds, name):  # noqa: F811
    world = worlds(name)
    checked = 0
    for subject in _subjects(SAMPLES[name]):
        case_world(worlds, name, subject)
        crm, user, eff = world.crm_for(subject), world.user(subject), world.effective(subject)
        answers = {o: _path_answers(crm, subject, o, [r.id for r in rows]) for o, rows in world.rows.items()}
        with crm.session() as system:
            explainer = Explainer(system, "en")
            for obj_name, rows in world.rows.items():
                ids, paths = [r.id for r in rows], answers[obj_name]
                explainer.load(obj_name, ids)
                expected = {a: set(world.scope_ids(subject, obj_name, a)) for a in ACTIONS}
                obj = crm.config.objects[obj_name]
                for record_id in ids:
                    told = explainer.access(obj_name, record_id, user.id)
                    case = f"{name}-{subject}-{obj_name} record {record_id}"
                    for action in ACTIONS:
                        said = told.can(action)
                        by_path = record_id in paths[action]
                        assert said == by_path, f"{case}: explain says {action}={said}, the path {by_path}"
                        assert said == (record_id in expected[action] and record_id in expected["read"]), case
                        level = getattr(eff.grants[obj_name], action)
                        assert told.rights[action].level == level, case
                        right = told.rights[action]
                        assert right.reason.code.endswith(".yes" if right.allowed else ".no"), case
                        assert "explain." not in told.rights[action].reason.text("en"), case  # a real sentence
                    assert set(told.hidden) == set(eff.hidden_in(obj)), case
                    assert set(told.read_only) == set(eff.unwritable_in(obj)) - set(eff.hidden_in(obj)), case
                    checked += 1
    assert checked > 500

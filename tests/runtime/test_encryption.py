"""Sensitive fields encrypted at rest (S38).

A field declared ``encrypted: true`` is stored as a Fernet token: the raw
table and the audit trail never hold the plaintext, while ``get`` and
``query`` return it to whoever may see the field. The key comes from
TRELLIS_SECRET_KEY (or a key file); without it a config with encrypted fields
does not open, and a wrong key is reported as such.
Runs on SQLite, and on PostgreSQL when TRELLIS_TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from engine import QueryError, Trellis
from engine.cli import main
from engine.runtime.security import audit, crypto
from engine.runtime.security.crypto import DecryptionFailed, SecretKeyMissing
from engine.runtime.workflow import approvals
from tests.templates import apply_fresh

CONFIG = """
trellis: 1
objects:
  contact:
    fields:
      name: {type: text, required: true}
      id_number: {type: text, encrypted: true}
      notes: {type: textarea}
roles:
  rep:
    objects: {contact: {read: all, edit: all, create: true}}
    hidden: [contact.id_number]
  compliance:
    objects: {contact: {read: all, edit: all, create: true}}
"""
ID_NUMBER = "110101199003071234"
NEW_ID_NUMBER = "220202199104082345"


@pytest.fixture(autouse=True)
def secret_key(monkeypatch) -> str:
    key = crypto.generate_key()
    monkeypatch.setenv("TRELLIS_SECRET_KEY", key)
    monkeypatch.delenv("TRELLIS_SECRET_KEY_FILE", raising=False)
    return key


@pytest.fixture
def config_path(write_config):
    return write_config(CONFIG)


@pytest.fixture
def crm(config_path, db_url):
    crm = Trellis.open(config_path, db_url)
    apply_fresh(crm)
    yield crm
    crm.close()


def create(crm, values, user=None):
    with crm.session(user) as s:
        return s.create("contact", values)


def raw_texts(crm, table_name: str) -> list[str]:
    """Every value of every row of a table, as text, read with plain SQL."""
    with crm.engine.connect() as connection:
        rows = connection.execute(sa.text(f"SELECT * FROM {table_name}")).all()
    return [str(value) for row in rows for value in row]


def stored_id_numbers(crm) -> list[str | None]:
    with crm.engine.connect() as connection:
        return list(connection.execute(sa.text("SELECT id_number FROM obj_contact ORDER BY id")).scalars())


# --- at rest -------------------------------------------------------------------------------


def test_the_raw_table_holds_no_plaintext(crm):
    create(crm, {"name": "Li Lei", "id_number": ID_NUMBER})

    texts = raw_texts(crm, "obj_contact")
    assert "Li Lei" in texts  # the raw read works: plain fields are there
    assert not any(ID_NUMBER in text for text in texts)
    assert stored_id_numbers(crm)[0].startswith("gAAAAA")  # a Fernet token


def test_the_audit_trail_holds_no_plaintext(crm):
    record = create(crm, {"name": "Li Lei", "id_number": ID_NUMBER})
    with crm.session() as s:
        s.update("contact", record.id, {"id_number": NEW_ID_NUMBER})

    texts = raw_texts(crm, "sys_audit")
    assert not any(ID_NUMBER in text or NEW_ID_NUMBER in text for text in texts)
    with crm.session() as s:
        history = audit.history(s.connection, crm.schema, "contact", record.id, s.principal)
    assert history[1].changes == {"id_number": [audit.ENCRYPTED, audit.ENCRYPTED]}


def test_the_same_value_is_stored_differently_each_time(crm):
    create(crm, {"name": "A", "id_number": ID_NUMBER})
    create(crm, {"name": "B", "id_number": ID_NUMBER})

    first, second = stored_id_numbers(crm)
    assert first != second


def test_an_empty_value_stays_empty(crm):
    record = create(crm, {"name": "No number"})

    assert stored_id_numbers(crm) == [None]
    with crm.session() as s:
        assert s.get("contact", record.id)["id_number"] is None


# --- in use ---------------------------------------------------------------------------------


def test_get_and_query_return_the_plaintext(crm):
    record = create(crm, {"name": "Li Lei", "id_number": ID_NUMBER})

    assert record["id_number"] == ID_NUMBER
    with crm.session() as s:
        assert s.get("contact", record.id)["id_number"] == ID_NUMBER
        assert [r["id_number"] for r in s.query("contact").all()] == [ID_NUMBER]
        assert [r["id_number"] for r in s.query("contact").page(1)] == [ID_NUMBER]


def test_update_replaces_the_encrypted_value(crm):
    record = create(crm, {"name": "Li Lei", "id_number": ID_NUMBER})
    before = stored_id_numbers(crm)

    with crm.session() as s:
        updated = s.update("contact", record.id, {"id_number": NEW_ID_NUMBER})
        assert updated["id_number"] == NEW_ID_NUMBER
    with crm.session() as s:
        assert s.get("contact", record.id)["id_number"] == NEW_ID_NUMBER
    assert stored_id_numbers(crm) != before
    assert not any(NEW_ID_NUMBER in text for text in raw_texts(crm, "obj_contact"))


def test_updating_other_fields_keeps_the_encrypted_value(crm):
    record = create(crm, {"name": "Li Lei", "id_number": ID_NUMBER})
    stored = stored_id_numbers(crm)

    with crm.session() as s:
        s.update("contact", record.id, {"notes": "called"})
        assert s.get("contact", record.id)["id_number"] == ID_NUMBER
    assert stored_id_numbers(crm) == stored


def test_a_role_that_hides_the_field_never_receives_it(crm):
    with crm.directory() as d:
        d.add("rita", roles=["rep"])
        d.add("carl", roles=["compliance"])
    record = create(crm, {"name": "Li Lei", "id_number": ID_NUMBER})

    with crm.session("rita") as s:
        assert "id_number" not in s.get("contact", record.id)
        assert "id_number" not in s.query("contact").all()[0]
    with crm.session("carl") as s:
        assert s.get("contact", record.id)["id_number"] == ID_NUMBER


@pytest.mark.parametrize(
    "build",
    [
        lambda q: q.filter(id_number=ID_NUMBER),
        lambda q: q.filter(id_number__startswith="1101"),
        lambda q: q.filter(id_number__isnull=True),
        lambda q: q.order_by("id_number"),
        lambda q: q.order_by("-id_number"),
    ],
    ids=["eq", "startswith", "isnull", "sort", "sort-desc"],
)
def test_filter_and_sort_on_an_encrypted_field_are_refused(crm, build):
    create(crm, {"name": "Li Lei", "id_number": ID_NUMBER})

    with crm.session() as s, pytest.raises(QueryError, match="id_number is stored encrypted"):
        build(s.query("contact")).all()


def test_search_never_matches_an_encrypted_value(crm):
    create(crm, {"name": "Li Lei", "id_number": ID_NUMBER})

    with crm.session() as s:
        assert s.query("contact").search("1101011990").all() == []
        assert len(s.query("contact").search("Li Lei").all()) == 1


# --- pending approvals -------------------------------------------------------------------------

APPROVED = (
    CONFIG
    + """  approver:
    objects: {contact: {read: all}}
    permissions: [approve]
approvals:
  - name: id_check
    object: contact
    on: {change: [id_number]}
    applies_to: [create, update]
    approver: {user: carl}
"""
)


def test_a_pending_request_stores_encrypted_values_encrypted_and_applies_them(write_config, db_url):
    crm = Trellis.open(write_config(APPROVED), db_url)
    apply_fresh(crm)
    with crm.directory() as d:
        d.add("rita", roles=["rep"])
        d.add("cara", roles=["compliance"])
        d.add("carl", roles=["approver"])
    record = create(crm, {"name": "Li Lei"}, "cara")
    with crm.session("cara") as s:
        changed = s.update("contact", record.id, {"id_number": ID_NUMBER}).pending_approval
        created = s.create("contact", {"name": "Han Meimei", "id_number": NEW_ID_NUMBER}).pending_approval

    assert not any(ID_NUMBER in text or NEW_ID_NUMBER in text for text in raw_texts(crm, "sys_approvals"))
    with crm.session("rita") as s:  # the field is hidden from her: the request shows it to her as hidden
        shown = approvals.get(s, changed.id)
    assert "id_number" not in shown.changes and shown.hidden_changes == 1
    with crm.session("carl") as s:
        assert approvals.get(s, changed.id).changes == {"id_number": ID_NUMBER}
        assert approvals.decide(s, changed.id, "approve").status == "approved"
        new_id = approvals.decide(s, created.id, "approve").record_id

    with crm.session() as s:
        assert s.get("contact", record.id)["id_number"] == ID_NUMBER
        assert s.get("contact", new_id)["id_number"] == NEW_ID_NUMBER
    assert all(value.startswith("gAAAAA") for value in stored_id_numbers(crm))
    crm.close()


# --- the key ----------------------------------------------------------------------------------


def test_opening_without_a_key_is_refused_with_a_clear_message(config_path, db_url, monkeypatch):
    monkeypatch.delenv("TRELLIS_SECRET_KEY")

    with pytest.raises(SecretKeyMissing) as missing:
        Trellis.open(config_path, db_url)

    message = str(missing.value)
    assert "this config has encrypted fields" in message
    assert "TRELLIS_SECRET_KEY" in message and "trellis secret generate" in message


def test_a_config_without_encrypted_fields_needs_no_key(write_config, db_url, monkeypatch):
    monkeypatch.delenv("TRELLIS_SECRET_KEY")
    path = write_config("trellis: 1\nobjects:\n  note:\n    fields:\n      text: {type: text}\n", "plain.yaml")

    Trellis.open(path, db_url).close()


def test_validate_works_without_the_key(config_path, monkeypatch):
    monkeypatch.delenv("TRELLIS_SECRET_KEY")

    result = CliRunner().invoke(main, ["validate", str(config_path)])

    assert result.exit_code == 0, result.output
    assert "is valid" in result.output


def test_a_wrong_key_is_reported_as_such(crm, config_path, db_url, monkeypatch):
    record = create(crm, {"name": "Li Lei", "id_number": ID_NUMBER})
    monkeypatch.setenv("TRELLIS_SECRET_KEY", crypto.generate_key())
    reopened = Trellis.open(config_path, db_url)

    with reopened.session() as s, pytest.raises(DecryptionFailed) as failed:
        s.get("contact", record.id)
    reopened.close()

    assert "cannot be decrypted with the configured TRELLIS_SECRET_KEY" in str(failed.value)
    assert "was the key changed?" in str(failed.value)


def test_the_key_can_come_from_a_file(config_path, db_url, monkeypatch, tmp_path, secret_key):
    monkeypatch.delenv("TRELLIS_SECRET_KEY")
    key_file = tmp_path / "secret.key"
    key_file.write_text(secret_key + "\n", encoding="utf-8")
    monkeypatch.setenv("TRELLIS_SECRET_KEY_FILE", str(key_file))

    crm = Trellis.open(config_path, db_url)
    crm.apply()
    try:
        record = create(crm, {"name": "Li Lei", "id_number": ID_NUMBER})
        monkeypatch.delenv("TRELLIS_SECRET_KEY_FILE")
        monkeypatch.setenv("TRELLIS_SECRET_KEY", secret_key)  # the same key, given directly
        with crm.session() as s:
            assert s.get("contact", record.id)["id_number"] == ID_NUMBER
    finally:
        crm.close()


def test_an_unreadable_key_file_is_named_in_the_error(config_path, db_url, monkeypatch, tmp_path):
    monkeypatch.delenv("TRELLIS_SECRET_KEY")
    monkeypatch.setenv("TRELLIS_SECRET_KEY_FILE", str(tmp_path / "missing.key"))

    with pytest.raises(SecretKeyMissing, match="cannot read TRELLIS_SECRET_KEY_FILE .*missing.key"):
        Trellis.open(config_path, db_url)


def test_a_passphrase_works_as_a_key_but_a_short_one_is_refused(config_path, db_url, monkeypatch):
    monkeypatch.setenv("TRELLIS_SECRET_KEY", "correct horse battery staple")
    crm = Trellis.open(config_path, db_url)
    crm.apply()
    record = create(crm, {"name": "Li Lei", "id_number": ID_NUMBER})
    with crm.session() as s:
        assert s.get("contact", record.id)["id_number"] == ID_NUMBER
    crm.close()

    monkeypatch.setenv("TRELLIS_SECRET_KEY", "too short")
    with pytest.raises(SecretKeyMissing, match="too short"):
        Trellis.open(config_path, db_url)


def test_the_key_is_read_once_when_trellis_opens(crm, config_path, db_url, monkeypatch):
    """A change to the environment takes effect when Trellis is opened again, not before:
    values written meanwhile are encrypted with the key the process opened with."""
    record = create(crm, {"name": "Li Lei", "id_number": ID_NUMBER})
    monkeypatch.setenv("TRELLIS_SECRET_KEY", crypto.generate_key())
    with crm.session() as s:
        assert s.get("contact", record.id)["id_number"] == ID_NUMBER
    monkeypatch.delenv("TRELLIS_SECRET_KEY")
    second = create(crm, {"name": "Han Meimei", "id_number": NEW_ID_NUMBER})
    with crm.session() as s:
        assert s.get("contact", second.id)["id_number"] == NEW_ID_NUMBER
    assert crm.keys.text not in repr(crm.keys)


# --- automation reads the plaintext ------------------------------------------------------------
RULES = """
trellis: 1
objects:
  contact:
    fields:
      name: {type: text, required: true}
      id_number: {type: text, encrypted: true}
      notes: {type: textarea}
      checked: {type: boolean, default: false}
  visit:
    fields:
      contact: {type: lookup, object: contact}
automations:
  - name: visit_notes_the_id
    object: visit
    on: created
    do:
      - update: {record: contact, set: {notes: "='seen ' + target['id_number']"}}
  - name: check_renamed
    object: contact
    on: {approval: approved}
    when: "id_number == '110101199003071234'"
    do: [{set: {checked: true}}]
approvals:
  - name: rename
    object: contact
    on: {change: [name]}
    applies_to: [update]
    approver: {user: boss}
roles:
  clerk:
    objects: {"*": {read: all, edit: all, create: true}}
  boss:
    objects: {"*": {read: all, edit: all}}
    permissions: [approve]
"""


def test_rules_see_the_plaintext_of_records_they_read_back(write_config, db_url):
    from engine.runtime.workflow import approvals

    crm = Trellis.open(write_config(RULES, "rules.yaml"), db_url)
    try:
        crm.apply()
        with crm.directory() as d:
            d.add("boss", roles=["boss"])
            d.add("cleo", roles=["clerk"])
        with crm.session("cleo") as s:
            contact = s.create("contact", {"name": "Li Lei", "id_number": ID_NUMBER})
        with crm.session("cleo") as s:  # the `update` action reads the contact back from the table
            s.create("visit", {"contact": contact.id})
            assert s.get("contact", contact.id)["notes"] == f"seen {ID_NUMBER}"
        with crm.session("cleo") as s:
            request = s.update("contact", contact.id, {"name": "Li Leilei"}).pending_approval
        with crm.session("boss") as s:  # the decision's rule reads the record back too
            approvals.decide(s, request.id, "approve")
        with crm.session() as s:
            assert s.get("contact", contact.id)["checked"] is True
    finally:
        crm.close()

"""The duplicate finder (issue 14 §3): which records it groups (Chinese and English company names,
phone formats) and which near misses it leaves apart, oversized blocks skipped, "not a
duplicate" remembered across runs, merged records leaving their group, the worker running a
queued run, the CLI's exit codes, and what a user sees of records outside their scope.

Runs on SQLite, and on PostgreSQL when TRELLIS_TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from engine import Trellis
from engine.cli import main
from engine.runtime.jobs import worker
from engine.runtime.records.finder import finding, groups
from engine.runtime.security.permissions import PermissionDenied
from tests.conftest import fresh_database
from tests.templates import apply_fresh

CONFIG = """
trellis: 1
settings: {phone_region: CN}
objects:
  account:
    title: "{name}"
    fields:
      name: {type: text, required: true}
      phone: {type: phone}
    duplicates:
      - name: same_company
        match:
          - {field: name, method: company_name, threshold: 0.88}
          - {field: phone, method: phone}
        any: true
  contact:
    title: "{name}"
    fields:
      name: {type: text, required: true}
      email: {type: email}
    duplicates:
      - name: same_email
        match: [{field: email, method: email}]
        reveal: nothing
  note:
    fields:
      text: {type: text}
roles:
  rep:
    objects:
      account: {read: own, edit: own, create: true, delete: own, merge: true}
      contact: {read: own, edit: own, create: true, delete: own, merge: true}
  boss:
    objects:
      account: {read: all, edit: all, create: true, delete: all, merge: true}
      contact: {read: all, edit: all, create: true, delete: all, merge: true}
  phoneless:
    objects:
      account: {read: all, edit: all, merge: true}
    hidden: [account.phone]
  viewer:
    objects:
      account: {read: all}
"""

ACCOUNTS = [
    ("上海云帆软件科技有限公司", None),  # 0 ┐ the same company, Chinese variants
    ("云帆软件(上海)有限公司", None),  # 1 ┘
    ("Yunfan Software Shanghai", "138 0013 8000"),  # 2 ┐ by phone, however it was written
    ("Yunfan Trading", "+86-13800138000"),  # 3 ┘
    ("上海云帆物流有限公司", None),  # 4 near miss: another business of the same brand
    ("北京星辰贸易有限公司", None),  # 5 near miss: another brand
    ("Northwind Traders Inc.", None),  # 6 ┐
    ("Northwind Traders, Ltd", None),  # 7 ┘
    ("Northwind Logistics", None),  # 8 near miss
]


@pytest.fixture(scope="module")
def where(tmp_path_factory):
    folder = tmp_path_factory.mktemp("finder")
    path = folder / "config.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    urls = fresh_database(folder)
    yield path, next(urls)
    next(urls, None)


@pytest.fixture(scope="module")
def crm(where):
    path, url = where
    crm = Trellis.open(path, url)
    apply_fresh(crm)
    with crm.directory() as d:
        d.add("rita", roles=["rep"], display_name="Rita Chen")
        d.add("sam", roles=["rep"], display_name="Sam Li")
        d.add("bo", roles=["boss"])
        d.add("pat", roles=["phoneless"])
        d.add("vic", roles=["viewer"])
    yield crm
    crm.close()


@pytest.fixture
def ids(crm):
    """The accounts above (owned by rita, but 1 and 7 by sam); their ids in that order."""
    made = []
    with crm.session() as s:
        rita, sam = _user(s, "rita"), _user(s, "sam")
        for i, (name, phone) in enumerate(ACCOUNTS):
            owner = sam if i in (1, 7) else rita
            made.append(s.create("account", {"name": name, "phone": phone, "owner_id": owner}, allow_duplicate=True).id)
    yield made
    with crm.session() as s:
        for name in ("sys_dup_pairs", "sys_dup_members", "sys_dup_groups", "sys_dup_dismissed", "sys_dup_runs"):
            s.connection.execute(sa.delete(crm.schema.system[name]))
        for name in ("account", "contact"):
            s.connection.execute(sa.delete(crm.schema.table(name)))
        s.connection.execute(sa.delete(crm.schema.system["sys_dup_keys"]))


def _groups(crm, user="bo", object_name="account"):
    with crm.session(user) as s:
        return groups.page(s, object_name).items


def _sets(found):
    return sorted(sorted(m.record_id for m in g.members) for g in found)


def test_the_finder_groups_variants_and_leaves_near_misses_apart(crm, ids):
    found = finding.find(crm, "account")
    assert (found.groups, found.duplicates, found.records) == (3, 6, len(ACCOUNTS))
    shown = _groups(crm)
    assert _sets(shown) == sorted([[ids[0], ids[1]], [ids[2], ids[3]], [ids[6], ids[7]]])
    by_phone = next(g for g in shown if ids[2] in g.readable)
    assert all(m.matched == ("phone",) and m.score == 1.0 for m in by_phone.members)
    chinese = next(g for g in shown if ids[0] in g.readable)
    assert chinese.members[0].title in ("上海云帆软件科技有限公司", "云帆软件(上海)有限公司")
    with crm.session("bo") as s:
        assert groups.page(s, "account", order="score").items[0].score <= shown[0].score


def test_oversized_blocks_are_skipped_and_counted(crm, ids):
    found = finding.find(crm, "account", max_block=2)
    assert found.skipped_blocks > 0  # "northwind", "traders", 云帆… are shared by three records
    assert found.groups >= 1  # the phone key is shared by two records only: still compared


def test_not_a_duplicate_is_remembered_and_a_merge_removes_the_group(crm, ids):
    finding.find(crm, "account")
    group = next(g for g in _groups(crm) if ids[6] in g.readable)
    with crm.session("bo") as s:
        assert groups.dismiss(s, "account", group.id, ids[6], whole=False) == 1
    assert not any(ids[6] in g.readable for g in _groups(crm))
    finding.find(crm, "account")  # a new run does not propose the pair again
    assert not any(ids[6] in g.readable for g in _groups(crm))
    assert len(_groups(crm)) == 2

    with crm.session("bo") as s:
        s.merge("account", ids[0], [ids[1]])
    assert not any(ids[0] in g.readable for g in _groups(crm))


def test_the_worker_runs_a_queued_search(crm, ids):
    with crm.session("bo") as s:
        run = finding.queue(s, "account")
        assert run.status == "queued" and finding.queue(s, "account").id == run.id  # not twice
    with crm.session("bo") as s:
        assert groups.page(s, "account").run.status == "queued"
    report = worker.run_once(crm)
    assert report.finder_runs == 1
    with crm.session("bo") as s:
        page = groups.page(s, "account")
    assert page.run.status == "done" and page.run.groups == 3 and page.total == 3


def test_what_a_user_sees_of_records_outside_their_scope(crm, ids):
    with crm.session() as s:
        a = s.create("contact", {"name": "张伟", "email": "zhang.wei@gmail.com", "owner_id": _user(s, "rita")})
        b = s.create(
            "contact",
            {"name": "Wei Zhang", "email": "zhangwei+crm@gmail.com", "owner_id": _user(s, "sam")},
            allow_duplicate=True,
        )
    finding.find(crm, "account")
    finding.find(crm, "contact")
    rita = _groups(crm, "rita")
    chinese = next(g for g in rita if ids[0] in g.readable)
    hidden = [m for m in chinese.members if m.record_id is None]
    assert len(hidden) == 1 and hidden[0].owner == "Sam Li" and hidden[0].title is None and hidden[0].matched == ()
    assert not any(ids[7] in g.readable for g in rita) and len(rita) == 3  # sam's Northwind by its owner only
    assert _sets(_groups(crm, "bo", "contact")) == [sorted([a.id, b.id])]
    assert _groups(crm, "rita", "contact") == []  # reveal: nothing — sam's contact does not count
    with crm.session("vic") as s, pytest.raises(PermissionDenied):
        groups.page(s, "account")
    with crm.session("vic") as s, pytest.raises(PermissionDenied):
        finding.queue(s, "account")


def test_a_criterion_on_a_hidden_field_joins_nothing_for_that_user(crm, ids):
    finding.find(crm, "account")
    assert not any(ids[2] in g.readable for g in _groups(crm, "pat"))  # joined by the phone only
    assert len(_groups(crm, "pat")) == 2


def test_the_cli_finds_and_says_what_is_wrong(crm, ids, where):
    path, url = where
    runner = CliRunner()
    done = runner.invoke(main, ["duplicates", "find", str(path), "account", "--db", url])
    assert done.exit_code == 0, done.output
    assert "3 groups of likely duplicates (6 records) among 9 account records" in done.output
    unknown = runner.invoke(main, ["duplicates", "find", str(path), "acount", "--db", url])
    assert unknown.exit_code == 1 and "unknown object 'acount'" in unknown.output
    none = runner.invoke(main, ["duplicates", "find", str(path), "note", "--db", url])
    assert none.exit_code == 1 and "note declares no duplicate rules" in none.output
    rule = runner.invoke(main, ["duplicates", "find", str(path), "account", "--rule", "same_compny", "--db", url])
    assert rule.exit_code == 1 and "no duplicate rule 'same_compny'" in rule.output and "same_company" in rule.output


def _user(session, name):
    users = session.schema.system["sys_users"]
    return session.connection.execute(sa.select(users.c.id).where(users.c.username == name)).scalar_one()


def test_a_group_that_held_through_a_dismissed_record_splits(crm, ids):
    with crm.session() as s:
        a = s.create("account", {"name": "Acme Widgets", "phone": "13900139000"}).id
        b = s.create("account", {"name": "Globex", "phone": "+86 139 0013 9000"}, allow_duplicate=True).id
        c = s.create("account", {"name": "Globex Ltd."}, allow_duplicate=True).id
    finding.find(crm, "account")
    chain = next(g for g in _groups(crm) if a in g.readable)
    assert sorted(chain.readable) == [a, b, c]  # a–b by phone, b–c by name
    with crm.session("bo") as s:
        assert groups.dismiss(s, "account", chain.id, a, whole=False) == 2  # a–b and a–c: a is none of theirs
    assert [sorted(g.readable) for g in _groups(crm) if b in g.readable] == [[b, c]]
    with crm.session("bo") as s:
        left = next(g for g in groups.page(s, "account").items if b in g.readable)
        assert groups.dismiss(s, "account", left.id, c, whole=True) == 1
    assert not any(b in g.readable for g in _groups(crm))

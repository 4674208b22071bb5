"""A list page's rows are written in Python with each column's cells worked out once per app and
config (``webui.ui.list_rows``), and the login check's read is the list's transaction too
(``Runtime.shared_read``, issue 18 §6): what a user sees must not change — labels of this config
in the user's language, links, escaping, local dates and money — and nothing may stay open."""

from __future__ import annotations

import re
from decimal import Decimal

import sqlalchemy as sa

from engine import Trellis
from tests.webui.conftest import client_for, make_app, text

CONFIG = """
trellis: 1
settings: {languages: [en, zh], timezone: Asia/Shanghai, currency: CNY}
objects:
  account:
    title: "{name}"
    fields:
      name: {type: text, required: true}
  deal:
    title: "{name}"
    list: {columns: [name, account, stage, amount, close_date, owner_id]}
    fields:
      name: {type: text, required: true}
      account: {type: lookup, object: account}
      stage: {type: picklist, label: {en: Stage, zh: 阶段}, values: [{key: open, label: {en: Open, zh: 进行中}}, lost]}
      amount: {type: currency}
      close_date: {type: date}
roles:
  rep:
    objects:
      account: {read: all}
      deal: {read: own, edit: own, create: true}
"""
USERS = {
    "ann": {"roles": ["rep"], "display_name": "Ann <A&B>", "locale": "en_US"},
    "li": {"roles": ["rep"], "display_name": "Li", "locale": "zh_CN"},
}


def _seed(crm: Trellis) -> int:
    with crm.session() as session:
        account = session.create("account", {"name": "Acme & <Sons>"}).id
    for user in USERS:
        with crm.session(user) as session:
            session.create(
                "deal",
                {
                    "name": f"<b>{user}'s deal</b>",
                    "account": account,
                    "stage": "open",
                    "amount": Decimal("1234.5"),
                    "close_date": "2026-04-01",
                },
            )
    return account


def _cells(page: str) -> list[str]:
    """The cells of the list's first row, as HTML."""
    row = re.search(r"<tbody>\s*<tr>(.*?)</tr>", page, re.S)
    assert row, page
    return [re.sub(r"\s+", " ", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row.group(1), re.S)]


def test_repfast_list_rows_show_this_configs_labels_in_each_users_language_links_and_escaping(
    open_crm, write_config, db_url, clock
):
    crm = open_crm(CONFIG, USERS)
    account = _seed(crm)
    app = make_app(crm)
    ann, li = client_for(app, "ann"), client_for(app, "li")
    page = text(ann.get("/o/deal"))
    deal = re.search(r'<a href="/o/deal/(\d+)">', page)
    assert deal
    assert _cells(page) == [
        f'<a href="/o/deal/{deal.group(1)}">&lt;b&gt;ann&#39;s deal&lt;/b&gt;</a>',
        f'<a href="/o/account/{account}">Acme &amp; &lt;Sons&gt;</a>',
        "Open",
        "CN¥1,234.50",
        "2026-04-01",
        "Ann &lt;A&amp;B&gt;",
    ]
    assert '<td data-label="Stage">' in page and "li&#39;s deal" not in page
    zh = text(li.get("/o/deal"))
    assert re.search(r'<td data-label="阶段">\s*进行中\s*</td>', zh) and "ann&#39;s deal" not in zh

    # Another config of the same objects, in the same process (a new version: new labels):
    # its app shows its own labels, never the first app's columns.
    relabelled = CONFIG.replace("{en: Stage, zh: 阶段}", "{en: Phase, zh: 阶段二}").replace(
        "{en: Open, zh: 进行中}", "{en: Active, zh: 活跃}"
    )
    other = Trellis.open(write_config(relabelled, "relabelled.yaml"), db_url, clock=clock)
    try:
        other.apply()
        ann_again = client_for(make_app(other), "ann")
        page = text(ann_again.get("/o/deal"))
        assert re.search(r'<td data-label="Phase">\s*Active\s*</td>', page) and "Stage" not in page
        first = text(ann.get("/o/deal"))  # the first app: its own labels still
        assert re.search(r'<td data-label="Stage">\s*Open\s*</td>', first) and "Phase" not in first
    finally:
        other.close()


def test_repfast_a_list_request_is_one_transaction_and_leaves_no_connection_open(open_crm):
    crm = open_crm(CONFIG, USERS)
    _seed(crm)
    ann = client_for(make_app(crm), "ann")
    checkouts: list[object] = []

    def checkout(*args: object) -> None:
        checkouts.append(args)

    sa.event.listen(crm.engine, "checkout", checkout)
    try:
        listed = ann.get("/o/deal")
        listed_with = len(checkouts)
        missing = ann.get("/o/nothing")  # refused inside the read: the shared read still ends
    finally:
        sa.event.remove(crm.engine, "checkout", checkout)
    assert listed.status_code == 200 and "ann&#39;s deal" in text(listed)
    assert missing.status_code == 404
    assert listed_with == 1  # one connection, one transaction: the login check's and the page's reads
    assert crm.engine.pool.checkedout() == 0
    with crm.session("ann") as session:  # and writing goes on as before
        session.create("deal", {"name": "after"})
    assert "after" in text(ann.get("/o/deal"))

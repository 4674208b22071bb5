"""The list's export, CSV and Excel, reads as people read it (issues 11 and 13), on SQLite and PostgreSQL.

Headers are the field labels in the exporting user's language (the first column is the id);
picklists show their labels, lookups the linked record's title — only when the user may read
that record, else ``#id`` as on the list page —, users their display names, dates in
``settings.date_format``, date-times in the company time zone, booleans Yes/No (是/否) and
numbers plain, for a spreadsheet to compute on.
"""

from __future__ import annotations

import csv
import datetime as dt
import io

import openpyxl
import pytest

from tests.webui.conftest import PASSWORD, post, text

CONFIG = """
trellis: 1
settings:
  languages: [en, zh]
  timezone: Asia/Shanghai
  currency: CNY
  date_format: DD/MM/YYYY
objects:
  account:
    label: {en: Account, zh: 客户}
    plural_label: {en: Accounts, zh: 客户}
    title: "{name}"
    fields:
      name: {type: text, required: true, label: {en: Name, zh: 名称}}
  vault:
    label: {en: Vault, zh: 保险库}
    plural_label: {en: Vaults, zh: 保险库}
    title: "{name}"
    fields:
      name: {type: text, required: true, label: {en: Name, zh: 名称}}
  deal:
    label: {en: Deal, zh: 商机}
    plural_label: {en: Deals, zh: 商机}
    title: "{name}"
    fields:
      name: {type: text, required: true, label: {en: Name, zh: 名称}}
      stage:
        type: picklist
        label: {en: Stage, zh: 阶段}
        values:
          - {key: quote, label: {en: Quote, zh: 报价}}
          - {key: won, label: {en: Won, zh: 赢单}}
      channels:
        type: multipicklist
        label: {en: Channels, zh: 渠道}
        values:
          - {key: web, label: {en: Web, zh: 网站}}
          - {key: phone, label: {en: Phone, zh: 电话}}
      account: {type: lookup, object: account, label: {en: Account, zh: 客户}}
      other_account: {type: lookup, object: account, label: {en: Other account, zh: 其他客户}}
      vault: {type: lookup, object: vault, label: {en: Vault, zh: 保险库}}
      reviewer: {type: user, label: {en: Reviewer, zh: 审核人}}
      closes_on: {type: date, label: {en: Closes on, zh: 结束日期}}
      met_at: {type: datetime, label: {en: Met at, zh: 会面时间}}
      amount: {type: currency, label: {en: Amount, zh: 金额}}
      hot: {type: boolean, label: {en: Hot, zh: 热门}}
      margin: {type: text, label: {en: Margin, zh: 毛利}}
roles:
  exporter:
    objects:
      deal: {read: all, export: true}
      account: {read: own, edit: own, create: true}
    hidden: [deal.margin]
  admin:
    objects:
      "*": {read: all, edit: all, delete: all, create: true, export: true}
"""

USERS = {
    "erin": {"roles": ["exporter"], "display_name": "Erin Export"},
    "ross": {"roles": ["admin"], "display_name": "Ross Review"},
}


@pytest.fixture
def crm(open_crm):
    return open_crm(CONFIG, USERS)


@pytest.fixture
def deal(crm):
    """A deal by Ross pointing at Erin's account, Ross's account (Erin may not read it) and a
    vault (Erin may read none)."""
    with crm.session(user="erin") as s:
        mine = s.create("account", {"name": "Erin Corp"})
    with crm.session(user="ross") as s:
        other = s.create("account", {"name": "Hidden Corp"})
        vault = s.create("vault", {"name": "Vault Secret"})
        ross = s.principal.user_id
        return (
            s.create(
                "deal",
                {
                    "name": "Big deal",
                    "stage": "quote",
                    "channels": ["web", "phone"],
                    "account": mine.id,
                    "other_account": other.id,
                    "vault": vault.id,
                    "reviewer": ross,
                    "closes_on": dt.date(2026, 4, 5),
                    "met_at": dt.datetime(2026, 3, 2, 17, 30, tzinfo=dt.UTC),
                    "amount": "1234567.5",
                    "hot": True,
                    "margin": "=secret margin",
                },
            ),
            other,
            vault,
        )


def download(client, lang: str, path: str = "/o/deal/export.csv"):
    """The export at ``path`` in ``lang``, after re-confirming the password (S37) unless that was
    done a moment ago."""
    post(client, "/lang", {"lang": lang, "next": "/o/deal"}, form_url="/o/deal")
    response = client.get(path)
    if response.status_code == 302:  # S37: the password again first
        assert response.headers["Location"].startswith("/account/confirm")
        post(client, response.headers["Location"], {"password": PASSWORD})
        response = client.get(path)
    assert response.status_code == 200, text(response)
    return response


def export(client, lang: str) -> list[dict[str, str]]:
    response = download(client, lang)
    assert response.mimetype == "text/csv"
    body = text(response)
    assert body.startswith("\ufeff")  # Excel reads UTF-8 with the BOM
    return list(csv.DictReader(io.StringIO(body.lstrip("\ufeff"))))


def test_the_export_reads_as_people_read_it_in_english(login, client, deal):
    record, other, vault = deal
    login("erin")
    [row] = export(client, "en")
    assert list(row) == [
        "ID",
        "Name",
        "Stage",
        "Channels",
        "Account",
        "Other account",
        "Vault",
        "Reviewer",
        "Closes on",
        "Met at",
        "Amount",
        "Hot",
        "Owner",
        "Created",
        "Updated",
    ]
    assert row["ID"] == str(record.id)
    assert row["Stage"] == "Quote" and row["Channels"] == "Web, Phone"
    assert row["Account"] == "Erin Corp"  # a record Erin may read: its title
    assert row["Other account"] == f"#{other.id}" and row["Vault"] == f"#{vault.id}"  # never the title
    assert row["Reviewer"] == "Ross Review" and row["Owner"] == "Ross Review"
    assert row["Closes on"] == "05/04/2026"  # settings.date_format
    assert row["Met at"] == "03/03/2026 01:30"  # 17:30 UTC is 01:30 the next day in Shanghai
    assert row["Amount"] == "1234567.50"  # a number a spreadsheet computes on: no separator, no sign
    assert row["Hot"] == "Yes"
    assert row["Created"] == "02/03/2026 17:00"  # the test clock: 09:00 UTC
    assert "Margin" not in row and "secret margin" not in "".join(row.values())  # hidden: never exported


def test_the_export_is_in_the_users_language(login, client, deal):
    record, other, vault = deal
    login("erin")
    [row] = export(client, "zh")
    assert list(row) == [
        "编号",
        "名称",
        "阶段",
        "渠道",
        "客户",
        "其他客户",
        "保险库",
        "审核人",
        "结束日期",
        "会面时间",
        "金额",
        "热门",
        "负责人",
        "创建时间",
        "更新时间",
    ]
    assert row["编号"] == str(record.id)
    assert row["阶段"] == "报价" and row["渠道"] == "网站, 电话"
    assert row["客户"] == "Erin Corp" and row["其他客户"] == f"#{other.id}" and row["保险库"] == f"#{vault.id}"
    assert row["审核人"] == "Ross Review" and row["会面时间"] == "03/03/2026 01:30"
    assert row["金额"] == "1234567.50" and row["热门"] == "是"


def test_titles_and_formulas_in_the_export_are_neutralised(login, client, crm, deal):
    with crm.session(user="erin") as s:
        hostile = s.create("account", {"name": '=HYPERLINK("http://x")'})
    with crm.session(user="ross") as s:
        s.create("deal", {"name": "@deal", "account": hostile.id, "amount": "-5", "hot": False})
    login("erin")
    rows = {row["Name"]: row for row in export(client, "en")}
    assert rows["'@deal"]["Account"] == '\'=HYPERLINK("http://x")'
    assert rows["'@deal"]["Amount"] == "-5.00" and rows["'@deal"]["Hot"] == "No"  # numbers are data


def test_the_list_offers_excel_and_the_keys_row_and_excel_has_typed_cells(login, client, deal):
    record, other, vault = deal
    login("erin")
    page = text(client.get("/o/deal?stage=quote"))
    assert 'href="/o/deal/export.xlsx?stage=quote"' in page and "Export Excel" in page
    assert 'href="/o/deal/export.csv?_keys=1&amp;stage=quote"' in page
    response = download(client, "en", "/o/deal/export.xlsx?stage=quote&_keys=1")
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert response.headers["Content-Disposition"] == "attachment; filename=deal.xlsx"
    sheet = openpyxl.load_workbook(io.BytesIO(response.get_data())).active
    labels, keys, row = ([c.value for c in r] for r in sheet.iter_rows(max_row=3))
    assert sheet.freeze_panes == "A3" and sheet.max_row == 3  # two header rows, one deal
    assert keys[:3] == ["id", "name", "stage"] and "margin" not in keys and "Margin" not in labels
    cells = dict(zip(keys, row, strict=True))
    assert cells["id"] == record.id and cells["amount"] == 1234567.5  # numbers, not text
    assert cells["closes_on"] == dt.datetime(2026, 4, 5) and cells["met_at"] == dt.datetime(2026, 3, 3, 1, 30)
    assert (cells["stage"], cells["account"], cells["other_account"]) == ("Quote", "Erin Corp", f"#{other.id}")
    assert (cells["reviewer"], cells["hot"]) == ("Ross Review", "Yes")
    lines = text(download(client, "zh", "/o/deal/export.csv?_keys=1")).lstrip("\ufeff").splitlines()
    assert lines[0].startswith("编号,名称,阶段") and lines[1].startswith("id,name,stage,channels,account")

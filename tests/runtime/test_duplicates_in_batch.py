"""Duplicate rules over rows of one batch (issue 14 §2): a ``create_many`` call, an import file or a
bulk request holding the same company twice warns or blocks on the later row, naming the earlier
row; rows of an earlier chunk or batch are found as records; too common keys do not crowd out the
rare ones.

Runs on SQLite, and on PostgreSQL when TRELLIS_TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import csv

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from engine import Trellis
from engine.cli import main
from engine.runtime.messages import speaking
from engine.runtime.records import duplicates
from engine.runtime.records.duplicates import DuplicateBlocked, PossibleDuplicate, renumber
from tests.conftest import fresh_database
from tests.templates import apply_fresh

CONFIG = """
trellis: 1
settings: {phone_region: CN}
objects:
  account:
    label: {en: Account, zh: 客户}
    title: "{name}"
    fields:
      name: {type: text, required: true, label: {en: Name, zh: 名称}}
      credit_code: {type: text}
    duplicates:
      - name: same_company
        match:
          - {field: name, method: company_name}
          - {field: credit_code, method: exact}
        any: true
  contact:
    title: "{name}"
    fields:
      name: {type: text, required: true, label: {en: Name, zh: 姓名}}
      phone: {type: phone, label: {en: Mobile, zh: 手机}}
    duplicates:
      - name: same_mobile
        match: [{field: phone, method: phone}]
        action: block
roles:
  rep:
    objects:
      account: {read: own, edit: own, create: true, import: true}
      contact: {read: own, edit: own, create: true, import: true}
"""


@pytest.fixture(scope="module")
def where(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dupbatch")
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
    yield crm
    crm.close()


@pytest.fixture
def clean(crm):
    yield
    with crm.session() as s:
        for name in ("account", "contact"):
            s.connection.execute(sa.delete(crm.schema.table(name)))
        s.connection.execute(sa.delete(crm.schema.system["sys_dup_keys"]))


def test_a_warn_rule_flags_the_later_row_of_a_batch_naming_the_earlier_one(crm, clean):
    rows = [
        {"name": "上海云帆软件科技有限公司"},
        {"name": "Acme Trading Co., Ltd."},
        {"name": "云帆软件（上海）有限公司"},  # row 0 written differently
        {"name": "ACME Trading Inc."},  # row 1 written differently
        {"name": "星辰网络有限公司"},
    ]
    with crm.session("rita") as s:
        results = s.create_many("account", rows, on_error="collect")
    assert [type(r).__name__ for r in results] == [
        "Record",
        "Record",
        "PossibleDuplicate",
        "PossibleDuplicate",
        "Record",
    ]
    (first,) = results[2].candidates
    assert (first.row, first.record_id, first.title, first.owner, first.score) == (
        0,
        None,
        "上海云帆软件科技有限公司",
        "Rita Chen",
        1.0,
    )
    assert results[3].index == 3 and results[3].candidates[0].as_dict()["row"] == 1
    with crm.session("rita") as s:  # the override writes both rows of a new batch
        again = s.create_many("account", [rows[4], {"name": "星辰网络(上海)有限公司"}], allow_duplicate=True)
    assert all(r.id for r in again)


def test_a_block_rule_refuses_the_later_row_in_english_and_chinese(crm, clean):
    rows = [{"name": "Wang", "phone": "138 0013 8000"}, {"name": "Wang Wei", "phone": "+86-13800138000"}]
    with crm.session("rita") as s:
        results = s.create_many("contact", rows, on_error="collect", allow_duplicate=True)
    assert results[0].id and isinstance(results[1], DuplicateBlocked)
    (problem,) = results[1].errors["phone"]
    assert (problem.code, problem.message) == ("duplicate_row", "Row 1 of this batch already has this Mobile.")
    with speaking("zh"), crm.session("rita") as s:
        again = [{"name": "李娜", "phone": "13700137000"}, {"name": "李 娜", "phone": "137 0013 7000"}]
        chinese = s.create_many("contact", again, on_error="collect")
        assert chinese[1].errors["phone"][0].message == "本批第 1 行已有相同的手机。"
        twice = s.create_many("contact", rows[::-1], on_error="collect")  # both meet the stored Wang …
        assert [c.record_id for c in twice[1].candidates] == [results[0].id]  # … not the refused row above
    renumber(results[1], [7, 9])  # a bulk request's creates were items 7 and 9
    assert results[1].candidates[0].row == 7
    assert results[1].errors["phone"][0].message == "Row 8 of this batch already has this Mobile."


def test_rows_of_an_earlier_chunk_are_found_as_records(crm, clean):
    rows = [{"name": "Zhao", "phone": "13900139000"}, {"name": "Zhao Lei", "phone": "13900139000"}]
    with crm.session("rita") as s:
        results = s.create_many("contact", rows, on_error="collect", chunk_size=1)
    assert isinstance(results[1], DuplicateBlocked)
    assert results[1].candidates[0].record_id == results[0].id and results[1].candidates[0].row is None


def test_a_common_key_does_not_hide_the_rare_one(crm, clean, monkeypatch):
    monkeypatch.setattr(duplicates, "COMMON_KEY", 3)
    monkeypatch.setattr(duplicates, "MAX_CANDIDATES", 3)
    filler = [{"name": f"{brand}软件有限公司"} for brand in ("甲乙", "丙丁", "戊己", "庚辛", "壬癸", "子丑")]
    with crm.session("rita") as s:
        bare = s.create("account", {"name": "软件有限公司"})  # its one key, 软件, is shared by all below
        s.create_many("account", filler, allow_duplicate=True)
        target = s.create("account", {"name": "云帆软件有限公司"})
    with pytest.raises(PossibleDuplicate) as caught, crm.session("rita") as s:
        s.create("account", {"name": "云帆软件（北京）股份有限公司"})  # 云帆 and 帆软 are rare: 软件 is left out
    assert [c.record_id for c in caught.value.candidates] == [target.id]
    with pytest.raises(PossibleDuplicate) as common, crm.session("rita") as s:
        s.create("account", {"name": "软件股份有限公司"})  # nothing but a common key: its first holders are scored
    assert [c.record_id for c in common.value.candidates] == [bare.id]


def _csv(path, header, rows):
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_an_import_names_the_row_of_the_file_it_repeats(crm, clean, where, tmp_path):
    config, url = where
    data = _csv(
        tmp_path / "accounts.csv",
        ["name"],
        [["上海云帆软件科技有限公司"], ["Acme Trading Co., Ltd."], ["云帆软件(上海)有限公司"], ["ACME TRADING INC"]],
    )
    runner = CliRunner()
    base = ["import", str(config), "account", str(data), "--db", url, "--as", "rita"]
    for batch in ("1000", "1"):  # the earlier row in the same batch, and in an earlier batch
        errors = tmp_path / f"errors_{batch}.csv"
        dry = runner.invoke(main, [*base, "--dry-run", "--batch", batch, "--errors", str(errors)])
        assert dry.exit_code == 1, dry.output
        assert "row 4: probably a duplicate of row 2 of this file (上海云帆软件科技有限公司)" in dry.output
        assert "row 5: probably a duplicate of row 3 of this file (Acme Trading Co., Ltd.)" in dry.output
        assert "row 2 of this file" in errors.read_text(encoding="utf-8-sig")
    zh = runner.invoke(main, [*base, "--dry-run", "--language", "zh"])
    assert "可能与 本文件第 2 行（上海云帆软件科技有限公司） 重复" in zh.output, zh.output
    skipped = runner.invoke(main, [*base, "--on-duplicate", "skip", "--batch", "1"])
    assert "4 rows read, 2 created, 0 updated, 2 skipped" in skipped.output, skipped.output


def test_an_import_refused_by_a_block_rule_names_the_row_and_the_column(crm, clean, where, tmp_path):
    config, url = where
    data = _csv(tmp_path / "contacts.csv", ["姓名", "手机"], [["王伟", "138 0013 8000"], ["王 伟", "+86 13800138000"]])
    result = CliRunner().invoke(
        main, ["import", str(config), "contact", str(data), "--db", url, "--as", "rita", "--language", "zh"]
    )
    assert result.exit_code == 1
    assert "手机：与本文件第 2 行（王伟）相同" in result.output, result.output

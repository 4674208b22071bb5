"""The import wizard in a real browser (Playwright + Debian's Chromium), on configs/sample_saas.yaml
as adam (the administrator: the only demo role with the `import` grant), with the sample files:

- configs/samples/saas/accounts_gbk.csv (GBK, Chinese headers, five bad rows): the map page says
  how the file was read, pre-selects every field and offers an option for 旅游业 (no industry);
  the dry run, run by the worker, shows the bad rows with their reasons while the page polls its
  progress; the error file downloads; "Import" creates the good rows; the link lists them; the
  history lists both jobs;
- configs/samples/saas/deals.xlsx in the Chinese UI: the sheet, the dry run, the import and its
  counts in Chinese.

``imports.work`` plays ``trellis worker``: the web server never runs a job. Screenshots for
docs/user-guide.md: import-map, import-result.
"""

from __future__ import annotations

from pathlib import Path

from engine.runtime import imports
from engine.runtime.imports import ImportOptions
from tests.conftest import ROOT

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips (or, in CI, fails) with the reason
    expect = None

SAMPLES = ROOT / "configs" / "samples" / "saas"


def test_import_gbk_accounts_through_a_dry_run(page, login, live_server, screenshot):
    login(page, "adam")
    page.goto("/o/account")
    page.get_by_role("link", name="Import", exact=True).click()
    page.get_by_label("File", exact=True).set_input_files(str(SAMPLES / "accounts_gbk.csv"))
    page.get_by_role("button", name="Upload and map columns").click()

    expect(page.locator(".import-read")).to_contain_text("Read as CSV, GB18030 (GBK)")
    industry = page.locator("tr.import-column", has_text="所属行业")
    expect(industry).to_contain_text("IT互联网")  # sample values
    expect(industry.locator("select").first).to_have_value("industry")  # pre-selected by its label
    expect(page.get_by_label("Goes into", exact=True)).to_have_count(0)  # each select is labelled by its column
    expect(page.get_by_label("统一社会信用代码")).to_have_value("credit_code")
    page.get_by_label("“旅游业” (1 row)").select_option(label="Other")
    screenshot(page, "import-map", full_page=True)
    page.get_by_role("button", name="Check (dry run)").click()

    expect(page.locator("[data-import-status]")).to_have_text("Waiting to start")
    imports.work(live_server.crm, seconds=None)  # the worker; the page's script sees the end and reloads
    expect(page.locator(".import-summary")).to_have_text(
        "Dry run, nothing was changed: 9 rows read; would create 5, update 0, skip 0, hold 0 for approval, fail 4."
    )
    failed = page.locator("#failures tbody tr")
    expect(failed).to_have_count(4)
    expect(failed.nth(0)).to_contain_text("统一社会信用代码: A unified social credit code has 18 characters")
    expect(failed.nth(1)).to_contain_text("电话: '12345' is not a valid phone number in CN")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download the failed rows (CSV)").click()
    errors = Path(download.value.path()).read_text(encoding="utf-8-sig").splitlines()
    assert errors[0].startswith("客户名称,统一社会信用代码,") and errors[0].endswith(",Import error")
    assert len(errors) == 5 and "12345" in errors[2]
    assert live_server.count("account", name="西安古城文旅集团有限公司") == 0  # a dry run changes nothing

    page.get_by_role("button", name="Import the 5 rows that pass").click()
    imports.work(live_server.crm, seconds=None)
    expect(page.locator(".import-summary")).to_have_text(
        "9 rows read: 5 created, 0 updated, 0 skipped, 0 waiting for approval, 4 failed."
    )
    screenshot(page, "import-result")
    page.get_by_role("link", name="See the records created").click()
    expect(page.locator("table.records tbody tr")).to_have_count(5)
    expect(page.locator("table.records")).to_contain_text("西安古城文旅集团有限公司")  # 旅游业 → Other
    assert live_server.count("account", name="西安古城文旅集团有限公司", industry="other") == 1

    page.goto("/o/account/imports")
    jobs = page.locator("table.import-history tbody tr")
    expect(jobs.nth(0)).to_contain_text("accounts_gbk.csv")
    expect(jobs.nth(0)).to_contain_text("Import")
    expect(jobs.nth(0)).to_contain_text("Adam Zhao")
    expect(jobs.nth(1)).to_contain_text("Dry run")


def test_import_deals_from_xlsx_in_chinese(page, login, live_server, switch_language):
    for object_name, sample in (("account", "accounts_gbk.csv"), ("contact", "contacts_en.csv")):
        job = imports.start(live_server.crm, object_name, SAMPLES / sample, ImportOptions())  # what deals name
        imports.run(live_server.crm, job.id)
    login(page, "adam")
    switch_language(page, "zh")
    page.goto("/o/opportunity")
    page.get_by_role("link", name="导入", exact=True).click()
    page.get_by_label("文件", exact=True).set_input_files(str(SAMPLES / "deals.xlsx"))
    page.get_by_role("button", name="上传并匹配列").click()
    expect(page.locator(".import-read")).to_contain_text("按 Excel 读取，工作表“商机”")
    expect(page.get_by_label("工作表")).to_have_value("商机")
    expect(page.get_by_label("客户", exact=True)).to_have_value("account")
    page.get_by_role("button", name="试导入检查").click()
    imports.work(live_server.crm, seconds=None)
    # adam is no system: deals created past the first stage need a reason (and approval) from him too
    expect(page.locator(".import-summary")).to_contain_text("将新建 2，更新 0，跳过 0，待审批 0，失败 6。")
    expect(page.locator("#failures")).to_contain_text("折扣率: 折扣率不得超过50%。")  # the worker wrote it in zh
    expect(page.locator("#failures")).to_contain_text("客户: 找不到客户 '不存在的公司'（按 name）")

    page.get_by_role("button", name="导入通过检查的 2 行").click()
    imports.work(live_server.crm, seconds=None)
    expect(page.locator(".import-summary")).to_have_text("共读取 8 行：新建 2，更新 0，跳过 0，待审批 0，失败 6。")
    page.get_by_role("link", name="导入历史").click()
    expect(page.locator("table.import-history tbody tr").first).to_contain_text("deals.xlsx")

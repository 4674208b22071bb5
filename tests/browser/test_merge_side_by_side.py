"""Merging duplicates in Chromium (issue 14 §4): Merge on the record page, the other record picked
by type-ahead, the two side by side with the survivor's values preselected, another value chosen,
the merged record page with "Undo merge" (in Chinese too), and the undo."""

from __future__ import annotations

CONFIG_OVERLAY = """
roles:
  sales_rep:
    objects:
      account: {read: own, edit: own, delete: own, create: true, merge: true}
"""


def test_merge_side_by_side_and_undo(page, login, live_server, switch_language, screenshot):
    survivor = live_server.create("account", {"name": "上海云帆软件科技有限公司", "industry": "internet"})
    other = live_server.create(
        "account", {"name": "Yunfan Software Shanghai", "industry": "manufacturing", "phone": "138 0013 8000"}
    )
    page.on("dialog", lambda dialog: dialog.accept())
    login(page, "alice")
    page.goto(f"/o/account/{survivor}")
    page.get_by_role("link", name="Merge").click()
    page.locator("#f-with").press_sequentially("Yunfan Soft")
    page.locator("#lk-with li", has_text="Yunfan Software Shanghai").click()
    page.get_by_role("button", name="Compare side by side").click()

    table = page.locator("table.merge-table")
    assert table.locator("thead th").nth(1).inner_text().startswith("上海云帆软件科技有限公司")
    industry = page.locator("#row-industry")
    assert industry.locator("td").nth(0).inner_text().strip() == "Internet"  # a label, not the key
    assert industry.locator("input[type=radio]").nth(0).is_checked()  # the survivor's value by default
    assert page.locator("#row-phone input[type=radio]").nth(1).is_checked()  # the survivor has none
    industry.locator("input[type=radio]").nth(1).check()
    screenshot(page, "merge-side-by-side")
    page.get_by_role("button", name="Merge", exact=True).click()

    page.wait_for_url(f"**/o/account/{survivor}")
    assert "Merged: 1 record(s)" in page.content()
    assert live_server.get("account", survivor)["industry"] == "manufacturing"
    assert live_server.get("account", other)["archived_at"] is not None
    page.goto(f"/o/account/{other}")
    with page.expect_navigation():
        page.get_by_role("link", name="上海云帆软件科技有限公司").click()  # "Merged into" links to the survivor
    switch_language(page, "zh")
    page.get_by_role("button", name="撤销合并").click()
    page.wait_for_url(f"**/o/account/{survivor}")
    assert "已撤销合并。" in page.content()
    assert live_server.get("account", survivor)["industry"] == "internet"
    assert live_server.get("account", other)["archived_at"] is None

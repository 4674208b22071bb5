"""The record form in Chromium at 1280 and 375 px, in English and Chinese: two columns
following the layout on desktop and one on a phone, Save in view without scrolling,
closing as lost asking first and then for the lost reason, and every problem of a save
in a summary whose links put the focus on their field."""

from __future__ import annotations

import pytest

SIZES = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 375, "height": 740}}
TEXTS = {
    "en": {
        "summary": "The record was not saved. Fix these problems:",
        "lost": "Close this record as Lost? You will be asked for the reason.",
        "discount": "A discount above 50 % is not allowed.",
    },
    "zh": {
        "summary": "记录未保存，请修正以下问题：",
        "lost": "确定将此记录关闭为“输单”吗？接下来请填写原因。",
        "discount": "折扣率不得超过50%。",
    },
}


@pytest.fixture(scope="module")
def deal(live_server):
    with live_server.crm.session(user="alice") as session:
        account = session.query("account").first()
    return live_server.create(
        "opportunity",
        {
            "name": "Form test deal",
            "account": account.id,
            "product_line": "crm_suite",
            "unit_price": "1200",
            "quantity": 50,
        },
    )


def box(page, selector):
    return page.locator(selector).first.bounding_box()


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_the_form_layout_the_lost_question_and_the_error_summary(
    new_page, login, switch_language, screenshot, deal, lang, size
):
    viewport = SIZES[size]
    page = new_page(viewport=viewport)
    login(page, "alice")
    if lang == "zh":
        switch_language(page, "zh")
    page.goto(f"/o/opportunity/{deal}/edit")
    # two columns on desktop, one on a phone, never wider than the window
    name, account = box(page, "#section-1 .field:nth-of-type(1)"), box(page, "#section-1 .field:nth-of-type(2)")
    if size == "desktop":
        assert abs(name["y"] - account["y"]) < 2 and account["x"] > name["x"] + name["width"] - 1
    else:
        assert account["y"] >= name["y"] + name["height"] - 1 and abs(account["x"] - name["x"]) < 2
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    # Save is in view without scrolling
    save = box(page, ".form-actions button.primary")
    assert save["y"] >= 0 and save["y"] + save["height"] <= viewport["height"]
    screenshot(page, f"form-{size}-{lang}")
    # choosing the lost stage asks; cancelled, the stage stays; confirmed, the reason is next
    stage = page.locator("#f-stage")
    before = stage.input_value()
    questions = []
    page.once("dialog", lambda dialog: (questions.append(dialog.message), dialog.dismiss()))
    stage.select_option("lost")
    assert questions == [TEXTS[lang]["lost"]] and stage.input_value() == before
    page.once("dialog", lambda dialog: dialog.accept())
    stage.select_option("lost")
    assert page.evaluate("document.activeElement.id") == "f-lost_reason"
    assert page.locator("input[name=confirm_lost]").count() == 1
    # a save with several problems: all in the summary, each link focusing its field
    page.locator("#f-name").fill("")
    page.locator("#f-discount").fill("60")
    with page.expect_navigation():
        page.locator(".form-actions button.primary").click()
    summary = page.locator(".error-summary")
    assert TEXTS[lang]["summary"] in summary.inner_text()
    links = summary.locator("a")
    targets = [links.nth(i).get_attribute("href") for i in range(links.count())]
    assert {"#f-name", "#f-discount", "#f-lost_reason"} <= set(targets)
    assert TEXTS[lang]["discount"] in summary.inner_text()
    assert page.evaluate("document.activeElement.id") == "err-_record"  # the summary is read first
    summary.locator("a[href='#f-discount']").click()
    assert page.evaluate("document.activeElement.id") == "f-discount"
    screenshot(page, f"form-errors-{size}-{lang}")

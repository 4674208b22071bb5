"""The page frame, lists and boards at 1280 px and 375 px, in English and Chinese (Playwright +
Debian's Chromium, configs/sample_saas.yaml):

- the header fits one row on a desktop; on a phone a menu button opens the navigation; the
  logo goes home;
- lists: the saved views wait in a menu; on a phone the filters fold behind "Filters" and the
  first record is on the first screen; counts have proper plurals ("1 record", "1 条记录");
- the board uses the full width, its columns scroll inside it (never the page), it switches
  between the new-business and the renewal pipeline; cards move with the compact "Move to…"
  menu and with ← / → on a focused card;
- a renewal's record page shows the renewal pipeline ("Renewal due … Renewed, Churned");
- the top bar's global search: "/" focuses it, suggestions appear as one types (a listbox,
  grouped by object), ↓ chooses one and Enter opens the record; at 375 px the box keeps a row
  of its own and its suggestions fit the screen.

Screenshots (scratch folder): layout-<width>-<lang>-{list,board,record}, search-<width>-suggestions.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips (or, in CI, fails) with the reason
    expect = None

TEXTS = {
    "en": {
        "menu": "Menu",
        "filters": "Filters",
        "views": "Saved views",
        "renewals": "Renewals",
        "renewed": "Renewed",
        "churned": "Churned",
        "due": "Renewal due",
        "quote": "Renewal quote sent",
        "one": "1 record",
        "move": "Move to…",
    },
    "zh": {
        "menu": "菜单",
        "filters": "筛选条件",
        "views": "已保存的视图",
        "renewals": "续费管道",
        "renewed": "已续费",
        "churned": "流失",
        "due": "待续费",
        "quote": "续费报价已发",
        "one": "1 条记录",
        "move": "移至…",
    },
}


def renewal(live_server, name: str) -> int:
    """A renewal deal of alice's (its own pipeline starts in Renewal due)."""
    account = live_server.create("account", {"name": f"{name} Ltd"}, user="alice")
    return live_server.create(
        "opportunity",
        {
            "name": name,
            "account": account,
            "product_line": "crm_suite",
            "deal_type": "renewal",
            "contract_end": "2027-06-30",
            "budget": "80000",
        },
        user="alice",
    )


def no_page_scroll(page: Any, width: int) -> None:
    """The page does not scroll sideways (names the elements that stick out if it does)."""
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    wide = page.evaluate(
        """w => [...document.querySelectorAll('body *')]
        .filter(e => e.getBoundingClientRect().right > w + 1 && !e.closest('#board'))
        .slice(0, 5).map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))""",
        width,
    )
    assert scroll_width <= width + 1, f"{page.url} scrolls sideways at {width} px: {scroll_width} ({wide})"


def header_overlaps(page: Any) -> list[str]:
    """Pairs of visible header items (logo, navigation links, tools, bell) that overlap."""
    return page.evaluate("""() => {
        const items = [...document.querySelectorAll(
            'header .brand, header nav a, header .tools > *, header .topbar-bell > *, header .menu-toggle')]
            .filter(e => e.offsetParent !== null).map(e => [e, e.getBoundingClientRect()]);
        const out = [];
        items.forEach(([a, r], i) => items.slice(i + 1).forEach(([b, q]) => {
            if (!a.contains(b) && !b.contains(a) && r.left < q.right - 1 && q.left < r.right - 1
                && r.top < q.bottom - 1 && q.top < r.bottom - 1) { out.push(a.textContent.trim() + ' / ' + b.textContent.trim()); }
        }));
        return out;
    }""")


def open_as(new_page, login, switch_language, lang: str, width: int) -> Any:
    phone = width < 600
    page = new_page(viewport={"width": width, "height": 812 if phone else 900}, is_mobile=phone, has_touch=phone)
    login(page, "alice")
    if lang != "en":
        switch_language(page, lang)
    return page


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_desktop_header_lists_board_and_renewal(new_page, login, switch_language, screenshot, live_server, lang):
    words = TEXTS[lang]
    deal = renewal(live_server, f"Desk Renewal {lang}")
    page = open_as(new_page, login, switch_language, lang, 1280)

    page.goto("/o/opportunity")
    header = page.locator("header.topbar")
    assert header.bounding_box()["height"] <= 60, "the header should fit one row at 1280 px"
    assert header_overlaps(page) == []
    expect(page.locator(".menu-toggle")).to_be_hidden()
    expect(header.locator("nav")).to_be_visible()
    expect(page.locator(".filter-toggle")).to_be_hidden()  # the filters are simply shown
    expect(page.locator("#q")).to_be_visible()
    menu = page.locator("details.saved-views-menu")
    expect(menu.locator(".save-view")).to_be_hidden()
    menu.locator("summary").click()
    expect(menu.locator("input[name=name]")).to_be_visible()
    page.locator("h1").click()  # a click elsewhere closes the menu
    expect(menu.locator("input[name=name]")).to_be_hidden()
    page.locator("#q").fill(f"Desk Renewal {lang}")
    with page.expect_navigation():
        page.locator("main form[role=search] button[type=submit]").click()
    expect(page.locator(".pager")).to_contain_text(words["one"])
    screenshot(page, f"layout-1280-{lang}-list")
    no_page_scroll(page, 1280)

    page.goto(f"/o/opportunity/{deal}")
    labels = page.locator(".stage-path .stage-label").all_inner_texts()
    assert labels == [words["due"], words["quote"], words["renewed"], words["churned"]]
    expect(page.locator("#stages-h")).to_have_text(words["renewals"])
    screenshot(page, f"layout-1280-{lang}-record")

    page.locator(".brand").click()
    page.wait_for_url(re.compile(r"/dashboards/my_work$"))  # the home page: a rep's home dashboard

    page.goto("/o/opportunity/board")
    switch = page.locator("nav.pipeline-switch")
    switch.get_by_role("link", name=words["renewals"]).click()
    page.wait_for_url(re.compile(r"pipeline=renewal"))
    expect(page.locator(f"#column-renewal_due #card-{deal}")).to_be_visible()
    board = page.locator("#board").bounding_box()
    assert board["width"] >= 1180, f"the board should use the full width, not {board['width']} px"
    expect(page.locator("#column-renewal_due .count")).to_have_text(re.compile(r"^\d"))
    screenshot(page, f"layout-1280-{lang}-board")
    no_page_scroll(page, 1280)

    card = page.locator(f"#card-{deal}")
    card.locator(".card-menu summary").click()
    expect(card.locator(".card-stages button")).to_have_text([words["quote"], words["renewed"], words["churned"]])
    page.keyboard.press("Escape")
    expect(card.locator(".card-stages")).to_be_hidden()
    card.focus()
    page.keyboard.press("ArrowRight")  # Renewal due → Renewal quote sent
    expect(page.locator("#board-status")).to_contain_text(words["quote"])
    expect(page.locator(f"#column-renewal_quote #card-{deal}")).to_be_visible()
    assert live_server.get("opportunity", deal, "alice")["stage"] == "renewal_quote"


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_phone_menu_folded_filters_and_board(new_page, login, switch_language, screenshot, live_server, lang):
    words = TEXTS[lang]
    deal = renewal(live_server, f"Phone Renewal {lang}")
    page = open_as(new_page, login, switch_language, lang, 375)

    page.goto("/o/opportunity")
    nav = page.locator("header.topbar nav")
    button = page.locator(".menu-toggle")
    expect(button).to_have_text(words["menu"])
    expect(nav).to_be_hidden()
    assert button.bounding_box()["y"] < 30, "the menu button should share the first row with the logo"
    button.click()
    expect(nav).to_be_visible()
    expect(button).to_have_attribute("aria-expanded", "true")
    screenshot(page, f"layout-375-{lang}-menu")
    assert header_overlaps(page) == []
    no_page_scroll(page, 375)
    button.click()
    expect(nav).to_be_hidden()

    toggle = page.locator(".filter-toggle")
    expect(toggle).to_have_text(words["filters"])
    expect(page.locator("#q")).to_be_hidden()
    first = page.locator("table.records a").first.bounding_box()
    assert first["y"] + first["height"] <= 812, "the first record should be on the first screen"
    screenshot(page, f"layout-375-{lang}-list")
    no_page_scroll(page, 375)
    toggle.click()
    expect(page.locator("#q")).to_be_visible()
    page.locator("details.saved-views-menu summary").click()
    expect(page.locator("details.saved-views-menu input[name=name]")).to_be_visible()
    no_page_scroll(page, 375)

    page.goto(f"/o/opportunity/{deal}")
    assert page.locator(".stage-path .stage-label").all_inner_texts() == [
        words["due"],
        words["quote"],
        words["renewed"],
        words["churned"],
    ]
    screenshot(page, f"layout-375-{lang}-record", full_page=True)
    no_page_scroll(page, 375)

    page.goto("/o/opportunity/board?pipeline=renewal")
    expect(page.locator(f"#column-renewal_due #card-{deal}")).to_be_visible()
    board = page.locator("#board")
    assert board.evaluate("b => b.scrollWidth > b.clientWidth"), "the columns should scroll inside the board"
    screenshot(page, f"layout-375-{lang}-board")
    no_page_scroll(page, 375)
    top = page.locator("#board").bounding_box()["y"]
    assert top < 812, "the board should start on the first screen"
    expect(page.locator(f"#card-{deal} .card-menu summary")).to_have_text(words["move"])


@pytest.mark.parametrize("width", [1280, 375])
def test_global_search_by_keyboard(new_page, login, screenshot, live_server, width):
    account = live_server.create("account", {"name": f"Zephyr Optics {width}"}, user="alice")
    page = open_as(new_page, login, None, "en", width)
    page.goto("/o/opportunity")
    box = page.get_by_role("combobox", name="Search all records")
    expect(box).to_be_visible()
    page.keyboard.press("/")
    expect(box).to_be_focused()
    box.press_sequentially(f"Zephyr Optics {width}", delay=20)
    listbox = page.get_by_role("listbox")
    expect(box).to_have_attribute("aria-expanded", "true")
    expect(listbox.get_by_role("group", name=re.compile("^Accounts"))).to_be_visible()
    option = listbox.get_by_role("option", name=f"Zephyr Optics {width}", exact=True)
    expect(option).to_be_visible()
    page.keyboard.press("ArrowDown")
    expect(option).to_have_attribute("aria-selected", "true")
    expect(box).to_have_attribute("aria-activedescendant", option.get_attribute("id"))
    assert listbox.bounding_box()["x"] + listbox.bounding_box()["width"] <= width + 1
    screenshot(page, f"search-{width}-suggestions")
    no_page_scroll(page, width)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url.endswith(f"/o/account/{account}")
    box.fill("Zephyr Optics")
    with page.expect_navigation():
        box.press("Enter")  # no option chosen: the results page
    expect(page.locator("h1")).to_have_text("Results for “Zephyr Optics”")

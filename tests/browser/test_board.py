"""The pipeline board, the stage path and approvals in a real browser (Playwright + Debian's
Chromium), on configs/sample_saas.yaml with its demo users:

- alice (sales rep) drags a deal into *Demo / trial* (solution_demo), whose gate needs the needs
  analysis: the dialog asks for exactly that field, she fills it, the card lands in the
  column and the record page shows the new stage and its history;
- a deal moved to *Contract signed* from its stage path needs its signatory: the move dialog's
  type-ahead finds the contact;
- she moves another deal with the keyboard only (the card's "Move to…" control);
- and one by touch, dragging it from the card's handle (pointer events);
- the board at 375 px: the columns scroll sideways inside the board, the page does not;
- a discount above 20 % waits for approval; mike (her manager) approves it in his inbox.

Screenshots for docs/user-guide.md: board, board-move-dialog, stage-path, mobile-board, approvals.
"""

from __future__ import annotations

import re
from typing import Any

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips (or, in CI, fails) with the reason
    expect = None


def alice_deal(live_server, name: str, stage: str | None = None, **values: Any) -> int:
    """A deal of alice's (with an account of hers), moved to ``stage`` through the write path."""
    account = live_server.create("account", {"name": f"{name} Ltd"}, user="alice")
    deal = live_server.create(
        "opportunity", {"name": name, "account": account, "product_line": "crm_suite", **values}, user="alice"
    )
    if stage is not None:
        with live_server.crm.session(user="alice") as session:
            session.update("opportunity", deal, {"stage": stage})
    return deal


def test_drag_a_card_into_a_gated_stage_and_fill_in_what_it_needs(page, login, screenshot, live_server):
    deal = alice_deal(live_server, "Drag Harbour Logistics", "needs_confirmed", unit_price="120000")
    login(page, "alice")
    page.goto("/o/opportunity")
    page.get_by_role("link", name="Board", exact=True).click()
    page.wait_for_url(re.compile(r"/o/opportunity/board"))
    card = page.locator(f"#card-{deal}")
    expect(page.locator(f"#column-needs_confirmed #card-{deal}")).to_be_visible()
    screenshot(page, "board", full_page=True)

    card.drag_to(page.locator("#column-solution_demo"))
    dialog = page.locator("#move-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("heading")).to_have_text("Move to Demo / trial")
    fields = dialog.locator(".move-dialog-body [name]")
    assert fields.evaluate_all("nodes => nodes.map(n => n.name)") == ["needs_analysis"]
    expect(dialog.get_by_role("alert").first).to_contain_text("Needs analysis is required")
    dialog.get_by_label("Needs analysis").fill("Multi-warehouse routing; SSO; monthly reports")
    screenshot(page, "board-move-dialog")
    dialog.get_by_role("button", name="Move").click()

    expect(dialog).to_be_hidden()
    expect(page.locator(f"#column-solution_demo #card-{deal}")).to_be_visible()
    expect(page.locator("#board-status")).to_have_text("Moved to Demo / trial.")
    assert live_server.get("opportunity", deal, "alice")["stage"] == "solution_demo"

    page.locator(f"#card-{deal} .card-title").click()
    page.wait_for_url(re.compile(rf"/o/opportunity/{deal}$"))
    expect(page.locator(".stage-path [aria-current=step]")).to_contain_text("Demo / trial")
    expect(page.locator(".stage-summary")).to_contain_text("Current stage: Demo / trial")
    expect(page.locator("#stage-history")).to_contain_text("Needs confirmed → Demo / trial")
    page.locator("#stages").scroll_into_view_if_needed()
    screenshot(page, "stage-path")


def test_a_gate_that_needs_a_lookup_is_answered_with_the_type_ahead_in_the_move_dialog(page, login, live_server):
    with live_server.crm.directory() as directory:
        alice = next(u.id for u in directory.list() if u.username == "alice")
    with live_server.crm.session(user=None) as session:  # an import: the deal arrives at the quote stage
        account = session.create("account", {"name": "Signature Salt Co", "owner_id": alice}).id
        signer = session.create(
            "contact",
            {
                "last_name": "Qian",
                "first_name": "Signer",
                "account": account,
                "decision_role": "decision_maker",
                "owner_id": alice,
            },
        ).id
        deal = session.create(
            "opportunity",
            {
                "name": "Signature Salt renewal",
                "account": account,
                "stage": "quote",
                "deal_type": "new_business",
                "product_line": "crm_suite",
                "needs_analysis": "SSO",
                "budget": 90000,
                "owner_id": alice,
                "quote_file": {"key": "quotes/salt.pdf", "name": "salt.pdf"},
            },
        ).id
    login(page, "alice")
    page.goto(f"/o/opportunity/{deal}")
    page.locator(".stage-path form").filter(has_text="Contract signed").get_by_role("button").click()
    dialog = page.locator("#move-dialog")
    expect(dialog).to_be_visible()  # not the move page: the dialog sets the type-ahead up
    assert page.url.endswith(f"/o/opportunity/{deal}")
    contact = dialog.get_by_label("Primary contact")
    contact.fill("Qian")
    option = dialog.get_by_role("option", name="Signer Qian")  # a Western name in its own order
    expect(option).to_be_visible()
    option.click()
    expect(dialog.locator("input[type=hidden][name=contact]")).to_have_value(str(signer))
    dialog.get_by_role("button", name="Move").click()
    expect(page.locator(".stage-path [aria-current=step]")).to_contain_text("Contract signed")
    moved = live_server.get("opportunity", deal, "alice")
    assert (moved["stage"], moved["contact"]) == ("contract_signed", signer)


def test_move_a_card_with_the_keyboard(page, login, live_server):
    deal = alice_deal(live_server, "Keyboard Kite Studios")
    login(page, "alice")
    page.goto("/o/opportunity/board")
    card = page.locator(f"#card-{deal}")
    expect(page.locator(f"#column-initial_contact #card-{deal}")).to_be_visible()
    card.focus()
    expect(card).to_be_focused()
    page.keyboard.press("Tab")  # the card's title link
    page.keyboard.press("Tab")  # its compact Move to… menu
    menu = page.locator(f"#move-{deal} summary")
    expect(menu).to_be_focused()
    expect(menu).to_have_text("Move to…")
    page.keyboard.press("Enter")  # opens the menu: one button per other stage
    page.keyboard.press("Tab")
    expect(page.locator(f"#move-{deal} button[value=needs_confirmed]")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#board-status")).to_have_text("Moved to Needs confirmed.")
    expect(page.locator(f"#column-needs_confirmed #card-{deal}")).to_be_visible()
    expect(page.locator(f"#card-{deal}")).to_be_focused()
    assert live_server.get("opportunity", deal, "alice")["stage"] == "needs_confirmed"
    page.keyboard.press("ArrowLeft")  # and back, with the arrow key on the focused card
    expect(page.locator("#board-status")).to_have_text("Moved to Initial contact.")
    expect(page.locator(f"#column-initial_contact #card-{deal}")).to_be_visible()
    assert live_server.get("opportunity", deal, "alice")["stage"] == "initial_contact"


def test_move_a_card_by_touch_from_its_handle(page, login, live_server):
    deal = alice_deal(live_server, "Touch Tea House")
    login(page, "alice")
    page.goto("/o/opportunity/board")
    handle = page.locator(f"#card-{deal} .drag-handle")
    start = handle.bounding_box()
    target = page.locator("#column-needs_confirmed").bounding_box()
    x, y = target["x"] + target["width"] / 2, target["y"] + 60
    touch = {"pointerId": 7, "pointerType": "touch", "isPrimary": True}
    handle.dispatch_event("pointerdown", {**touch, "clientX": start["x"] + 4, "clientY": start["y"] + 4})
    expect(page.locator(".drag-ghost")).to_be_visible()
    page.locator("body").dispatch_event("pointermove", {**touch, "clientX": x, "clientY": y})
    expect(page.locator("#column-needs_confirmed")).to_have_class(re.compile("drop-target"))
    page.locator("body").dispatch_event("pointerup", {**touch, "clientX": x, "clientY": y})
    expect(page.locator(f"#column-needs_confirmed #card-{deal}")).to_be_visible()
    expect(page.locator("#board-status")).to_have_text("Moved to Needs confirmed.")
    assert live_server.get("opportunity", deal, "alice")["stage"] == "needs_confirmed"


def test_the_board_on_a_phone_scrolls_its_columns_not_the_page(new_page, login, screenshot, live_server):
    alice_deal(live_server, "Phone Pine Bakery", "needs_confirmed")
    page = new_page(viewport={"width": 375, "height": 800}, is_mobile=True, has_touch=True)
    login(page, "alice")
    page.goto("/o/opportunity/board")
    board = page.locator("#board")
    expect(board).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 376
    assert board.evaluate("b => b.scrollWidth > b.clientWidth"), "the columns should scroll sideways"
    page.locator(".board-filters").evaluate("form => form.scrollIntoView()")
    screenshot(page, "mobile-board")


def test_a_large_discount_waits_for_the_managers_approval(page, new_page, login, screenshot, live_server):
    deal = alice_deal(live_server, "Approval Lotus Hotels", unit_price="50000")
    with live_server.crm.session(user="alice") as session:
        current = session.get("opportunity", deal)
        waiting = session.update(
            "opportunity", deal, {"discount": "25", "discount_reason": "Three-year contract"}, version=current.version
        )
        assert waiting.pending_approval is not None
    login(page, "alice")
    page.goto(f"/o/opportunity/{deal}")
    expect(page.locator("#approvals")).to_contain_text("Waiting for approval")

    manager = new_page()
    login(manager, "mike")
    toggle = manager.locator(".menu-toggle")  # a manager's eight objects may fold the header at 1280 px
    if toggle.is_visible():
        toggle.click()
    nav = manager.get_by_role("navigation").get_by_role("link", name=re.compile("Approvals"))
    expect(nav.locator(".badge")).to_be_visible()
    nav.click()
    item = manager.locator("article.approval", has_text="Approval Lotus Hotels")
    expect(item).to_contain_text("Discount")
    expect(item).to_contain_text("25.00%")
    screenshot(manager, "approvals", full_page=True)
    item.get_by_label("Comment (required to reject)").fill("Fine for three years")
    with manager.expect_navigation():
        item.get_by_role("button", name="Approve").click()
    expect(manager.locator(".flash")).to_contain_text("next step")

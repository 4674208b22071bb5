"""In-app notifications and the automation admin page in a real browser (Playwright +
Debian's Chromium), on configs/sample_saas.yaml.

- the rule ``new_lead_notice`` tells a new lead's owner; the owner logs in, sees the
  unread count on the bell (its accessible name says it), opens the list (newest
  first, linked to the lead), marks the notification read and then all of them;
- the same page and the automation admin page at 375 px do not scroll sideways;
- the admin (``manage_config``) sees the rule runs and the e-mails waiting for SMTP.

Screenshots for docs/user-guide.md and docs/operations.md: notifications, automation-admin.
"""

from __future__ import annotations

import re
from typing import Any

from engine.runtime.jobs import inbox

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips (or, in CI, fails) with the reason
    expect = None


def unread(live_server: Any, username: str) -> int:
    with live_server.crm.session(user=username) as session:
        return inbox.unread_count(session)


def submit(page: Any, button: Any) -> None:
    with page.expect_navigation():
        button.click()
    page.wait_for_load_state()


def no_horizontal_scroll(page: Any, width: int) -> None:
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= width + 1, f"{page.url} scrolls sideways at {width} px: scrollWidth {scroll_width}"


def test_the_owner_sees_the_bell_opens_the_list_and_marks_read(page, login, screenshot, live_server):
    lead = live_server.create(
        "lead",
        {
            "name": "Bell Zhang Wei",
            "company": "Bell Test Trading Co",
            "intent_level": "high",
            "email": "bell.zhang@example.com",
        },
        user="alice",
    )
    count = unread(live_server, "alice")
    assert count >= 1
    login(page, "alice")
    bell = page.locator("a.bell")
    expect(bell).to_have_attribute("aria-label", f"Notifications: {count} unread")
    expect(page.get_by_role("link", name=f"Notifications: {count} unread")).to_be_visible()
    expect(bell.locator(".bell-count")).to_have_text(str(count) if count < 100 else "99+")

    submit(page, bell)
    assert page.url.endswith("/notifications")
    expect(page.get_by_role("heading", name="Notifications", level=1)).to_be_visible()
    newest = page.locator("li.notification").first
    expect(newest).to_have_class(re.compile(r"\bunread\b"))
    link = newest.get_by_role("link", name=re.compile("Bell Zhang Wei"))
    expect(link).to_have_attribute("href", f"/o/lead/{lead}")
    expect(newest.locator(".n-body")).to_contain_text("Bell Zhang Wei")
    screenshot(page, "notifications", full_page=True)

    submit(page, newest.get_by_role("button", name=re.compile("^Mark as read")))
    expect(page.get_by_role("status").filter(has_text="Marked as read.")).to_be_visible()
    expect(page.locator("li.notification").first).not_to_have_class(re.compile(r"\bunread\b"))
    assert unread(live_server, "alice") == count - 1
    if count > 1:
        expect(bell).to_have_attribute("aria-label", f"Notifications: {count - 1} unread")
        submit(page, page.get_by_role("button", name="Mark all read"))
        expect(page.get_by_role("status").filter(has_text="marked as read")).to_be_visible()
    expect(bell).to_have_attribute("aria-label", "Notifications: none unread")
    expect(bell.locator(".bell-count")).to_have_count(0)
    assert unread(live_server, "alice") == 0

    submit(page, link)  # the lead itself
    assert page.url.endswith(f"/o/lead/{lead}")


def test_the_pages_fit_a_phone(new_page, login, live_server):
    live_server.create(
        "lead",
        {
            "name": "Phone Li Na",
            "company": "A company with a rather long registered name Ltd",
            "intent_level": "high",
            "email": "phone.li@example.com",
        },
        user="bob",
    )
    phone = new_page(viewport={"width": 375, "height": 812}, is_mobile=True, has_touch=True)
    login(phone, "bob")
    expect(phone.locator("a.bell")).to_be_visible()
    phone.goto("/notifications")
    expect(phone.locator("li.notification").first).to_be_visible()
    no_horizontal_scroll(phone, 375)
    admin = new_page(viewport={"width": 375, "height": 812}, is_mobile=True, has_touch=True)
    login(admin, "adam")
    admin.goto("/admin/automation")
    expect(admin.get_by_role("heading", name="Rule runs")).to_be_visible()
    no_horizontal_scroll(admin, 375)


def test_the_admin_sees_runs_and_the_outbox(page, new_page, login, screenshot, live_server):
    live_server.create(
        "lead",
        {
            "name": "Admin Wang Fang",
            "company": "Outbox Check Co",
            "intent_level": "high",
            "email": "wang.fang@example.com",
        },
        user="carol",
    )
    login(page, "alice")
    assert page.locator("a.admin-link").count() == 0
    assert page.goto("/admin/automation").status == 403

    admin = new_page()
    login(admin, "adam")
    submit(admin, admin.get_by_role("link", name="Automation"))
    assert admin.url.endswith("/admin/automation")
    runs = admin.locator("#runs")
    expect(runs.locator("tr.run").first).to_be_visible()
    admin.get_by_label("Rule", exact=True).select_option("new_lead_notice")
    submit(admin, runs.get_by_role("button", name="Filter"))
    assert "rule=new_lead_notice" in admin.url
    expect(admin.locator("#runs tr.run").first).to_contain_text("New lead notice")
    outbox = admin.locator("#outbox")
    expect(outbox.locator("tr.message-pending").first).to_contain_text("carol@example.com")
    expect(outbox.locator(".count-pending strong")).not_to_have_text("0")
    admin.goto("/admin/automation?rule=new_lead_notice")  # the top of the page, for the guide
    screenshot(admin, "automation-admin")

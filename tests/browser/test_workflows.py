"""Workflows across pages in a real browser (Playwright + Debian's Chromium), on
configs/sample_saas.yaml with one extra role that requires two-factor login:

- saved views: filter a list, save it under a name, leave, reopen it, delete it;
- two-factor enrolment: required right after the password, scanned from the QR code
  (here: the code computed from the secret on the page), confirmed, then asked for
  at the next login;
- owner change: a manager gives a record to a colleague with the type-ahead user
  picker (the server is set to use the type-ahead for any number of users).

Screenshots for docs/user-guide.md: saved-views, totp-enrol, owner-picker.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pyotp

from tests.browser.conftest import PASSWORD

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips (or, in CI, fails) with the reason
    expect = None

#: A sales rep whose role requires two-factor login (layered over the sample config).
CONFIG_OVERLAY = """
roles:
  secure_rep:
    label: {en: Sales rep with two-factor login, zh: 需两步验证的销售代表}
    inherits: sales_rep
    require_totp: true
"""
#: Every user picker is the type-ahead, as in a company with many users.
APP_SETTINGS = {"TRELLIS_USER_SELECT_MAX": 0}


def record_ids(page: Any, object_name: str) -> set[int]:
    hrefs = page.eval_on_selector_all("a[href]", "links => links.map(a => new URL(a.href).pathname)")
    pattern = re.compile(rf"^/o/{object_name}/(\d+)/?$")
    return {int(m.group(1)) for h in hrefs if (m := pattern.match(h))}


def submit(page: Any, button: Any) -> None:
    with page.expect_navigation():
        button.click()
    page.wait_for_load_state()


# --- saved views ------------------------------------------------------------------------------
def test_save_reopen_and_delete_a_view(page, login, screenshot, live_server):
    finance = live_server.create("account", {"name": "Viewtest Finance Partners", "industry": "finance"})
    retail = live_server.create("account", {"name": "Viewtest Retail Stores", "industry": "retail"})
    login(page, "alice")
    page.goto("/o/account")
    page.get_by_label("Search", exact=True).fill("Viewtest")
    page.locator("#filter-industry").select_option("finance")
    submit(page, page.get_by_role("button", name="Filter"))
    filtered_url = page.url
    assert "q=Viewtest" in filtered_url and "industry=finance" in filtered_url
    assert finance in record_ids(page, "account") and retail not in record_ids(page, "account")

    page.locator("details.saved-views-menu summary").click()  # the saved views wait in a menu
    page.get_by_label("View name").fill("Finance prospects")
    submit(page, page.get_by_role("button", name="Save view"))
    expect(page.get_by_role("status").filter(has_text="The view was saved.")).to_be_visible()

    page.goto("/o/opportunity")  # away, then back to the plain list
    page.goto("/o/account")
    assert retail in record_ids(page, "account")
    page.locator("details.saved-views-menu summary").click()
    submit(page, page.locator(".saved-views").get_by_role("link", name="Finance prospects"))
    expect(page.get_by_label("Search", exact=True)).to_have_value("Viewtest")
    expect(page.locator("#filter-industry")).to_have_value("finance")
    assert record_ids(page, "account") == {finance}
    expect(page.locator(".saved-views a[aria-current]")).to_have_text("Finance prospects")
    screenshot(page, "saved-views", full_page=True)

    page.locator("details.saved-views-menu summary").click()
    submit(page, page.get_by_role("button", name="Delete view Finance prospects"))
    expect(page.get_by_role("status").filter(has_text="The view was deleted.")).to_be_visible()
    expect(page.locator(".saved-views").get_by_role("link", name="Finance prospects")).to_have_count(0)


# --- two-factor enrolment ------------------------------------------------------------------------
def test_two_factor_enrolment_with_the_qr_code(page, screenshot, switch_language, live_server):
    with live_server.crm.directory() as directory:
        directory.add("tess", roles=["secure_rep"], team="east", display_name="Tess Zhao", password=PASSWORD)
    page.goto("/login")
    switch_language(page, "en")
    page.locator("input[name=username]").fill("tess")
    page.locator("input[name=password]").fill(PASSWORD)
    submit(page, page.get_by_role("button", name="Log in"))
    assert page.url.endswith("/account/totp")
    expect(page.get_by_text("Your role requires two-factor login")).to_be_visible()
    assert page.locator("#totp-secret").count() == 0  # opening the page starts nothing
    submit(page, page.get_by_role("button", name="Start setup"))

    qr = page.locator("#totp-qr svg[role=img]")
    expect(qr).to_be_visible()
    box = qr.bounding_box()
    assert box["width"] >= 120 and abs(box["width"] - box["height"]) < 2, f"the QR code is {box}"
    assert page.locator("#totp-qr svg path").count() == 1
    secret = page.locator("#totp-secret").inner_text().strip()
    uri = page.locator("#totp-uri").inner_text().strip()
    assert f"secret={secret}" in uri
    screenshot(page, "totp-enrol", full_page=True)

    totp = pyotp.TOTP(secret)
    page.get_by_label("Code from your authenticator app").fill(totp.now())
    submit(page, page.get_by_role("button", name="Confirm"))
    expect(page.get_by_role("status").filter(has_text="Two-factor login is now on.")).to_be_visible()
    assert "/login" not in page.url and "/account/totp" not in page.url

    page.locator(".user-menu summary").click()  # Log out waits in the account menu
    submit(page, page.get_by_role("button", name="Log out"))
    page.locator("input[name=username]").fill("tess")
    page.locator("input[name=password]").fill(PASSWORD)
    submit(page, page.get_by_role("button", name="Log in"))
    assert page.url.endswith("/login/totp")
    # The code just used cannot be used again: the app's next one (one step of drift is allowed).
    page.locator("input[name=code]").fill(totp.generate_otp(totp.timecode(dt.datetime.now(dt.UTC)) + 1))
    submit(page, page.locator("form:has(input[name=code]) button[type=submit]").first)
    assert "/login" not in page.url, f"the second login with a code failed: {page.url}"
    expect(page.locator(".who")).to_have_text("tess")


# --- owner change -----------------------------------------------------------------------------------
def test_a_manager_reassigns_a_record_with_the_type_ahead(page, login, screenshot, live_server):
    record_id = live_server.create("account", {"name": "Owner Change Logistics Co"}, user="alice")
    with live_server.crm.directory() as directory:
        bob = directory.get("bob")
    login(page, "mike")
    page.goto(f"/o/account/{record_id}/edit")
    owner = page.get_by_role("combobox", name="Owner")
    expect(owner).to_have_value("Alice Zhang 张爱丽")
    owner.fill("Bob")
    suggestion = page.get_by_role("option", name=bob.display_name)
    expect(suggestion).to_be_visible()
    expect(owner).to_have_attribute("aria-expanded", "true")
    owner.evaluate("input => input.scrollIntoView({block: 'center'})")
    screenshot(page, "owner-picker")
    suggestion.click()
    expect(owner).to_have_value(bob.display_name)
    expect(page.locator("#h-owner_id")).to_have_value(str(bob.id))
    submit(page, page.get_by_role("button", name="Save"))
    assert re.search(rf"/o/account/{record_id}/?$", page.url), page.url
    expect(page.locator(".item.system").filter(has_text="Owner").locator("dd")).to_have_text(bob.display_name)
    assert live_server.get("account", record_id)["owner_id"] == bob.id


def test_a_rep_has_no_owner_control(page, login, live_server):
    record_id = live_server.create("account", {"name": "No Owner Control Co"}, user="alice")
    login(page, "alice")
    page.goto(f"/o/account/{record_id}/edit")
    expect(page.locator("#f-name")).to_be_visible()
    expect(page.locator("#f-owner_id")).to_have_count(0)

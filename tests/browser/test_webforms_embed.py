"""A web form embedded in another site, in a real browser (issue 16 §1, S14, its "done when").

A second HTTP server (``http.server`` in a thread, on ``localhost``: another site than the
Trellis at ``127.0.0.1``) serves a plain HTML page holding the snippet of ``trellis forms
snippet``. The visitor, with no session and no cookie of Trellis, fills in the framed form: the
submission becomes an assigned lead carrying the page's UTM source. A robot's submission (the
honeypot filled in) is refused, and the admin finds it on the review page. The form's own page
fits a 375 px phone.

Screenshot for docs/user-guide.md: webform.
"""

from __future__ import annotations

import functools
import http.server
import re
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.runtime.webforms.snippet import snippet
from tests.browser.conftest import do_login

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips (or, in CI, fails) with the reason
    expect = None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


SITE_PORT = _free_port()
SITE = f"http://localhost:{SITE_PORT}"
#: The sample's form, embeddable by the test site; no fill time (a browser robot types fast).
CONFIG_OVERLAY = f"""
forms:
  contact_us:
    origins: ["{SITE}"]
    spam: {{min_seconds: 0}}
"""


@pytest.fixture(scope="module")
def site(live_server, tmp_path_factory) -> Iterator[str]:
    """The company's site: a page with the snippet, served on another origin."""
    folder: Path = tmp_path_factory.mktemp("site")
    form = live_server.crm.config.forms["contact_us"]
    (folder / "contact.html").write_text(
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>CloudSail</title></head>"
        f"<body><h1>Contact CloudSail</h1>{snippet(form, live_server.url)}</body></html>",
        encoding="utf-8",
    )
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", SITE_PORT), handler)
    thread = threading.Thread(target=server.serve_forever, name="company-site", daemon=True)
    thread.start()
    yield SITE
    server.shutdown()
    server.server_close()


def lead_by_email(live_server: Any, email: str) -> Any:
    with live_server.crm.session() as session:
        return session.query("lead").filter(email=email).first()


def settled(page: Any) -> None:
    """Wait until the form told the page its height and the page sized the frame to it: the
    form's place on the page no longer moves under a click."""
    expect(page.locator("iframe")).to_have_attribute("style", re.compile(r"height: \d+px"))


def test_a_form_embedded_in_another_site_makes_an_assigned_lead_and_spam_is_listed(page, site, live_server, new_page):
    page.goto(f"{site}/contact.html?utm_source=browser_test&utm_campaign=s14")
    settled(page)
    frame = page.frame_locator("iframe")
    frame.get_by_role("textbox", name="Contact name", exact=True).fill("Zhou Min")
    frame.get_by_role("textbox", name="Company", exact=True).fill("Blue Harbor Ltd")
    frame.get_by_role("textbox", name="E-mail", exact=True).fill("zhou.min@blueharbor.example")
    frame.get_by_role("button", name="Send").click()
    expect(frame.locator(".webform-thanks")).to_contain_text("Your message has reached our sales team")
    assert page.context.cookies(live_server.url) == []  # no session, no CSRF cookie
    lead = lead_by_email(live_server, "zhou.min@blueharbor.example")
    assert lead is not None and lead["utm_source"] == "browser_test" and lead["utm_campaign"] == "s14"
    assert lead["owner_id"] is not None and lead["referrer"] is None  # opened directly: no referrer
    # A robot fills in every input it finds, the hidden decoy too.
    page.goto(f"{site}/contact.html")
    settled(page)
    frame = page.frame_locator("iframe")
    frame.get_by_role("textbox", name="Contact name", exact=True).fill("Spam Bot")
    frame.get_by_role("textbox", name="Company", exact=True).fill("Bots Inc")
    frame.get_by_role("textbox", name="E-mail", exact=True).fill("bot@bots.example")
    frame.locator("input[name=website_url]").fill("http://spam.example", force=True)
    frame.get_by_role("button", name="Send").click()
    expect(frame.locator(".error-summary")).to_contain_text("We could not accept this submission")
    assert lead_by_email(live_server, "bot@bots.example") is None
    admin = new_page()
    do_login(admin, "adam")
    admin.goto("/admin/forms/rejected")
    row = admin.locator("tr.rejection", has_text="bot@bots.example")
    expect(row.locator(".reason")).to_have_text("The hidden decoy input was filled in (a robot).")
    expect(row).to_contain_text("Talk to CloudSail")


def test_the_form_page_fits_a_phone(new_page, screenshot):
    phone = new_page(viewport={"width": 375, "height": 740})
    phone.goto("/f/contact_us?lang=en")
    expect(phone.get_by_role("heading", name="Talk to CloudSail")).to_be_visible()
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 376, f"the form scrolls sideways at 375 px: {width}"
    screenshot(phone, "webform", full_page=True)

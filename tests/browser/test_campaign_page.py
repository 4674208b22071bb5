"""A campaign's page in a real browser (Playwright + Debian's Chromium), on configs/sample_saas.yaml
with its demo data: Alice (a rep) opens her draft campaign to the segment ``open_leads``, presses
Start campaign, confirms, and reads on the page how many e-mails were queued and, in the results,
the recipients — her own leads with an address, as she may read them; the page fits a phone.
"""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def tracking_env(monkeypatch):
    monkeypatch.setenv("TRELLIS_BASE_URL", "https://crm.example.com")


def test_a_rep_starts_a_campaign_and_reads_its_results(page, new_page, login, live_server: Any, tracking_env):
    campaign = live_server.create(
        "campaign",
        {"name": "Spring launch", "segment": "open_leads", "template": "product_news", "rate": "600/hour"},
    )
    with live_server.crm.session(user="alice") as session:
        leads = [
            r for r in session.query("lead").all() if r.get("email") and r["status"] in ("new", "working", "qualified")
        ]
    login(page, "alice")
    page.goto(f"/o/campaign/{campaign}")
    shown = page.locator("main").inner_text()
    assert "Open leads" in shown and "Product news" in shown and "open_leads" not in shown  # names, not keys
    page.once("dialog", lambda dialog: dialog.accept())
    with page.expect_navigation():
        page.get_by_role("button", name="Start campaign").click()
    assert f"{len(leads)} e-mail{'s' if len(leads) != 1 else ''} queued" in page.locator(".flash-info").inner_text()
    results = page.get_by_role("region", name="Results")
    assert results.get_by_role("row", name=f"Recipients {len(leads)}").count() == 1
    assert page.get_by_role("button", name="Start campaign").count() == 0  # sent once
    assert live_server.get("campaign", campaign, user="alice")["status"] == "sending"

    phone = new_page(viewport={"width": 375, "height": 800})
    login(phone, "alice")
    phone.goto(f"/o/campaign/{campaign}")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 376

"""The Convert button and its confirmation page (S12) through Flask's test client,
on SQLite and PostgreSQL: who sees the button, what the page proposes, the optional
target's checkbox, errors beside the fields, CSRF, and the lead page afterwards."""

from __future__ import annotations

import html
import re

import pytest

from tests.runtime.test_conversion import CONFIG
from tests.webui.conftest import make_app, post, text

USERS = {
    "alice": {"roles": ["rep"]},
    "vera": {"roles": ["viewer"]},
}


@pytest.fixture
def crm(open_crm):
    return open_crm(
        CONFIG.replace(
            "settings: {timezone: Asia/Shanghai}", "settings: {timezone: Asia/Shanghai, languages: [en, zh]}"
        ),
        USERS,
    )


@pytest.fixture
def app(crm):
    return make_app(crm)


def new_lead(crm, user="alice", **values):
    values = {
        "name": "张伟",
        "company": "Acme",
        "phone": "+86 21 5555 0100",
        "mobile": "+86 138 0013 8000",
        "status": "qualified",
        **values,
    }
    with crm.session(user) as s:
        return s.create("lead", values)


def count(crm, object_name):
    with crm.session() as s:
        return s.query(object_name).count()


def convert_url(lead):
    return f"/o/lead/{lead.id}/convert/lead_to_customer"


def button(page: str) -> list[str]:
    return re.findall(r'<a class="button convert" href="([^"]+)">([^<]+)</a>', page)


def form_values(page: str) -> dict[str, str]:
    """The text inputs of a page: name → value."""
    return {
        name: html.unescape(value)
        for name, value in re.findall(
            r'<input type="[a-z]+" id="[^"]+"(?: required '
            r'aria-required="true")?[^>]*? name="([^"]+)" '
            r'value="([^"]*)"',
            page,
        )
    }


def test_the_record_page_offers_convert_only_when_it_applies_and_the_user_may(crm, login, app):
    lead, unqualified = new_lead(crm), new_lead(crm, status="new")
    client = login("alice")
    assert button(text(client.get(f"/o/lead/{lead.id}"))) == [(convert_url(lead), "Convert lead")]
    assert button(text(client.get(f"/o/lead/{unqualified.id}"))) == []
    viewer = app.test_client()
    post(viewer, "/login", {"username": "vera", "password": "Secret-pass-123"})
    assert button(text(viewer.get(f"/o/lead/{lead.id}"))) == []  # may read the lead, not change it
    assert viewer.get(convert_url(lead)).status_code == 403


def test_the_confirmation_page_shows_what_will_be_created_and_linked(crm, login):
    with crm.session("alice") as s:
        s.create("account", {"name": "Acme"})
    lead = new_lead(crm)
    page = text(login("alice").get(convert_url(lead)))
    assert "<h1>Convert lead: 张伟</h1>" in page
    account = page[page.index('id="target-account"') : page.index('id="target-contact"')]
    assert "The existing Account will be linked:" in account and ">Acme</a>" in account
    assert 'name="account.name"' not in account
    values = form_values(page)
    assert values["contact.name"] == "张伟" and values["opportunity.name"] == "Acme – first deal"
    assert "the Account above" in page and "the Contact above" in page
    assert re.search(
        r'<input type="checkbox" id="create-opportunity" name="create.opportunity" value="1" checked>', page
    )
    assert '<label for="create-opportunity">Create Opportunity</label>' in page
    assert count(crm, "contact") == 0  # looking writes nothing


def test_converting_without_the_optional_target_goes_back_to_the_lead_with_its_links(crm, login):
    lead = new_lead(crm)
    client = login("alice")
    data = {
        "version": "1",
        "shown.account": "1",
        "account.name": "Acme Ltd",
        "shown.contact": "1",
        "contact.name": "张 伟",
        "contact.mobile": "+86 138 0013 8000",
    }
    response = post(client, convert_url(lead), data)
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/o/lead/{lead.id}")
    page = text(client.get(f"/o/lead/{lead.id}"))
    assert "Converted: Account Acme Ltd created; Contact 张 伟 created; no Opportunity." in page
    assert re.search(r'<a href="/o/account/\d+">Acme Ltd</a>', page)  # the lead links to what it became
    assert button(page) == []
    assert (count(crm, "account"), count(crm, "contact"), count(crm, "opportunity")) == (1, 1, 0)


def test_problems_are_shown_beside_the_fields_and_nothing_is_saved(crm, login):
    lead = new_lead(crm, mobile=None)
    client = login("alice")
    data = {
        "version": "1",
        "shown.account": "1",
        "account.name": "Acme Ltd",
        "shown.contact": "1",
        "contact.name": "张伟",
        "contact.mobile": "",
        "shown.opportunity": "1",
        "create.opportunity": "1",
        "opportunity.name": "",
    }
    response = post(client, convert_url(lead), data, form_url=convert_url(lead))
    assert response.status_code == 422
    page = text(response)
    assert re.search(r'<div class="field-error" role="alert" id="err-opportunity.name">Name is required.</div>', page)
    assert re.search(
        r'<div class="field-error" role="alert" id="err-contact.mobile">Give the contact&#39;s mobile '
        r"number.</div>",
        page,
    )
    assert 'aria-invalid="true" aria-describedby="err-contact.mobile"' in page
    assert form_values(page)["account.name"] == "Acme Ltd"  # what the user typed stays
    assert (count(crm, "account"), count(crm, "contact"), count(crm, "opportunity")) == (0, 0, 0)


def test_a_lead_that_cannot_be_converted_goes_back_with_the_reason(crm, login):
    lead = new_lead(crm, status="new")
    client = login("alice")
    response = client.get(convert_url(lead))
    assert response.status_code == 302
    assert "Only qualified leads can be converted." in text(client.get(f"/o/lead/{lead.id}"))


def test_the_form_needs_its_csrf_token(crm, login):
    lead = new_lead(crm)
    response = login("alice").post(convert_url(lead), data={"version": "1"})
    assert response.status_code == 400
    assert count(crm, "account") == 0


def test_the_form_needs_the_leads_version(crm, login):
    lead = new_lead(crm)
    client = login("alice")
    data = {
        "shown.account": "1",
        "account.name": "Acme Ltd",
        "shown.contact": "1",
        "contact.name": "张 伟",
        "contact.mobile": "+86 138 0013 8000",
    }
    response = post(client, convert_url(lead), data)
    assert response.status_code == 302 and response.headers["Location"].endswith(convert_url(lead))
    assert "did not say which version" in text(client.get(convert_url(lead)))
    assert (count(crm, "account"), count(crm, "contact")) == (0, 0)


def test_the_page_speaks_chinese(crm, login):
    lead = new_lead(crm)
    client = login("alice")
    post(client, "/lang", {"lang": "zh", "next": "/o/lead"}, form_url="/o/lead")
    page = text(client.get(convert_url(lead)))
    assert "请核对以下内容" in page and "将新建" in page and "创建" in page


def test_the_forms_leave_the_conversion_fields_alone_and_a_converted_lead_is_read_only(crm, login):
    client = login("alice")
    page = text(client.get("/o/lead/new"))
    status = re.search(r'<select id="f-status".*?</select>', page, re.S).group(0)
    assert '<option value="new"' in status and 'value="converted"' not in status  # not offered by hand
    assert 'name="converted_account"' not in page and 'id="f-converted_account"' not in page
    lead = new_lead(crm)
    edit = text(client.get(f"/o/lead/{lead.id}/edit"))
    assert 'name="converted_account"' not in edit  # shown as text, not an input
    forged = post(
        client,
        f"/o/lead/{lead.id}/edit",
        {"version": "1", "name": "张伟", "status": "converted", "phone": "+86 21 5555 0100"},
    )
    assert forged.status_code == 422
    assert "Status becomes Converted only by converting the record." in text(forged)
    data = {
        "version": "1",
        "shown.account": "1",
        "account.name": "Acme Ltd",
        "shown.contact": "1",
        "contact.name": "张伟",
        "contact.mobile": "+86 138 0013 8000",
    }
    assert post(client, convert_url(lead), data).status_code == 302
    page = text(client.get(f"/o/lead/{lead.id}"))
    assert f'href="/o/lead/{lead.id}/edit"' not in page  # no Edit button, but why
    assert (
        '<p class="hint read-only-note" role="note">This Lead was converted (Convert lead); '
        "it can no longer be changed.</p>"
    ) in page
    for language, message in (
        ("en", "This Lead was converted (Convert lead); it can no longer be changed."),
        ("zh", "该Lead已转化（Convert lead），不能再修改。"),
    ):
        post(client, "/lang", {"lang": language}, form_url=f"/o/lead/{lead.id}")
        refused = client.get(f"/o/lead/{lead.id}/edit")
        assert refused.status_code == 302 and refused.headers["Location"].endswith(f"/o/lead/{lead.id}")
        assert message in html.unescape(text(client.get(f"/o/lead/{lead.id}")))
    response = post(
        client, f"/o/lead/{lead.id}/edit", {"version": "2", "name": "Renamed"}, form_url=f"/o/lead/{lead.id}"
    )
    assert response.status_code == 302
    with crm.session() as s:
        assert s.get("lead", lead.id)["name"] == "张伟"

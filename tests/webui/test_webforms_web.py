"""Web-to-lead forms over HTTP (issue 16 §1, S14), on the SaaS sample's contact form: the public
page (languages, framing only by the configured origins, no cookie), a submission becoming an
assigned lead with its UTM source and a returning visitor updating it, field errors in the
visitor's language, spam of every kind recorded and refused, listed for admins and accepted anyway,
and the rate limit. One seeded app for the module."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from engine import Trellis
from tests.conftest import Clock, fresh_database
from tests.templates import apply_fresh
from tests.webui.conftest import PASSWORD, START, client_for, make_app, text
from webui.ui import webform_guard

SAAS = Path(__file__).resolve().parents[2] / "configs" / "sample_saas.yaml"
#: The sample, with a form limited to two submissions a minute per address to see the limit.
CONFIG = f"""
trellis: 1
extends: {SAAS}
objects:
  promo:
    title: "{{name}}"
    fields:
      name: {{type: text, required: true}}
  lead:
    fields:
      promo: {{type: lookup, object: promo, label: Promotion}}
      same_as: {{type: lookup, object: lead, label: Same person as}}
forms:
  contact_us:
    spam: {{rate_limit: "100 per minute"}}
  tiny:
    object: lead
    fields: [name, company, email]
    values: {{source: website_signup, intent_level: low}}
    spam: {{rate_limit: "2 per minute", min_seconds: 0}}
  webinar:
    object: lead
    fields: [name, company, email]
    values: {{source: webinar, intent_level: high}}
    campaign: {{field: promo, value: 2026 Spring webinar}}
    on_duplicate: link
    link_field: same_as
    spam: {{min_seconds: 0}}
  quiz:
    object: lead
    fields: [name, company, email]
    values: {{source: website_signup, intent_level: low}}
    redirect: https://www.cloudsail.example/thanks
    spam: {{challenge: arithmetic}}
"""
SITE = "https://www.cloudsail.example"


@pytest.fixture(scope="module")
def crm(tmp_path_factory):
    folder = tmp_path_factory.mktemp("webforms_web")
    (folder / "config.yaml").write_text(CONFIG, encoding="utf-8")
    urls = fresh_database(folder)
    with pytest.MonkeyPatch.context() as patch:  # the sample encrypts fields: a key, read at open
        patch.setenv("TRELLIS_SECRET_KEY", Fernet.generate_key().decode())
        crm = Trellis.open(folder / "config.yaml", next(urls), clock=Clock(START))
    apply_fresh(crm)
    with crm.directory() as directory:
        directory.add("rita", roles=["sales_rep"], password=PASSWORD, email="rita@example.com")
        directory.add("ada", roles=["admin"], password=PASSWORD)
    yield crm
    crm.close()
    next(urls, None)


@pytest.fixture(scope="module")
def app(crm):
    return make_app(crm)


EN = {"Accept-Language": "en"}


def aged(page: str, seconds: float = 10) -> str:
    """The page's token, re-signed as if the form had been shown ``seconds`` ago (a person's pace)."""
    token = re.search(r'name="_token" value="([^"]+)"', page).group(1)
    return token if seconds == 0 else _resign(token, seconds)


def _resign(token: str, seconds: float) -> str:
    from itsdangerous import URLSafeTimedSerializer

    serializer = URLSafeTimedSerializer("test secret", salt=webform_guard.SALT)
    data = serializer.loads(token)
    data["t"] -= seconds
    return serializer.dumps(data)


def leads(crm, **where) -> list:
    with crm.session() as session:
        return session.query("lead").filter(**where).all()


def rejected(crm) -> list[tuple[str, str]]:
    table = crm.schema.system["sys_form_rejections"]
    with crm.engine.connect() as connection:
        return [tuple(r) for r in connection.execute(sa.select(table.c.reason, table.c.status).order_by(table.c.id))]


def test_the_form_page_is_public_in_the_visitors_language_and_framed_only_by_its_origins(app):
    client = app.test_client()
    response = client.get("/f/contact_us?utm_source=newsletter", headers={"Accept-Language": "en-GB,en;q=0.8"})
    page = text(response)
    assert response.status_code == 200
    assert "Talk to CloudSail" in page and "Contact name" in page and "E-mail" in page and "Send" in page
    assert 'name="csrf_token"' not in page and "Set-Cookie" not in response.headers
    csp = response.headers["Content-Security-Policy"]
    assert f"frame-ancestors 'self' {SITE};" in csp and "X-Frame-Options" not in response.headers
    zh = text(client.get("/f/contact_us", headers={"Accept-Language": "zh-CN,zh;q=0.9"}))  # also the company's
    assert "联系云帆" in zh and "联系人姓名" in zh and "提交" in zh
    assert "联系人姓名" in text(client.get("/f/contact_us?lang=zh"))
    assert client.get("/f/nope").status_code == 404
    # Every other page still refuses to be framed.
    assert client.get("/login").headers["X-Frame-Options"] == "DENY"


def test_a_submission_from_another_site_becomes_an_assigned_lead_and_a_returning_visitor_updates_it(app, crm):
    client = app.test_client()
    page = text(client.get(f"/f/contact_us?utm_source=newsletter&utm_campaign=spring&ref={SITE}/pricing&lang=en"))
    values = {"name": "Li Na", "company": "Nova Tech", "email": "li.na@nova.example", "description": "Demo please"}
    response = client.post(
        "/f/contact_us", data={**values, "_token": aged(page), "lang": "en"}, headers={"Origin": SITE}
    )
    assert response.status_code == 200, text(response)
    assert "Your message has reached our sales team" in text(response)
    [lead] = leads(crm, email="li.na@nova.example")
    assert lead["utm_source"] == "newsletter" and lead["utm_campaign"] == "spring"
    assert lead["referrer"] == f"{SITE}/pricing" and lead["source"] == "website_signup"
    assert lead["owner_id"] is not None  # assigned at once by `assignment: new_leads`
    audit = crm.schema.system["sys_audit"]
    with crm.engine.connect() as connection:
        row = connection.execute(
            sa.select(audit.c.channel, audit.c.username).where(audit.c.object == "lead", audit.c.record_id == lead.id)
        ).first()
        notices = crm.schema.system["sys_notifications"]
        told = connection.execute(sa.select(sa.func.count()).select_from(notices)).scalar_one()
    assert tuple(row) == ("web_form", "web_form:contact_us") and told >= 1  # S13's new-lead notice
    # The same visitor again: their lead is updated, not doubled.
    page = text(client.get("/f/contact_us"))
    again = {"name": "Li Na", "company": "Nova Tech Ltd", "email": "LI.NA@nova.example", "phone": "+86 138 0013 8000"}
    assert client.post("/f/contact_us", data={**again, "_token": aged(page)}).status_code == 200
    [lead] = leads(crm, name="Li Na")
    assert lead["phone"] == "+8613800138000" and lead["company"] == "Nova Tech Ltd"
    assert lead["utm_source"] == "newsletter"  # the first visit's attribution is kept
    # Each submission is an engagement event of the lead, for scoring and automation rules.
    events = crm.schema.system["sys_engagement_events"]
    with crm.engine.connect() as connection:
        seen = connection.execute(
            sa.select(events.c.kind, events.c.data)
            .where(events.c.object == "lead", events.c.record_id == lead.id)
            .order_by(events.c.id)
        ).all()
    assert [(kind, data["how"]) for kind, data in seen] == [
        ("form_submitted", "created"),
        ("form_submitted", "updated"),
    ]
    assert seen[0][1]["utm_source"] == "newsletter" and seen[0][1]["form"] == "contact_us"
    # …shown on the lead's timeline with the form's title and where the visitor came from.
    page = text(client_for(app, "ada").get(f"/o/lead/{lead.id}"))
    assert page.count("提交表单") == 2 and "newsletter" in page.split('id="timeline"')[1]


def test_a_refused_submission_shows_the_visitors_values_and_field_errors_in_their_language(app, crm):
    client = app.test_client()
    page = text(client.get("/f/contact_us?lang=zh"))
    response = client.post(
        "/f/contact_us", data={"name": "王伟", "company": "远航", "lang": "zh", "_token": aged(page)}
    )
    body = text(response)
    assert response.status_code == 422
    assert 'value="王伟"' in body and 'value="远航"' in body and "请修改标出的内容" in body
    assert re.search(r'id="err-email">[^<]*邮箱', body)  # the form's required e-mail, in Chinese
    assert not leads(crm, name="王伟")


def test_spam_is_refused_recorded_listed_for_admins_and_can_be_accepted_anyway(app, crm):
    client = app.test_client()
    page = text(client.get("/f/contact_us"))
    values = {"name": "Bot", "company": "Spam Inc", "email": "bot@spam.example"}
    assert client.post("/f/contact_us", data={**values, "_token": aged(page), "website_url": "x"}).status_code == 422
    assert client.post("/f/contact_us", data={**values, "_token": aged(page, 0)}).status_code == 422  # too fast
    assert client.post("/f/contact_us", data={**values, "_token": "forged"}).status_code == 400
    evil = client.post(
        "/f/contact_us", data={**values, "_token": aged(page)}, headers={"Origin": "https://evil.example"}
    )
    assert evil.status_code == 403
    big = client.post("/f/contact_us", data={**values, "_token": aged(page), "description": "x" * 20000})
    assert big.status_code == 413
    reasons = [reason for reason, status in rejected(crm) if status == "rejected"]
    assert reasons[-5:] == ["honeypot", "too_fast", "bad_token", "origin", "too_large"]
    assert not leads(crm, email="bot@spam.example")
    assert client_for(app, "rita").get("/admin/forms/rejected").status_code == 403
    admin = client_for(app, "ada")
    listing = text(admin.get("/admin/forms/rejected"))
    # In the company's language (the admin chose none): reasons, the form's label, field labels.
    assert "隐藏的诱饵输入框被填写" in listing and "提交速度快于正常填写速度" in listing
    assert "联系云帆" in listing and "bot@spam.example" in listing and "联系人姓名" in listing
    first = re.search(r"/admin/forms/rejected/(\d+)/accept", listing.split("隐藏的诱饵")[1])
    token = re.search(r'name="csrf_token" value="([^"]+)"', listing).group(1)
    response = admin.post(f"/admin/forms/rejected/{first.group(1)}/accept", data={"csrf_token": token})
    assert response.status_code == 302
    assert len(leads(crm, email="bot@spam.example")) == 1
    assert "bot@spam.example" in text(admin.get("/admin/forms/rejected?status=accepted"))


def test_the_rate_limit_per_address_answers_429_and_records_it(app, crm):
    client = app.test_client()
    statuses = []
    for index in range(3):
        page = text(client.get("/f/tiny"))
        data = {"name": f"Rate {index}", "company": "R", "email": f"rate{index}@example.com", "_token": aged(page)}
        statuses.append(client.post("/f/tiny", data=data).status_code)
    assert statuses == [200, 200, 429]
    assert rejected(crm)[-1] == ("rate_limited", "rejected")


def test_the_arithmetic_challenge_refuses_a_wrong_sum_and_a_right_one_redirects(app, crm):
    client = app.test_client()
    page = text(client.get("/f/quiz?lang=en"))
    a, b = map(int, re.search(r"What is (\d) \+ (\d)\?", page).groups())
    values = {"name": "Quiz Taker", "company": "Q", "email": "quiz@example.com", "_token": aged(page)}
    wrong = client.post("/f/quiz", data={**values, "_answer": str(a + b + 1), "lang": "en"})
    assert wrong.status_code == 422 and "That is not the right answer." in text(wrong)
    assert rejected(crm)[-1] == ("challenge", "rejected") and not leads(crm, email="quiz@example.com")
    right = client.post("/f/quiz", data={**values, "_answer": f" {a + b} "})
    assert right.status_code == 303 and right.headers["Location"] == "https://www.cloudsail.example/thanks"
    assert "form-action 'self' https://www.cloudsail.example" in right.headers["Content-Security-Policy"]
    assert len(leads(crm, email="quiz@example.com")) == 1


def test_a_campaign_lookup_is_found_by_title_and_a_returning_visitor_is_linked(app, crm):
    with crm.session() as session:
        webinar = session.create("promo", {"name": "2026 Spring webinar"}).id
        session.create("promo", {"name": "2026 Spring webinar (recording)"})
    client = app.test_client()
    visitor = {"name": "Gao Yan", "company": "Gao Co", "email": "gao.yan@example.com"}
    for _ in range(2):
        assert (
            client.post("/f/webinar", data={**visitor, "_token": aged(text(client.get("/f/webinar")))}).status_code
            == 200
        )
    first, second = sorted(leads(crm, email="gao.yan@example.com"), key=lambda r: r.id)
    assert first["promo"] == second["promo"] == webinar and first["source"] == "webinar"
    assert (first["same_as"], second["same_as"]) == (None, first.id)

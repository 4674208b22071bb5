"""E-mail subscriptions (issue 15 §4, S45), on SQLite and PostgreSQL: the weekly digest arrives in
the SMTP receiver rendered for each recipient, and the web's subscribe form, My subscriptions and
the e-mail's unsubscribe link.

The deals and hand-computed figures are those of tests/runtime/test_reports.py (the reports run
on Wednesday 2026-04-22 in Shanghai). Rule ``weekly_sources`` sends ``by_source`` every Monday
08:00 to reps and managers: Rita (a rep, English) sees her three deals — Website 2 (CN¥1,500.50),
Trade fair 1 (CN¥200.00), total 3, without the margin hidden from reps; Mia (a manager, Chinese)
sees her subtree — hers and Rita's: 官网 2, 展会 1, no source 1, total 4; Sam (a rep) has no
e-mail address and is skipped. Rule ``managers_only`` sends a report only managers may open to
reps: Rita is skipped without a word of it.
"""

from __future__ import annotations

import datetime as dt
import email.message
import re

import pytest
import sqlalchemy as sa

from engine import Trellis
from engine.runtime.jobs import worker
from engine.runtime.jobs.delivery import SmtpSettings
from engine.runtime.subscriptions import sending
from tests.conftest import Clock, fresh_database, run_in_threads
from tests.receivers import smtp_server
from tests.runtime.test_reports import CONFIG, NOW, seed
from tests.templates import apply_fresh
from tests.webui.conftest import PASSWORD, client_for, make_app, post, text, token

SUBSCRIPTIONS = """
subscriptions:
  weekly_sources:
    report: by_source
    label: {en: Weekly sources, zh: 每周来源}
    schedule: {weekly: "monday 08:00"}
    roles: [rep, manager]
  managers_only:
    report: for_managers
    schedule: {weekly: "monday 08:00"}
    roles: [rep]
"""
#: Monday 27 April 2026, 08:00 in Shanghai (the first Monday after NOW).
MONDAY_8 = dt.datetime(2026, 4, 27, 0, 0, tzinfo=dt.UTC)
BASE = "http://crm.example.test"


@pytest.fixture(scope="module")
def env():
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TRELLIS_BASE_URL", BASE + "/")
        yield patch


@pytest.fixture(scope="module")
def crm(tmp_path_factory, env):
    folder = tmp_path_factory.mktemp("subscriptions")
    (folder / "config.yaml").write_text(CONFIG + SUBSCRIPTIONS, encoding="utf-8")
    urls = fresh_database(folder)
    clock = Clock(NOW)
    crm = Trellis.open(folder / "config.yaml", next(urls), clock=clock)
    apply_fresh(crm)
    seed(crm, clock, PASSWORD)
    with crm.directory() as d:
        d.edit("rita", email="rita@example.com")
        d.edit("mia", email="mia@example.com", locale="zh_CN")
        d.edit("bo", email="bo@example.com")
    crm.test_clock = clock  # type: ignore[attr-defined]
    yield crm
    crm.close()
    next(urls, None)


@pytest.fixture(scope="module")
def mail():
    with smtp_server() as (url, box):
        yield SmtpSettings.parse(url, "trellis@example.com"), box


@pytest.fixture(scope="module")
def app(crm):
    return make_app(crm)


def run(crm, mail, moment: dt.datetime) -> worker.PassReport:
    crm.test_clock.at(moment)
    return worker.run_once(crm, moment, smtp=mail[0])


def parts(message: email.message.EmailMessage) -> tuple[str, str]:
    """The text and the HTML part of a message."""
    plain = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    return plain, html


def rows(crm, **where):
    table = crm.schema.system["sys_subscriptions"]
    with crm.engine.connect() as c:
        statement = sa.select(table).order_by(table.c.id)
        for key, value in where.items():
            statement = statement.where(table.c[key] == value)
        return [dict(r) for r in c.execute(statement).mappings()]


def user_id(crm, name: str) -> int:
    return crm.principal(name).user_id


def line(plain: str, label: str) -> list[str]:
    """The cells of the text table's row starting with ``label``."""
    (found,) = [ln for ln in plain.splitlines() if ln.startswith(label)]
    return found[len(label) :].split()


def test_the_weekly_digest_arrives_rendered_for_each_recipient(crm, mail, app):
    box = mail[1]
    first = run(crm, mail, NOW)  # the rules' recipients get their rows; nothing is due yet
    assert first.subscriptions.sent == 0 and box.messages == []
    weekly = rows(crm, rule="weekly_sources")
    assert {r["user_id"] for r in weekly} == {user_id(crm, n) for n in ("rita", "mia", "sam")}  # not bo
    assert {r["next_run_at"] for r in weekly} == {MONDAY_8}

    assert run(crm, mail, MONDAY_8 - dt.timedelta(minutes=1)).subscriptions.sent == 0
    report = run(crm, mail, MONDAY_8)
    assert report.subscriptions.sent == 2 and report.delivery.sent == 2
    assert report.subscriptions.skipped == {"no_email": 2, "not_allowed": 1}
    by_to = {m["To"]: m for m in box.messages}
    assert sorted(by_to) == ["mia@example.com", "rita@example.com"]

    rita = by_to["rita@example.com"]
    assert rita["Subject"] == "Weekly sources · Every Monday at 08:00"
    assert rita.get_content_type() == "multipart/alternative"
    assert rita["List-Unsubscribe"].startswith(f"<{BASE}/subscriptions/unsubscribe/")
    plain, html = parts(rita)
    assert line(plain, "Website")[:2] == ["2", "CN¥1,500.50"]
    assert line(plain, "Trade fair")[:2] == ["1", "CN¥200.00"]
    assert line(plain, "Total")[0] == "3"
    assert "Referral" not in plain and "Margin" not in plain.split("Left out")[-1].split("\n", 1)[1]
    assert "Left out because you may not see the fields they read: Sum of Margin." in plain
    assert "<table" in html and "<svg" not in html and ">Website</th>" in html
    assert "For managers" not in plain + html  # the report she may not open: not a word of it

    mia = by_to["mia@example.com"]
    assert mia["Subject"] == "每周来源 · 每周一 08:00"
    plain_zh, html_zh = parts(mia)
    assert line(plain_zh, "官网")[:2] == ["2", "¥1,500.50"] and line(plain_zh, "展会")[0] == "1"
    assert line(plain_zh, "合计")[0] == "4"
    assert "在 Trellis 中打开报表" in html_zh and "退订" in html_zh

    (link,) = re.findall(r'<a href="([^"]+)">Open the report in Trellis</a>', html)
    assert link == f"{BASE}/reports/by_source"
    page = client_for(app, "rita").get(link.removeprefix(BASE))
    assert page.status_code == 200 and "Deals by source" in text(page)

    (skipped,) = rows(crm, rule="managers_only", user_id=user_id(crm, "rita"))
    assert (skipped["last_status"], skipped["last_reason"]) == ("skipped", "not_allowed")
    (no_mail,) = rows(crm, rule="weekly_sources", user_id=user_id(crm, "sam"))
    assert (no_mail["last_status"], no_mail["last_reason"]) == ("skipped", "no_email")
    sent = rows(crm, rule="weekly_sources", user_id=user_id(crm, "rita"))[0]
    assert sent["last_sent_at"] == MONDAY_8 and sent["next_run_at"] == MONDAY_8 + dt.timedelta(days=7)


def test_a_due_time_is_sent_once_even_with_two_workers(crm, mail):
    box = mail[1]
    before = len(box.messages)
    assert run(crm, mail, MONDAY_8 + dt.timedelta(minutes=5)).subscriptions.sent == 0  # the same Monday
    assert len(box.messages) == before
    table = crm.schema.system["sys_subscriptions"]
    due = MONDAY_8 + dt.timedelta(days=7)
    at = due + dt.timedelta(minutes=1)
    crm.test_clock.at(at)
    reports: list[sending.SubscriptionReport] = [sending.SubscriptionReport()] * 2

    def work(index: int) -> None:
        reports[index] = sending.send_due(crm, at)

    assert run_in_threads(work, 2) == []
    assert sum(r.sent for r in reports) == 2  # Rita's and Mia's, once each
    outbox = crm.schema.system["sys_outbox"]
    with crm.engine.connect() as c:
        written = c.execute(
            sa.select(sa.func.count()).select_from(outbox).where(outbox.c.rule == "subscription:weekly_sources")
        ).scalar_one()
    assert written == 4  # two Mondays, two recipients
    assert {r["next_run_at"] for r in rows(crm, rule="weekly_sources")} == {due + dt.timedelta(days=7)}
    with crm.engine.begin() as c:  # a worker stopped for two days: that time is skipped, not sent late
        c.execute(sa.update(table).where(table.c.rule == "weekly_sources").values(next_run_at=due))
    late = sending.send_due(crm, due + dt.timedelta(days=2))
    assert late.sent == 0 and late.skipped == {"missed": 3}


def test_the_subscribe_form_and_my_subscriptions(crm, app):
    rita = client_for(app, "rita")
    page = text(rita.get("/reports/by_source?period=this_month"))
    assert "Subscribe by e-mail" in page and 'action="/reports/by_source/subscribe"' in page
    form = {"frequency": "weekly", "weekday": "friday", "day": "1", "time": "17:30", "period": "this_month"}
    done = post(rita, "/reports/by_source/subscribe", form, form_url="/reports/by_source")
    assert done.status_code == 302 and done.headers["Location"] == "/subscriptions"
    mine = text(rita.get("/subscriptions"))
    assert "Subscribed: you will get this report by e-mail, Every Friday at 17:30." in mine
    assert "Every Friday at 17:30" in mine and "This month" in mine and "Sent to your role" in mine
    assert "Not sent: you may no longer open it." in mine  # the managers' report of her role's rule
    (own,) = rows(crm, user_id=user_id(crm, "rita"), rule=None)
    assert own["schedule"] == "weekly: friday 17:30" and own["filters"] == {"period": "this_month"}

    again = post(rita, "/reports/by_source/subscribe", form, form_url="/reports/by_source")
    assert again.status_code == 400 and "already subscribed" in text(again)
    bad_time = post(rita, "/reports/by_source/subscribe", {**form, "time": "25:00"}, form_url="/reports/by_source")
    assert bad_time.status_code == 400 and "24-hour clock (08:00), not 25:00" in text(bad_time)
    bad_day = post(
        rita,
        "/reports/by_source/subscribe",
        {**form, "frequency": "monthly", "day": "40"},
        form_url="/reports/by_source",
    )
    assert bad_day.status_code == 400 and "a number from 1 to 31, not 40" in text(bad_day)
    bad_period = post(
        rita, "/reports/by_source/subscribe", {**form, "period": "someday"}, form_url="/reports/by_source"
    )
    assert bad_period.status_code == 400 and "period is one of" in text(bad_period)
    hidden = post(rita, "/reports/for_managers/subscribe", form, form_url="/reports/by_source")
    assert hidden.status_code == 404
    assert rita.post("/reports/by_source/subscribe", data=form).status_code == 400  # no CSRF token

    mia = client_for(app, "mia")
    assert (
        mia.post(
            f"/subscriptions/{own['id']}/unsubscribe", data={"csrf_token": token(mia.get("/subscriptions"))}
        ).status_code
        == 404
    )
    assert rows(crm, id=own["id"])


def test_my_own_subscription_is_sent_with_its_period_then_ended_from_my_page(crm, mail, app):
    box = mail[1]
    (own,) = rows(crm, user_id=user_id(crm, "rita"), rule=None)
    friday = own["next_run_at"]
    assert friday == dt.datetime(2026, 5, 8, 9, 30, tzinfo=dt.UTC)  # the Friday 17:30 after Monday 4 May
    before = len(box.messages)
    report = run(crm, mail, friday)
    assert report.subscriptions.sent == 1
    (message,) = [m for m in box.messages[before:] if "Friday" in m["Subject"]]  # (Monday's outbox went too)
    plain, _ = parts(message)
    assert message["Subject"] == "Deals by source · Every Friday at 17:30"
    assert "Period: This month (2026-05-01 – 2026-05-31)" in plain and line(plain, "Total")[0] == "0"
    assert f"{BASE}/reports/by_source?period=this_month" in plain

    rita = client_for(app, "rita")
    done = post(rita, f"/subscriptions/{own['id']}/unsubscribe", form_url="/subscriptions")
    assert done.status_code == 302 and "Unsubscribed." in text(rita.get("/subscriptions"))
    assert rows(crm, id=own["id"]) == []


def test_the_unsubscribe_link_works_without_logging_in(crm, mail, app):
    box = mail[1]
    rita_mail = next(m for m in box.messages if m["To"] == "rita@example.com" and "Weekly" in m["Subject"])
    (link,) = re.findall(r'<a href="([^"]+)">Unsubscribe</a>', parts(rita_mail)[1])
    path = link.removeprefix(BASE)
    anonymous = app.test_client()
    ask = anonymous.get(path)
    assert ask.status_code == 200 and "Stop receiving Deals by source by e-mail (Every Monday at 08:00)?" in text(ask)
    assert (
        rows(crm, rule="weekly_sources", user_id=user_id(crm, "rita"))[0]["unsubscribed_at"] is None
    )  # a GET ends nothing
    done = post(anonymous, path)
    assert done.status_code == 200 and "You will no longer receive Deals by source" in text(done)
    assert "not valid any more" in text(anonymous.get(path))
    assert "not valid any more" in text(anonymous.get("/subscriptions/unsubscribe/forged-token"))

    before = len(box.messages)
    next_monday = rows(crm, rule="weekly_sources", user_id=user_id(crm, "mia"))[0]["next_run_at"]
    run(crm, mail, next_monday)  # the rule does not subscribe her again
    assert [m["To"] for m in box.messages[before:]] == ["mia@example.com"]
    assert "Weekly sources" not in text(client_for(app, "rita").get("/subscriptions"))

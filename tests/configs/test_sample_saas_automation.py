"""The SaaS sample's automation, end to end as a company lives it: records entered through
the write path at a moving clock, ``trellis worker --once --at`` run as an operator runs
it, e-mails received by a real SMTP server, webhooks by a receiver that fails now and then.

Scenarios: S10 scoring, S11 round robin with territory, cap and availability, S13 untouched
leads (24 h, 12 h for high intent, supervisor in copy), S15 engagement, S19 stalled deals,
S23 contract signed, S24 renewals, S25 task reminders, S26 birthdays, S28 churn risk, S40
archiving. Each rule fires once per occurrence, however often the worker passes.

Runs on SQLite, and on PostgreSQL when TRELLIS_TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import datetime as dt
import itertools

from tests.configs.conftest import START, ZONE
from tests.receivers import webhook_receiver

HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)
LEAD = {
    "company": "云帆",
    "source": "referral",
    "intent_level": "medium",
    "region": "south_china",
    "email": "lead@example.com",
}


_NUMBERS = itertools.count(1)


def lead(**values) -> dict:
    """A lead with its own e-mail address (the sample's duplicate rule warns of a repeated one)."""
    return {**LEAD, "email": f"lead{next(_NUMBERS)}@example.com", **values}


def test_s10_s11_s13_web_leads_are_scored_dealt_out_and_chased_until_someone_calls(sample):
    saas = sample("sample_saas")
    with saas.crm.session() as s:  # the web form: no owner
        plain = s.create("lead", lead(name="王伟", source="website_signup"))
        hot = s.create("lead", lead(name="李娜", source="online_ads", intent_level="high"))
        called = s.create("lead", lead(name="张敏", source="free_trial", intent_level="high"))
        east = s.create("lead", lead(name="赵磊", source="webinar", region="east_china", industry="saas"))
    assert [r["score"] for r in (plain, hot, called, east)] == [60, 40, 70, 50]  # S10, by source
    assert [saas.username(r["owner_id"]) for r in (plain, hot, called)] == ["alice", "bob", "carol"]  # S11
    assert saas.username(east["owner_id"]) == "alice"  # the East-China internet territory: the east team's turn

    first = saas.worker(START + dt.timedelta(minutes=1))
    assert "outbox: sent 4, retried 0, dead 0" in first.output, first.output
    assert saas.mails("新线索") == [
        ("alice@example.com", "新线索：王伟（云帆）"),
        ("alice@example.com", "新线索：赵磊（云帆）"),
        ("bob@example.com", "新线索：李娜（云帆）"),
        ("carol@example.com", "新线索：张敏（云帆）"),
    ]

    saas.clock.at(START + 2 * HOUR)  # carol calls her lead back
    with saas.crm.session("carol") as s:
        s.create(
            "interaction",
            {
                "lead": called.id,
                "method": "call",
                "occurred_at": saas.clock.now,
                "content": "已电话沟通需求",
                "next_step": "发送报价",
            },
        )

    assert saas.worker(START + 12 * HOUR - dt.timedelta(minutes=1)).rules == {}
    twelve = saas.worker(START + 12 * HOUR)
    assert twelve.fired("untouched_high_intent_lead") == 1  # 李娜 only: 张敏 was called
    # one e-mail to the owner with the supervisor in copy, delivered to both
    assert saas.mails("超时未跟进") == [("bob@example.com", "线索 李娜 超时未跟进")]
    [copied] = [m for m in saas.mailbox.messages if "超时未跟进" in m["Subject"]]
    assert copied["Cc"] == "mike@example.com"
    assert sorted(saas.mailbox.envelopes[saas.mailbox.messages.index(copied)]) == [
        "bob@example.com",
        "mike@example.com",
    ]

    day = saas.worker(START + 24 * HOUR)
    assert day.fired("untouched_lead") == 3 and day.fired("untouched_high_intent_lead") == 0
    assert sorted(saas.notifications("untouched_lead")) == [  # the owner, the supervisor in copy
        ("alice", "线索 王伟 超时未跟进"),
        ("alice", "线索 赵磊 超时未跟进"),
        ("bob", "线索 李娜 超时未跟进"),
        ("mike", "线索 李娜 超时未跟进"),
        ("mike", "线索 王伟 超时未跟进"),
        ("mike", "线索 赵磊 超时未跟进"),
    ]
    assert "线索 张敏 超时未跟进" not in {subject for _, subject in saas.mails()}

    later = [saas.worker(START + 24 * HOUR + d) for d in (HOUR, DAY, 6 * DAY)]
    assert [p.rules for p in later] == [{}, {}, {}]  # never twice
    assert len(saas.mails("超时未跟进")) == 1 + 3  # each to its owner, mike in copy


def test_s11_a_rep_with_30_open_leads_or_away_is_skipped(sample):
    saas = sample("sample_saas")
    ids = saas.user_ids()
    with saas.crm.session() as s:  # alice already holds 30 open leads (and closed ones, which do not count)
        full = [s.create("lead", lead(name=f"老客户 {i}", owner_id=ids["alice"])) for i in range(30)]
        s.create("lead", lead(name="已放弃", owner_id=ids["alice"], status="disqualified", disqualified_reason="重复"))
    with saas.crm.directory() as d:
        d.edit("carol", away_until=START + 3 * DAY)
    with saas.crm.session() as s:
        dealt = [s.create("lead", lead(name=f"新 {i}")) for i in range(4)]
    assert [saas.username(r["owner_id"]) for r in dealt] == ["bob", "dave", "bob", "dave"]
    with saas.crm.session("alice") as s:  # one of hers is disqualified: she has room again
        s.update("lead", full[0].id, {"status": "disqualified", "disqualified_reason": "联系不上"})
    saas.clock.at(START + 4 * DAY)  # and carol is back
    with saas.crm.session() as s:
        again = [s.create("lead", lead(name=f"再 {i}")) for i in range(3)]
    assert sorted(saas.username(r["owner_id"]) for r in again) == ["alice", "bob", "carol"]


def test_s15_three_campaign_clicks_raise_the_score_tag_and_create_a_task(sample):
    saas = sample("sample_saas")
    with saas.crm.session() as s:
        clicked = s.create("lead", lead(name="孙丽", source="website_signup"))
        for clicks in (1, 2, 3, 4):  # the e-mail tool reports each click
            s.update("lead", clicked.id, {"campaign_clicks": clicks})
        now = s.get("lead", clicked.id)
    assert now["score"] == 80 and now["tags"] == ["engaged"]  # 60 for the source, +20 once
    tasks = saas.records("task", lead=clicked.id)
    assert [(t["subject"], t["priority"], saas.username(t["owner_id"])) for t in tasks] == [
        ("跟进高互动线索：孙丽", "high", "alice")
    ]
    assert tasks[0]["due_date"] == (START + DAY).astimezone(ZONE).date()
    assert saas.notifications("engaged_lead") == [("alice", "线索 孙丽 多次点击营销邮件")]


def deal(saas, name: str, stage: str, **values):
    """A deal of alice's entered at ``stage`` by an import (the system may create at any stage)."""
    ids = saas.user_ids()
    with saas.crm.session() as s:
        account = s.create("account", {"name": f"{name}公司", "owner_id": ids["alice"]})
        signatory = s.create(
            "contact",
            {
                "last_name": "王",
                "first_name": "总",
                "account": account.id,
                "decision_role": "decision_maker",
                "owner_id": ids["alice"],
            },
        )
        return s.create(
            "opportunity",
            {
                "name": name,
                "account": account.id,
                "contact": signatory.id,
                "stage": stage,
                "deal_type": "new_business",
                "product_line": "crm_suite",
                "needs_analysis": "需要销售自动化",
                "budget": 200000,
                "quote_file": {"key": f"quotes/{name}.pdf", "name": f"{name}.pdf"},
                "owner_id": ids["alice"],
                **values,
            },
        )


def test_s19_a_deal_five_days_in_demo_and_a_quote_a_week_old_nudge_the_owner(sample):
    saas = sample("sample_saas")
    demo = deal(saas, "演示中", "solution_demo")
    quote = deal(saas, "报价中", "quote")
    assert saas.worker(START + 5 * DAY - dt.timedelta(minutes=1)).rules == {}
    five = saas.worker(START + 5 * DAY)
    assert five.fired("deal_stalled_in_demo") == 1  # the quote deal is not in demo
    assert sorted(saas.notifications("deal_stalled_in_demo")) == [
        ("alice", "商机 演示中 已停留5天"),
        ("mike", "商机 演示中 已停留5天"),
    ]
    week = saas.worker(START + 7 * DAY)
    assert week.fired("quote_not_updated") == 1 and week.fired("deal_stalled_in_demo") == 0
    assert [n for _, n in saas.notifications("quote_not_updated")] == ["商机 报价中 报价7天未更新"]
    saas.clock.at(START + 8 * DAY)
    with saas.crm.session("alice") as s:  # the deal goes back to demo: a new stay, a new nudge after 5 days
        s.update("opportunity", quote.id, {"stage": "solution_demo"})
    assert saas.worker(START + 13 * DAY - HOUR).fired("deal_stalled_in_demo") == 0
    back = saas.worker(START + 13 * DAY)
    assert back.fired("deal_stalled_in_demo") == 1
    assert saas.notifications("deal_stalled_in_demo")[-1][1] == "商机 报价中 已停留5天"
    assert demo.id != quote.id


def test_s23_a_signed_contract_creates_the_survey_task_and_invoices_through_a_flaky_finance_hook(sample):
    with webhook_receiver("finance-secret", fail_before=0.3, fail_after=0.3) as (url, finance):
        saas = sample("sample_saas", FINANCE_WEBHOOK_SECRET="finance-secret")
        deals = [deal(saas, f"签约{i}", "quote") for i in range(3)]
        saas.clock.at(START + HOUR)
        with saas.crm.session("alice") as s:
            for d in deals:
                s.update("opportunity", d.id, {"stage": "contract_signed"})
        tasks = saas.records("task")
        assert sorted((t["subject"], t["opportunity"]) for t in tasks) == sorted(
            (f"满意度回访：签约{i}", d.id) for i, d in enumerate(deals)
        )
        assert {t["due_date"] for t in tasks} == {(START + HOUR + 14 * DAY).astimezone(ZONE).date()}

        unset = saas.worker(START + 2 * HOUR)  # the operator forgot the URL: nothing lost, it says why
        assert "the environment variable FINANCE_WEBHOOK_URL (the webhook's URL) is not set" in unset.output
        saas.env["FINANCE_WEBHOOK_URL"] = url
        at = START + 3 * HOUR
        for _ in range(40):  # passes until everything is delivered, each after the last backoff
            saas.worker(at)
            if all(m["status"] == "sent" for m in saas.rows("sys_outbox", kind="webhook")):
                break
            at += HOUR
    messages = saas.rows("sys_outbox", kind="webhook")
    assert [m["status"] for m in messages] == ["sent"] * 3
    assert {m["target"] for m in messages} == {"${FINANCE_WEBHOOK_URL}"}  # the address is not stored
    assert finance.bad_signatures == []
    assert sorted(p["record"]["name"] for p in finance.processed.values()) == ["签约0", "签约1", "签约2"]
    assert set(finance.processed) == {m["idempotency_key"] for m in messages}
    assert sum(finance.seen.values()) > 3  # it failed along the way, and each key was processed once


def test_s24_the_owner_and_customer_success_hear_of_a_renewal_30_days_ahead(sample):
    saas = sample("sample_saas")
    ids = saas.user_ids()
    today = START.astimezone(ZONE).date()
    with saas.crm.session() as s:
        soon = s.create(
            "account",
            {
                "name": "星辰零售",
                "owner_id": ids["alice"],
                "customer_success_manager": ids["sam"],
                "subscription_plan": "professional",
                "seats": 50,
                "contract_end": today + dt.timedelta(days=30),
            },
        )
        s.create("account", {"name": "远期客户", "owner_id": ids["bob"], "contract_end": today + dt.timedelta(days=90)})
    first = saas.worker(START)
    assert first.fired("renewal_reminder") == 1
    subject = f"星辰零售 的订阅将于 {today + dt.timedelta(days=30)} 到期"
    assert saas.notifications("renewal_reminder") == [("alice", subject), ("sam", subject)]
    assert saas.mails("订阅") == [("alice@example.com", subject), ("sam@example.com", subject)]
    tasks = saas.records("task", account=soon.id)
    assert [(t["subject"], t["priority"], saas.username(t["owner_id"])) for t in tasks] == [
        ("续费跟进：星辰零售", "high", "alice")
    ]
    assert [saas.worker(START + d).fired("renewal_reminder") for d in (DAY, 3 * DAY)] == [0, 0]
    assert saas.worker(START + 60 * DAY).fired("renewal_reminder") == 1  # the other one, in its turn


def test_s25_a_task_reminder_reaches_its_assignee_unless_the_task_is_done(sample):
    saas = sample("sample_saas")
    with saas.crm.session("alice") as s:
        call = s.create("task", {"subject": "回访王总", "reminder_at": START + 2 * HOUR})
        done = s.create("task", {"subject": "发资料", "reminder_at": START + 2 * HOUR})
        s.update("task", done.id, {"status": "done"})
    assert saas.worker(START + HOUR).fired("task_reminder") == 0
    due = saas.worker(START + 2 * HOUR)
    assert (due.fired("task_reminder"), due.rules["task_reminder"][1]) == (1, 1)  # fired for one, skipped the done one
    assert saas.notifications("task_reminder") == [("alice", "任务提醒：回访王总")]
    assert saas.mails("任务提醒") == [("alice@example.com", "任务提醒：回访王总")]
    assert call.id


def test_s26_birthday_reminder_a_week_ahead_and_a_greeting_on_the_day_every_year(sample):
    saas = sample("sample_saas")
    ids = saas.user_ids()
    with saas.crm.session() as s:
        account = s.create("account", {"name": "博远教育", "owner_id": ids["bob"]})
        s.create(
            "contact",
            {
                "last_name": "陈",
                "first_name": "静",
                "account": account.id,
                "decision_role": "decision_maker",
                "birthday": dt.date(1985, 6, 8),
                "email": "chenjing@example.com",
                "owner_id": ids["bob"],
            },
        )
    week = saas.worker(START)  # 1 June: seven days before 8 June
    assert week.fired("birthday_reminder") == 1
    assert saas.notifications("birthday_reminder") == [("bob", "陈静 的生日还有7天")]
    assert saas.worker(START + DAY).fired("birthday_reminder") == 0
    day = saas.worker(START + 7 * DAY)
    assert day.fired("birthday_greeting") == 1
    assert saas.mails("生日快乐") == [("chenjing@example.com", "生日快乐，陈静！")]
    greeting = next(m for m in saas.mailbox.messages if m["To"] == "chenjing@example.com")
    assert "云帆软件" in greeting.get_content()  # the company's name from the settings
    next_year = saas.worker(START + 365 * DAY)
    assert next_year.fired("birthday_reminder") == 1
    assert saas.worker(START + 372 * DAY).fired("birthday_greeting") == 1


def test_s28_three_quiet_months_tag_a_customer_as_churn_risk_and_set_a_call_back(sample):
    saas = sample("sample_saas")
    ids = saas.user_ids()
    with saas.crm.session() as s:
        quiet = s.create("account", {"name": "沉默客户", "customer_type": "enterprise", "owner_id": ids["alice"]})
        partner = s.create(
            "account", {"name": "渠道伙伴", "customer_type": "channel_partner", "owner_id": ids["alice"]}
        )
        busy = s.create("account", {"name": "活跃客户", "customer_type": "smb", "owner_id": ids["alice"]})
    with saas.crm.session("alice") as s:
        for account in (quiet, partner, busy):
            s.create(
                "interaction",
                {
                    "account": account.id,
                    "method": "visit",
                    "occurred_at": START,
                    "content": "季度拜访",
                    "next_step": "—",
                },
            )
    saas.clock.at(START + 60 * DAY)
    with saas.crm.session("alice") as s:  # the busy one is called again after two months
        s.create(
            "interaction",
            {
                "account": busy.id,
                "method": "call",
                "occurred_at": saas.clock.now,
                "content": "续约意向",
                "next_step": "报价",
            },
        )
    assert saas.worker(START + 90 * DAY - HOUR).fired("churn_risk_no_contact") == 0
    quarter = saas.worker(START + 90 * DAY)
    assert quarter.rules["churn_risk_no_contact"][:2] == (1, 1)  # the partner is skipped
    tagged = {a["name"]: a["tags"] for a in saas.records("account")}
    assert tagged["沉默客户"] == ["churn_risk"] and not tagged["渠道伙伴"] and not tagged["活跃客户"]
    tasks = saas.records("task", account=quiet.id)
    assert [(t["subject"], t["priority"], saas.username(t["owner_id"])) for t in tasks] == [
        ("流失预警回访：沉默客户", "high", "alice")
    ]
    assert saas.notifications("churn_risk_no_contact") == [("alice", "客户 沉默客户 有流失风险")]
    assert saas.worker(START + 91 * DAY).fired("churn_risk_no_contact") == 0


def test_s40_leads_nobody_touched_for_half_a_year_are_archived_not_deleted(sample):
    saas = sample("sample_saas")
    ids = saas.user_ids()
    with saas.crm.session() as s:
        stale = s.create("lead", lead(name="旧线索", owner_id=ids["alice"]))
        junk = s.create(
            "lead", lead(name="无效线索", owner_id=ids["alice"], status="disqualified", disqualified_reason="空号")
        )
        good = s.create("lead", lead(name="已确认", owner_id=ids["alice"], status="qualified"))
        worked = s.create("lead", lead(name="在跟进", owner_id=ids["alice"]))
    saas.clock.at(START + 100 * DAY)
    with saas.crm.session("alice") as s:
        s.update("lead", worked.id, {"status": "working"})
    assert saas.worker(START + 180 * DAY - HOUR).fired("archive_stale_leads") == 0
    half_year = saas.worker(START + 180 * DAY)
    assert half_year.fired("archive_stale_leads") == 2
    with saas.crm.session("alice") as s:
        assert sorted(r["name"] for r in s.query("lead")) == ["在跟进", "已确认"]  # out of the lists
        assert s.get("lead", stale.id)["archived_at"] is not None  # kept, with its history
        assert s.get("lead", junk.id)["archived_at"] is not None
        assert s.get("lead", good.id)["archived_at"] is None
    audit = saas.rows("sys_audit", object="lead", record_id=stale.id)
    assert audit[-1]["username"] == "automation:archive_stale_leads"
    assert saas.worker(START + 280 * DAY).fired("archive_stale_leads") == 1  # 在跟进, 180 days after its last change

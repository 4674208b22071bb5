"""``explain stage`` and the real move never disagree, and ``trellis explain`` as a user runs it.

On the SaaS sample with its demo users: a deal Bob owns at its first stage. For each move asked
about, ``explain_stage`` (a dry run of the move) is compared with the move itself, made through
the write path right after: refused by the same fields with the same codes and messages, refused
by the same missing permission, held by the same approval rules — or accepted. After the
explanations nothing has been written (no stage history, no approval request).
"""

from __future__ import annotations

import json
import random

from click.testing import CliRunner

from engine import PermissionDenied, ValidationFailed
from engine.cli import main
from engine.runtime.demo import data as demo
from engine.runtime.messages import speaking
from engine.runtime.security.explain import explain_access
from engine.runtime.workflow.explain_stage import explain_stage
from tests.conftest import CONFIGS

CONFIG = str(CONFIGS / "sample_saas.yaml")


def _deal(sample) -> int:
    """A deal of Bob's at the first stage, without needs analysis."""
    crm = sample.crm
    bob = sample.user_ids()["bob"]
    rng = random.Random(17)
    with crm.session() as s:
        account = demo.create_sample_record(s, crm.config.objects["account"], 0, rng, {}, {"owner_id": bob})
        fixed = {"owner_id": bob, "account": account, "stage": "initial_contact", "needs_analysis": None}
        fixed["close_date"] = sample.clock().date().replace(year=2099)
        deal = demo.create_sample_record(
            s, crm.config.objects["opportunity"], 0, rng, {"account": {account: bob}}, fixed
        )
    assert deal is not None
    return deal


def _real_move(crm, user: str, deal: int, stage: str, reason: str | None = None, language: str = "en"):
    """The move itself: ("ok", pending rules) or the refusal as explain reports it."""
    try:
        with speaking(language), crm.session(user) as s:
            record = s.update("opportunity", deal, {"stage": stage}, reason=reason)
            pending = record.pending_approval
            return "ok", tuple(pending.rules) if pending else ()
    except ValidationFailed as exc:
        with speaking(language):
            return "refused", sorted((name, p.code, p.message) for name, found in exc.errors.items() for p in found)
    except PermissionDenied as exc:
        return "denied", str(exc)


def _told(found):
    if found.denied:
        return "denied", found.denied
    if found.problems:
        return "refused", sorted((p.field, p.code, p.message) for p in found.problems)
    return "ok", found.approvals


def test_explain_stage_says_what_the_real_move_does(sample):
    saas = sample("sample_saas")
    crm = saas.crm
    deal = _deal(saas)

    # Bob may move one stage on; skipping one needs skip_stage, which sales reps lack.
    step = explain_stage(crm, "opportunity", deal, "needs_confirmed", "bob")
    assert step.ok and step.transition == "next" and not step.gate
    skip = explain_stage(crm, "opportunity", deal, "solution_demo", "bob")
    assert not skip.ok and skip.transition == "skip" and "skip_stage" in skip.denied
    # Mike (a manager) may skip, but the demo stage needs the needs analysis and a reason.
    gated = explain_stage(crm, "opportunity", deal, "solution_demo", "mike")
    assert gated.missing == ("needs_analysis",)
    assert {p.code for p in gated.problems} == {"required_for_stage", "reason_required"}
    with_reason = explain_stage(crm, "opportunity", deal, "solution_demo", "mike", reason="Demo booked")
    assert [p.field for p in with_reason.problems] == ["needs_analysis"]
    assert "Needs analysis" in " ".join(with_reason.sentences("en"))

    asked = [(step, "bob", None), (skip, "bob", None), (gated, "mike", None), (with_reason, "mike", "Demo booked")]
    assert not saas.rows("sys_stage_history", record_id=deal)[1:], "explaining wrote a stage move"
    assert not saas.rows("sys_approvals"), "explaining started an approval"
    for found, user, reason in asked[1:]:  # the refused ones first: they change nothing
        assert _told(found) == _real_move(crm, user, deal, found.stage, reason), found.stage

    # Filled, the skip is accepted — held for the manager's approval, as the real move is.
    with crm.session("bob") as s:
        s.update("opportunity", deal, {"needs_analysis": "Twelve seats, SSO, a Q3 start."})
    filled = explain_stage(crm, "opportunity", deal, "solution_demo", "mike", reason="Demo booked")
    assert filled.ok and not filled.missing and filled.approvals
    assert "would wait for approval" in " ".join(filled.sentences("en"))
    assert not saas.rows("sys_approvals")
    assert _told(filled) == _real_move(crm, "mike", deal, "solution_demo", "Demo booked")
    assert len(saas.rows("sys_approvals")) == 1

    # While that request waits, the stage is locked: explained, and refused, alike.
    locked = explain_stage(crm, "opportunity", deal, "needs_confirmed", "bob", language="zh")
    assert [p.code for p in locked.problems] == ["approval_pending"]
    assert "现在移动会被拒绝" in locked.sentences("zh")[-1]
    assert _told(locked) == _real_move(crm, "bob", deal, "needs_confirmed", language="zh")
    with crm.session() as s:  # explain access tells the lock too
        access = explain_access(s, "opportunity", deal, "bob", "en")
    assert "stage" in access.locked_fields and access.can("edit")
    assert "A pending approval locks Sales stage: nobody can change them until it is decided." in access.sentences("en")

    # Another deal: Bob's one step on is explained as accepted, and it is.
    other = _deal(saas)
    step = explain_stage(crm, "opportunity", other, "needs_confirmed", "bob", language="zh")
    assert step.ok and "现在可以移动" in step.sentences("zh")[-1]
    assert _told(step) == _real_move(crm, "bob", other, "needs_confirmed") == ("ok", ())


def test_trellis_explain_as_an_operator_runs_it(sample):
    saas = sample("sample_saas")
    deal = _deal(saas)
    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(main, ["explain", *args, "--db", saas.db_url])

    mike = run("access", CONFIG, "mike", "opportunity", str(deal), "--lang", "en")
    assert mike.exit_code == 0, mike.output
    assert "read: Yes" in mike.output and "edit: Yes" in mike.output
    assert "its owner Bob Li 李波 is in Mike Wang 王明's team" in mike.output
    sara = run("access", CONFIG, "sara", "opportunity", str(deal), "--lang", "en")
    assert "read: No" in sara.output and "Cannot read: its owner Bob Li 李波 is in the team" in sara.output
    fiona = run("access", CONFIG, "fiona", "opportunity", str(deal), "--lang", "en")
    assert "Hidden from Fiona Sun 孙菲" in fiona.output and "Needs analysis" in fiona.output
    zh = run("access", CONFIG, "sara", "opportunity", str(deal))  # the company's first language
    assert "不能查看" in zh.output

    who = run("access", CONFIG, "--who", "opportunity", str(deal), "--json")
    assert who.exit_code == 0, who.output
    readers = {r["user"]: r for r in json.loads(who.output)["readers"]}
    assert {"adam", "bob", "mike", "emma", "fiona"} <= set(readers) and "sara" not in readers
    assert readers["mike"]["edit"] and not readers["emma"]["edit"]

    stage = run("stage", CONFIG, "opportunity", str(deal), "solution_demo", "--as", "bob", "--lang", "en")
    assert stage.exit_code == 0, stage.output
    assert "a skip past stages" in stage.output and "skip_stage" in stage.output
    zh = run("stage", CONFIG, "opportunity", str(deal), "solution_demo", "--as", "bob", "--lang", "zh")
    assert "会跳过 1 个阶段，需要 skip_stage 权限" in zh.output, zh.output  # PermissionDenied in zh too
    assert "which needs" not in zh.output

    for args, problem in (
        (("access", CONFIG, "nobody", "opportunity", str(deal)), "there is no user 'nobody'"),
        (("access", CONFIG, "bob", "opportunity", "999999"), "opportunity 999999 not found"),
        (("access", CONFIG, "bob", "nothing", "1"), "unknown object 'nothing'"),
        (("stage", CONFIG, "opportunity", str(deal), "nowhere", "--lang", "en"), "Deal has no stage 'nowhere'"),
        (("stage", CONFIG, "account", "1", "quote", "--lang", "en"), "has no pipeline"),
    ):
        failed = run(*args)
        assert failed.exit_code == 1 and problem in failed.output and "Traceback" not in failed.output, failed.output
    with saas.crm.directory() as directory:
        directory.disable("bob")
    gone = run("access", CONFIG, "bob", "opportunity", str(deal), "--lang", "en")
    assert "read: No" in gone.output and "account is disabled or expired" in gone.output
    assert "Can read: Bob Li 李波 owns it" in gone.output  # were it active
    after = json.loads(run("access", CONFIG, "--who", "opportunity", str(deal), "--json").output)
    assert "bob" not in {r["user"] for r in after["readers"]} and after["inactive_left_out"] == 1

    usage = run("access", CONFIG, "opportunity", str(deal))
    assert usage.exit_code == 2 and "CONFIG USER OBJECT ID" in usage.output

"""Several pipelines per object in the web UI (webui/ui/pipeline.py, board.py, forms.py): a
renewal (``deal_type: renewal``) shows the renewal pipeline on its stage path, in its edit
form's stage select and its stage history (with that pipeline's labels, "Renewed" for the
shared key ``won``); the board has a pipeline switcher and one board per pipeline; the move
endpoint accepts only the stages of the record's pipeline.
"""

from __future__ import annotations

import re

import pytest

from tests.webui.conftest import post, text, token

CONFIG = """
trellis: 1
settings: {timezone: Asia/Shanghai, currency: CNY, locale: en_US, languages: [en, zh]}
objects:
  deal:
    title: "{name}"
    fields:
      name: {type: text, required: true}
      deal_type: {type: picklist, values: [new_business, renewal]}
      lost_reason: {type: picklist, values: [price, other]}
    pipeline:
      stages:
        - {key: prospect, label: {en: Prospect, zh: 潜在}}
        - {key: quote, label: {en: Quote, zh: 报价}}
        - {key: won, label: {en: Won, zh: 赢单}, outcome: won}
        - {key: lost, label: {en: Lost, zh: 输单}, outcome: lost}
      by: deal_type
      pipelines:
        renewal:
          label: {en: Renewals, zh: 续费管道}
          when: [renewal]
          stages:
            - {key: renewal_due, label: {en: Renewal due, zh: 待续费}}
            - {key: won, label: {en: Renewed, zh: 已续费}, outcome: won, color: "#2e7d32"}
            - {key: churned, label: {en: Churned, zh: 流失}, outcome: lost}
roles:
  rep:
    objects: {deal: {read: all, edit: all, create: true}}
"""


@pytest.fixture
def crm(open_crm):
    return open_crm(CONFIG, {"rita": {"roles": ["rep"]}})


@pytest.fixture
def deals(crm):
    with crm.session(user="rita") as session:
        fresh = session.create("deal", {"name": "Fresh Co", "deal_type": "new_business"})
        plain = session.create("deal", {"name": "Plain Co"})
        renewal = session.create("deal", {"name": "Again Co", "deal_type": "renewal"})
    return {"fresh": fresh, "plain": plain, "renewal": renewal}


def card_ids(page: str) -> list[int]:
    return sorted(int(i) for i in re.findall(r'<li class="card" id="card-(\d+)"', page))


def stage_options(page: str) -> list[str]:
    select = re.search(r'<select[^>]*name="stage"[^>]*>(.*?)</select>', page, re.S)
    assert select, "the form has no stage select"
    return re.findall(r'<option value="[^"]+"[^>]*>([^<]+)</option>', select.group(1))


def test_a_renewal_shows_its_own_pipeline_on_the_record_page_and_moves_through_it(login, deals):
    client = login("rita")
    renewal = deals["renewal"]
    page = text(client.get(f"/o/deal/{renewal.id}"))
    path = page[page.index('class="stage-path"') : page.index("</ol>", page.index('class="stage-path"'))]
    assert re.findall(r'<span class="stage-label">([^<]+)</span>', path) == ["Renewal due", "Renewed", "Churned"]
    assert "Current stage: Renewal due" in page and "Renewals" in page
    assert 'href="/o/deal/board?pipeline=renewal"' in page
    assert "stage-deal-renewal-won" in path  # the renewal's own colour class
    assert ".stage-deal-renewal-won { --stage-color: #2e7d32; }" in text(client.get("/stages.css"))

    csrf = token(page)
    wrong = client.post(
        f"/o/deal/{renewal.id}/move", json={"stage": "quote", "version": renewal.version}, headers={"X-CSRFToken": csrf}
    )
    assert wrong.status_code == 422 and "quote" in wrong.get_json()["error"]["message"]
    moved = client.post(
        f"/o/deal/{renewal.id}/move", json={"stage": "won", "version": renewal.version}, headers={"X-CSRFToken": csrf}
    )
    assert moved.status_code == 200 and moved.get_json()["message"] == "Moved to Renewed."
    page = text(client.get(f"/o/deal/{renewal.id}"))
    assert "Renewal due → Renewed" in page and "created in Renewal due" in page
    listed = text(client.get("/o/deal?q=again"))
    assert re.search(r'<td data-label="Stage">\s*Renewed\s*</td>', listed)  # not the default pipeline's "Won"
    assert "renewal_due" not in page.split('id="stage-history"')[1].split("</section>")[0]
    fresh = text(client.get(f"/o/deal/{deals['fresh'].id}"))
    assert "Current stage: Prospect" in fresh and "Renewal due" not in fresh


def test_the_board_switches_between_pipelines(login, deals):
    client = login("rita")
    page = text(client.get("/o/deal/board"))
    assert card_ids(page) == sorted([deals["fresh"].id, deals["plain"].id])
    switch = re.search(r'<nav class="pipeline-switch"[^>]*>(.*?)</nav>', page, re.S).group(1)
    assert re.findall(r">([^<]+)</a>", switch)[1:] == ["Renewals"]
    assert re.search(r'data-pipeline="default" aria-current="page"', switch)
    assert 'id="column-renewal_due"' not in page and 'id="column-quote"' in page

    renewals = text(client.get("/o/deal/board?pipeline=renewal&q=again"))
    assert card_ids(renewals) == [deals["renewal"].id]
    assert re.search(r'data-pipeline="renewal" aria-current="page"', renewals)
    assert 'id="column-renewal_due"' in renewals and 'id="column-quote"' not in renewals
    heads = re.findall(r'<h2 id="column-[^"]+-h">([^<]+)<', renewals)
    assert heads == ["Renewal due", "Renewed", "Churned"]
    move_menu = re.search(
        rf'<details class="card-menu" id="move-{deals["renewal"].id}">(.*?)</details>', renewals, re.S
    )
    assert re.findall(r'name="stage" value="[^"]+">([^<]+)</button>', move_menu.group(1)) == ["Renewed", "Churned"]
    assert '<input type="hidden" name="pipeline" value="renewal">' in renewals  # the filters keep the board

    unknown = client.get("/o/deal/board?pipeline=upsell")
    assert unknown.status_code == 404
    assert "There is no pipeline “upsell” here; choose one of default" in text(unknown)
    assert "renewal (Renewals)" in text(unknown)


def test_the_edit_form_offers_the_stages_of_the_records_pipeline_in_both_languages(login, deals):
    client = login("rita")
    renewal, fresh = deals["renewal"], deals["fresh"]
    assert stage_options(text(client.get(f"/o/deal/{renewal.id}/edit"))) == ["Renewal due", "Renewed", "Churned"]
    assert stage_options(text(client.get(f"/o/deal/{fresh.id}/edit"))) == ["Prospect", "Quote", "Won", "Lost"]
    refused = post(
        client,
        f"/o/deal/{renewal.id}/edit",
        {"name": "Again Co", "deal_type": "renewal", "stage": "quote", "version": renewal.version},
    )
    assert refused.status_code == 422 and "not a stage of the Renewals pipeline" in text(refused)
    post(client, "/lang", {"lang": "zh"}, form_url="/o/deal")
    assert stage_options(text(client.get(f"/o/deal/{renewal.id}/edit"))) == ["待续费", "已续费", "流失"]
    page = text(client.get("/o/deal/board?pipeline=renewal"))
    assert "续费管道" in page and "1 条记录" in page

"""Lead conversion meets duplicate rules (issue 14 §2, S12) over HTTP, on SQLite and PostgreSQL:
the confirmation page lists a target's likely duplicates with radio choices (link to … / create a
new one anyway), works without JavaScript and converts nothing until the user chose; the REST API
answers 409 ``possible_duplicate`` with the candidates per target and takes ``link`` and
``allow_duplicate``. A record the user may not read is named by its owner only, in every channel."""

from __future__ import annotations

import html
import re

import pytest
from openapi_spec_validator import validate

from engine.runtime.security.tokens import create_token
from tests.runtime.test_conversion_duplicates import CONFIG
from tests.webui.conftest import post, text

USERS = {
    "rita": {"roles": ["rep"], "display_name": "Rita Chen"},
    "sam": {"roles": ["rep"], "display_name": "Sam Li"},
}
PAGE = "/o/lead/{id}/convert/lead_to_customer"
API = "/api/v1/lead/{id}/convert/lead_to_customer"


@pytest.fixture
def crm(open_crm):
    return open_crm(CONFIG, USERS)


@pytest.fixture
def api(client, crm):
    tokens = {name: create_token(crm, name, "t")[0] for name in USERS}

    def call(user, method, url, **kwargs):
        response = client.open(url, method=method, headers={"Authorization": f"Bearer {tokens[user]}"}, **kwargs)
        assert response.mimetype == "application/json" and b"Traceback" not in response.data
        return response

    return call


def create(crm, user, object_name, **values):
    with crm.session(user) as s:
        return s.create(object_name, values, allow_duplicate=True)


def lead(crm, company, **values):
    return create(crm, "rita", "lead", name="王芳", company=company, mobile="13800138000", **values)


def count(crm, object_name):
    with crm.session() as s:
        return s.query(object_name).count()


def status(crm, record):
    with crm.session() as s:
        return s.get("lead", record.id)["status"]


def form_data(page: str, **chosen: str) -> dict[str, str]:
    """What a browser sends from the conversion form as shown (inputs, checked boxes; no radio
    chosen), plus ``chosen`` radio values per target (``account="12"``)."""
    form = page[page.index('class="record-form convert-form"') :]
    data = {}
    for tag in re.findall(r"<input [^>]*>", form):
        kind, name = re.search(r'type="([^"]+)"', tag).group(1), re.search(r'name="([^"]+)"', tag).group(1)
        value = re.search(r'value="([^"]*)"', tag).group(1)
        if kind == "radio" or (kind == "checkbox" and " checked" not in tag) or name == "csrf_token":
            continue
        data[name] = html.unescape(value)
    return data | {f"link.{target}": value for target, value in chosen.items()}


def choices(page: str, target: str = "account") -> list[str]:
    """The values of a target's radio choices on the page."""
    return re.findall(rf'type="radio" id="[^"]+" name="link\.{target}" value="([^"]+)"', page)


def test_the_page_lists_the_candidates_and_converts_only_after_a_choice(crm, login):
    existing = create(crm, "rita", "account", name="上海云帆软件科技有限公司")
    source = lead(crm, "云帆软件（上海）有限公司")
    client = login("rita")
    page = text(client.get(PAGE.format(id=source.id)))
    assert choices(page) == [str(existing.id), "new"]
    assert not re.search(r'name="link\.account" value="[^"]+" checked', page)  # nothing chosen in advance
    assert "Link to 上海云帆软件科技有限公司" in page and f'href="/o/account/{existing.id}"' in page
    assert "Owner: Rita Chen · matched on Name · similarity 100%" in page
    assert "Create a new Account anyway" in page and choices(page, "contact") == []
    asked = post(client, PAGE.format(id=source.id), form_data(page))
    assert asked.status_code == 409 and "link to one of them, or create a new one anyway" in text(asked)
    assert status(crm, source) == "new" and count(crm, "account") == 1 and count(crm, "contact") == 0
    assert choices(text(asked)) == [str(existing.id), "new"]
    linked = post(client, PAGE.format(id=source.id), form_data(page, account=str(existing.id)))
    assert linked.status_code == 302, text(linked)
    assert count(crm, "account") == 1 and status(crm, source) == "converted"
    with crm.session() as s:
        assert s.query("contact").first()["account"] == existing.id


def test_create_anyway_in_chinese_and_a_block_rule_leaves_only_linking(crm, login):
    create(crm, "rita", "account", name="Acme Co., Ltd.")
    blocker = create(crm, "rita", "account", name="北京星辰科技有限公司", credit_code="91110000X")
    warned, blocked = lead(crm, "ACME Inc."), lead(crm, "Star Tech", credit_code="91110000X")
    client = login("rita")
    post(client, "/lang", {"lang": "zh"}, form_url=PAGE.format(id=warned.id))
    page = text(client.get(PAGE.format(id=warned.id)))
    assert "该客户可能已存在" in page and "仍然新建客户" in page and "关联“Acme Co., Ltd.”" in page
    made = post(client, PAGE.format(id=warned.id), form_data(page, account="new"))
    assert made.status_code == 302 and count(crm, "account") == 3
    page = text(client.get(PAGE.format(id=blocked.id)))
    assert choices(page) == [str(blocker.id)] and "不允许再新建" in page
    refused = post(client, PAGE.format(id=blocked.id), form_data(page, account="new"))  # a forged choice
    assert refused.status_code == 422 and "「北京星辰科技有限公司」已有相同的" in text(refused)
    assert count(crm, "account") == 3 and status(crm, blocked) == "new"


def test_another_owners_record_is_named_by_its_owner_only_and_cannot_be_linked(crm, login):
    hidden = create(crm, "sam", "account", name="Acme Co., Ltd.", notes="their secret deal")
    source = lead(crm, "ACME Inc")
    client = login("rita")
    page = text(client.get(PAGE.format(id=source.id)))
    assert "A record you cannot open (owned by Sam Li)" in page and choices(page) == ["new"]
    assert "Acme Co., Ltd." not in page and "secret" not in page and f"/o/account/{hidden.id}" not in page
    tried = post(client, PAGE.format(id=source.id), form_data(page, account=str(hidden.id)))  # a forged choice
    answer = text(tried)
    assert tried.status_code == 422 and f"There is no Account with id {hidden.id} that you may read" in answer
    assert "Acme Co., Ltd." not in answer and status(crm, source) == "new"
    create(crm, "sam", "account", name="Their Corp", credit_code="91310000Y")
    blocked = lead(crm, "Our Corp", credit_code="91310000Y")
    page = text(client.get(PAGE.format(id=blocked.id)))
    assert "A matching Account exists that you cannot open, and another may not be created" in page
    assert choices(page) == [] and "Their Corp" not in page


def test_the_api_answers_409_with_the_candidates_per_target_then_links_or_creates(crm, api):
    existing = create(crm, "rita", "account", name="Acme Co., Ltd.")
    first, second, third = (lead(crm, "ACME Inc.") for _ in range(3))
    asked = api("rita", "POST", API.format(id=first.id), json={"version": 1})
    assert asked.status_code == 409
    error = asked.json["error"]
    assert (
        error["code"] == "possible_duplicate" and error["fields"]["account._record"][0]["code"] == "convert_duplicate"
    )
    assert error["duplicates"] == {
        "account": {
            "create_allowed": True,
            "candidates": [
                {
                    "rule": "same_company",
                    "action": "warn",
                    "id": existing.id,
                    "title": "Acme Co., Ltd.",
                    "owner": "Rita Chen",
                    "score": 1.0,
                    "matched": [{"field": "name", "label": "Name", "score": 1.0}],
                }
            ],
        }
    }
    assert count(crm, "account") == 1 and status(crm, first) == "new"
    linked = api("rita", "POST", API.format(id=first.id), json={"version": 1, "link": {"account": existing.id}})
    assert linked.status_code == 201, linked.json
    assert linked.json["targets"]["account"] == {**linked.json["targets"]["account"], "outcome": "linked"}
    assert linked.json["targets"]["account"]["id"] == existing.id
    made = api("rita", "POST", API.format(id=second.id), json={"version": 1, "allow_duplicate": ["account"]})
    assert made.status_code == 201 and made.json["targets"]["account"]["outcome"] == "created"
    query = api("rita", "POST", API.format(id=third.id) + "?allow_duplicate=true", json={"version": 1})
    assert query.status_code == 201 and count(crm, "account") == 3


def test_the_api_refuses_bad_choices_and_a_block_rules_create_without_revealing_others(crm, api):
    hidden = create(crm, "sam", "account", name="北京星辰科技有限公司", credit_code="91110000X")
    source = lead(crm, "Star Tech", credit_code="91110000X")
    blocked = api("rita", "POST", API.format(id=source.id), json={"version": 1, "allow_duplicate": True})
    assert blocked.status_code == 422
    error = blocked.json["error"]
    assert error["fields"]["account._record"][0]["code"] == "duplicate_hidden"
    assert error["duplicates"]["account"]["create_allowed"] is False
    assert error["duplicates"]["account"]["candidates"][0] == {
        "rule": "same_credit_code",
        "action": "block",
        "id": None,
        "title": None,
        "owner": "Sam Li",
        "score": 1.0,
        "matched": [],
    }
    assert "星辰" not in blocked.get_data(as_text=True)
    unreadable = api("rita", "POST", API.format(id=source.id), json={"version": 1, "link": {"account": hidden.id}})
    assert unreadable.status_code == 422
    assert unreadable.json["error"]["fields"]["link.account"][0]["code"] == "link_not_found"
    for body, name in (({"link": {"account": "x"}}, "link"), ({"allow_duplicate": "yes"}, "allow_duplicate")):
        bad = api("rita", "POST", API.format(id=source.id), json={"version": 1, **body})
        assert bad.status_code == 400 and name in bad.json["error"]["fields"], bad.json
    assert status(crm, source) == "new"


def test_the_openapi_document_describes_the_choices_and_stays_valid(api):
    document = api("rita", "GET", "/api/v1/openapi.json").json
    validate(document)
    schemas = document["components"]["schemas"]
    assert {"link", "allow_duplicate"} <= set(schemas["ConversionRequest"]["properties"])
    assert schemas["Error"]["properties"]["error"]["properties"]["duplicates"]["additionalProperties"] == {
        "$ref": "#/components/schemas/ConversionDuplicates"
    }
    operation = document["paths"]["/api/v1/lead/{id}/convert/lead_to_customer"]["post"]
    assert "possible_duplicate" in operation["responses"]["409"]["description"]
    assert "allow_duplicate" in [p["name"] for p in operation["parameters"]]

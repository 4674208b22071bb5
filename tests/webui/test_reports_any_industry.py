"""A report on any object works without code (issue 15): a veterinary clinic — an industry
neither sample knows — declares its objects and reports in YAML only, and its reports page,
report pages, drill-down lists, files and API answer with its own labels and figures."""

from __future__ import annotations

import datetime as dt

import pytest

from engine.runtime.security.tokens import create_token
from tests.webui.conftest import client_for, make_app, text

CONFIG = """
trellis: 1
settings: {timezone: Europe/Berlin, currency: EUR, languages: [en, zh]}
objects:
  pet:
    label: {en: Patient, zh: 宠物}
    title: "{name}"
    fields:
      name: {type: text, required: true}
      species: {type: picklist, values: [{key: dog, label: {en: Dog, zh: 狗}}, {key: cat, label: {en: Cat, zh: 猫}}]}
  visit:
    label: {en: Visit, zh: 就诊}
    title: "{reason}"
    fields:
      reason: {type: text, required: true}
      pet: {type: lookup, object: pet, label: {en: Patient, zh: 宠物}}
      fee: {type: currency, label: {en: Fee, zh: 费用}}
      emergency: {type: boolean, label: {en: Emergency, zh: 急诊}}
      visited_on: {type: date, label: {en: Visit date, zh: 就诊日期}}
roles:
  vet:
    objects: {pet: {read: all, create: true}, visit: {read: own, create: true, edit: own}}
reports:
  visits_by_patient:
    object: visit
    label: {en: Visits by patient, zh: 各宠物就诊}
    group_by: [pet, {field: visited_on, by: month}]
    measures: [count, {sum: fee}, {rate: emergency, label: {en: Emergencies, zh: 急诊占比}}]
"""


@pytest.fixture
def crm(open_crm):
    return open_crm(CONFIG, {"vera": {"roles": ["vet"]}, "otto": {"roles": ["vet"]}})


def test_a_report_of_an_unseen_industry_works_without_code(crm):
    with crm.session("vera") as s:
        rex = s.create("pet", {"name": "Rex", "species": "dog"}).id
        for fee, emergency, day in (("80.00", True, dt.date(2026, 2, 3)), ("45.50", False, dt.date(2026, 2, 20))):
            s.create("visit", {"reason": "check", "pet": rex, "fee": fee, "emergency": emergency, "visited_on": day})
    with crm.session("otto") as s:  # not Vera's: never in her figures
        s.create("visit", {"reason": "other", "pet": rex, "fee": "999", "visited_on": dt.date(2026, 2, 5)})
    client = client_for(make_app(crm), "vera")
    assert "Visits by patient" in text(client.get("/reports"))
    page = text(client.get("/reports/visits_by_patient"))
    assert "Rex" in page and "Feb 2026" in page and "€125.50" in page and "50.0%" in page
    token = create_token(crm, "vera", "t")[0]
    body = client.get("/api/v1/reports/visits_by_patient", headers={"Authorization": f"Bearer {token}"}).get_json()
    (row,) = body["data"]["rows"]
    assert [k["label"] for k in row["keys"]] == ["Rex", "Feb 2026"]
    assert row["figures"]["count"]["value"] == 2 and row["figures"]["sum_fee"]["value"] == "125.50"
    listed = client.get(
        "/api/v1/visit", query_string=row["figures"]["count"]["filter"], headers={"Authorization": f"Bearer {token}"}
    )
    assert listed.get_json()["meta"]["total"] == 2

"""The web app on a database not brought to its config: 503, the API's JSON error under
/api/, a plain page in both languages elsewhere — never an SQL error — and it serves
as soon as the config is applied, without a restart."""

from __future__ import annotations

import pytest

from engine import Trellis
from tests.webui.conftest import make_app, text

CONFIG = """
trellis: 1
settings: {languages: [en, zh]}
objects:
  lead:
    fields:
      name: {type: text, required: true}
"""
WITH_PHONE = CONFIG + "      phone: {type: phone}\n"


@pytest.fixture
def stale(write_config, db_url):
    """A Trellis on WITH_PHONE over a database at CONFIG."""
    first = Trellis.open(write_config(CONFIG), db_url)
    first.apply()
    first.close()
    crm = Trellis.open(write_config(WITH_PHONE, "new.yaml"), db_url)
    yield crm
    crm.close()


def test_the_api_answers_503_with_the_json_error(stale):
    client = make_app(stale).test_client()

    response = client.get("/api/v1/lead", headers={"Authorization": "Bearer whatever"})

    assert response.status_code == 503
    error = response.get_json()["error"]
    assert error["code"] == "database_out_of_date"
    assert error["message"].startswith("The database is at config version 1 from ")
    assert f"then `trellis apply {stale.config.source_path}`." in error["message"]
    assert error["fields"] == {}
    chinese = client.get("/api/v1/meta/objects", headers={"Accept-Language": "zh-CN,zh;q=0.9"}).get_json()
    assert chinese["error"]["message"].startswith("数据库处于 ")


def test_a_page_answers_503_in_both_languages(stale):
    client = make_app(stale).test_client()

    response = client.get("/login", headers={"Accept-Language": "zh-CN"})

    assert response.status_code == 503
    page = text(response)
    assert page.index("数据库处于 ") < page.index("The database is at config version 1 from ")
    assert "暂不可用" in page and "Not available yet" in page
    assert '<html lang="zh-CN">' in page
    assert client.get("/static/trellis.css").status_code == 200


def test_an_empty_database_is_answered_the_same_way(write_config, db_url):
    crm = Trellis.open(write_config(CONFIG), db_url)
    client = make_app(crm).test_client()

    assert "has no Trellis tables yet" in client.get("/api/v1/lead").get_json()["error"]["message"]
    assert "has no Trellis tables yet" in text(client.get("/"))
    crm.close()


def test_the_app_serves_once_the_config_is_applied(stale):
    client = make_app(stale).test_client()
    assert client.get("/login").status_code == 503

    admin = Trellis.open(
        stale.config.source_path, stale.engine.url.render_as_string(hide_password=False)
    )  # `trellis apply` elsewhere
    admin.apply()
    admin.close()

    assert client.get("/login").status_code == 200
    assert client.get("/api/v1/lead").status_code == 401  # the API asks for a token again

"""Shared by the web UI tests: a Trellis on the test module's config with its users,
the Flask app, test clients logged in through the login form, and CSRF tokens.

Each test module keeps its own ``CONFIG`` (what it tests) and users; ``open_crm``
applies the config to the test's fresh database (SQLite, or a PostgreSQL schema
with ``TRELLIS_TEST_DATABASE_URL``; ``apply_fresh``, from the config's template) on a
clock the test moves (``clock``), and adds the teams and users. A module's ``crm`` fixture gives ``app`` (which a module may
override), ``client`` and ``login``.
The plain helpers (``make_app``, ``text``, ``token``,
``log_in``, ``post``, ``client_for``) are imported from here by the test modules.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import pytest
from cryptography.fernet import Fernet
from flask import Flask
from flask.testing import FlaskClient

from engine import Trellis
from tests.conftest import Clock
from tests.templates import apply_fresh
from webui import create_app

#: The password of every test user (it passes the default password policy).
PASSWORD = "Secret-pass-123"
#: Where the test clock starts: a Monday morning, 17:00 in Shanghai.
START = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)

#: ``open_crm(config, users, teams=(), passwords=True)``.
OpenCrm = Callable[..., Trellis]


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
def open_crm(db_url, write_config, clock, monkeypatch) -> Iterator[OpenCrm]:
    """``open_crm(CONFIG, {"alice": {"roles": ["rep"], "team": "east"}, …}, teams=["east"])``:
    the config applied to this test's database with those teams and users (password
    ``PASSWORD`` unless ``passwords=False``), an encryption key set; closed afterwards."""
    opened: list[Trellis] = []

    def open_(
        config: str, users: Mapping[str, Mapping[str, Any]], teams: Iterable[str] = (), passwords: bool = True
    ) -> Trellis:
        monkeypatch.setenv("TRELLIS_SECRET_KEY", Fernet.generate_key().decode())
        crm = Trellis.open(write_config(config), db_url, clock=clock)
        opened.append(crm)
        apply_fresh(crm)
        with crm.directory() as directory:
            for team in teams:
                directory.add_team(team)
            for username, attributes in users.items():
                directory.add(username, **attributes, **({"password": PASSWORD} if passwords else {}))
        return crm

    yield open_
    for crm in opened:
        crm.close()


@pytest.fixture
def app(crm: Trellis) -> Flask:
    """The web app (``make_app``) on the test module's ``crm`` fixture."""
    return make_app(crm)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client (not logged in) of the test module's ``app`` fixture."""
    return app.test_client()


@pytest.fixture
def login(client: FlaskClient) -> Callable[[str], FlaskClient]:
    """``login(username)``: log ``client`` in through the login form; returns the client."""

    def do(username: str) -> FlaskClient:
        response = log_in(client, username)
        assert response.status_code == 302, text(response)
        return client

    return do


def make_app(crm: Trellis, **settings: Any) -> Flask:
    """The web app in testing mode (``settings`` add to or replace the test config)."""
    return create_app(crm, test_config={"TESTING": True, "SECRET_KEY": "test secret", **settings})


def text(response) -> str:
    """A response's body as text."""
    return response.get_data(as_text=True)


def token(page) -> str:
    """The CSRF token of the first form on a page (a response or its text)."""
    match = re.search(r'name="csrf_token" value="([^"]+)"', page if isinstance(page, str) else text(page))
    assert match, "the page has no form with a csrf_token"
    return match.group(1)


def post(
    client: FlaskClient, url: str, data: Mapping[str, Any] | None = None, form_url: str | None = None, **kwargs: Any
):
    """POST like a browser: first GET the page with the form (``form_url``, default ``url``)
    for its CSRF token."""
    data = dict(data or {})
    data["csrf_token"] = token(client.get(form_url or url))
    return client.post(url, data=data, **kwargs)


def log_in(client: FlaskClient, username: str, password: str = PASSWORD):
    """Submit the login form; the answer (302 on success)."""
    return post(client, "/login", {"username": username, "password": password})


def client_for(app: Flask, username: str) -> FlaskClient:
    """A new test client logged in as ``username``."""
    client = app.test_client()
    response = log_in(client, username)
    assert response.status_code == 302, text(response)
    return client

"""Setting up two-factor login in the web UI (``/account/totp``), on SQLite and
PostgreSQL: required by a role right after the password, or from the user menu."""

from __future__ import annotations

import html
import re

import pyotp
import pytest
import segno

from engine.runtime.security import auth
from tests.webui.conftest import log_in, text, token

CONFIG = """
trellis: 1
settings:
  languages: [en, zh]
objects:
  lead:
    fields:
      name: {type: text}
roles:
  admin:
    require_totp: true
    objects:
      "*": {read: all}
  rep:
    objects:
      lead: {read: all}
"""

USERS = {"ada": {"roles": ["admin"]}, "alice": {"roles": ["rep"]}}


@pytest.fixture
def crm(open_crm):
    return open_crm(CONFIG, USERS)


def enrolment(page: str) -> tuple[str, str, list[str]]:
    secret = re.search(r'<code id="totp-secret">([A-Z2-7]+)</code>', page).group(1)
    uri = html.unescape(re.search(r'<code id="totp-uri">([^<]+)</code>', page).group(1))
    codes = re.findall(r"<li><code>([^<]+)</code></li>", page)
    return secret, uri, codes


def start(client) -> str:
    """Open the page (a GET, which changes nothing) and press "Start setup" (a POST): the enrolment page."""
    page = text(client.get("/account/totp"))
    assert 'id="totp-secret"' not in page and 'name="action" value="start"' in page
    response = client.post("/account/totp", data={"action": "start", "csrf_token": token(page)})
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    return text(response)


def qr_path(svg: str) -> str:
    """The modules of the (first) QR code in ``svg``: its path, whatever the size and attributes."""
    return re.search(r'<svg[^>]*>.*?<path[^>]* d="([^"]+)"', svg, re.S).group(1)


def test_a_required_enrolment_comes_right_after_the_password_and_then_logs_in(client, clock):
    response = log_in(client, "ada")
    assert response.status_code == 302 and response.headers["Location"] == "/account/totp"
    assert client.get("/o/lead").status_code == 302  # not logged in yet
    page = text(client.get("/account/totp"))
    assert "Your role requires two-factor login: set it up now." in page
    page = start(client)
    secret, uri, codes = enrolment(page)
    assert uri.startswith("otpauth://totp/") and f"secret={secret}" in uri and "ada" in uri
    assert len(codes) == 10 and "only once" in page
    assert '<label for="f-code">' in page and "https://" not in page.split("<main", 1)[1].split("</main>")[0]
    assert qr_path(page) == qr_path(segno.make(uri, error="m").svg_inline())  # the QR code holds the URI
    assert '<svg role="img" viewBox=' in page and "<title>QR code for your authenticator app</title>" in page
    response = client.post("/account/totp", data={"code": pyotp.TOTP(secret).at(clock.now), "csrf_token": token(page)})
    assert response.status_code == 302 and response.headers["Location"] == "/"
    page = text(client.get("/o/lead"))
    assert "Two-factor login is now on." in page and ">ada<" in page
    # Next time the code (or a recovery code) is asked for at login.
    client.post("/logout", data={"csrf_token": token(page)})
    response = log_in(client, "ada")
    assert response.headers["Location"] == "/login/totp"
    page = text(client.get("/login/totp"))
    response = client.post("/login/totp", data={"recovery_code": codes[0], "csrf_token": token(page)})
    assert response.status_code == 302 and response.headers["Location"] == "/"


def test_a_wrong_code_keeps_the_enrolment_pending(client, clock, crm):
    log_in(client, "ada")
    page = start(client)
    secret, _, _ = enrolment(page)
    right = pyotp.TOTP(secret).at(clock.now)
    response = client.post(
        "/account/totp", data={"code": "000000" if right != "000000" else "111111", "csrf_token": token(page)}
    )
    assert response.status_code == 422
    page = text(response)
    assert 'role="alert">The code is not right' in page and 'id="totp-secret"' not in page
    assert client.get("/o/lead").status_code == 302
    response = client.post("/account/totp", data={"code": right, "csrf_token": token(page)})
    assert response.status_code == 302


def test_the_user_menu_link_enrols_a_logged_in_user(client, clock):
    assert log_in(client, "alice").status_code == 302
    page = text(client.get("/o/lead"))
    assert 'href="/account/totp">Two-factor</a>' in page
    page = start(client)
    secret, _, _ = enrolment(page)
    response = client.post("/account/totp", data={"code": pyotp.TOTP(secret).at(clock.now), "csrf_token": token(page)})
    assert response.status_code == 302
    page = text(client.get("/account/totp"))
    assert "Two-factor login is already on for your account." in page and 'id="totp-secret"' not in page


def test_the_page_needs_a_login_or_a_pending_enrolment_and_a_csrf_token(client):
    response = client.get("/account/totp")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    log_in(client, "ada")
    client.get("/account/totp")
    assert client.post("/account/totp", data={"code": "123456"}).status_code == 400
    assert client.post("/account/totp", data={"action": "start"}).status_code == 400


def test_a_get_never_starts_an_enrolment(client, crm):
    """Opening the page (a link, a prefetch, an image tag on another site) changes nothing;
    a started setup shows the code form and "Start again", never the secret a second time."""
    assert log_in(client, "alice").status_code == 302
    for _ in range(2):
        page = text(client.get("/account/totp"))
        assert auth.totp_state(crm, "alice") == "off"
        assert 'id="totp-secret"' not in page and 'name="code"' not in page and "Start setup" in page
    start(client)
    assert auth.totp_state(crm, "alice") == "pending"
    page = text(client.get("/account/totp"))
    assert 'id="totp-secret"' not in page and 'name="code"' in page and "Start again" in page


def test_the_page_speaks_chinese(client):
    page = text(client.get("/login"))
    client.post("/lang", data={"csrf_token": token(page), "lang": "zh", "next": "/login"})
    log_in(client, "ada")
    page = text(client.get("/account/totp"))
    assert "设置两步验证登录" in page and "开始设置" in page
    page = start(client)
    assert "恢复码" in page

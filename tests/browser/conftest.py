"""Browser tests: Playwright drives Debian's Chromium against a live Trellis server.

One server per module: a fresh database (SQLite, or a PostgreSQL schema when
TRELLIS_TEST_DATABASE_URL is set), configs/sample_saas.yaml applied, the demo
users of engine/runtime/demo/data.py and a little sample data, and the web app served
by werkzeug in a daemon thread on a free 127.0.0.1 port.

Chromium comes from Debian (``apt-get install chromium``, ``/usr/bin/chromium``);
``playwright install`` is never used. Without Chromium or the ``playwright``
package the tests are skipped — unless ``TRELLIS_REQUIRE_BROWSER=1`` (CI), where
they fail instead.

A test module may set ``CONFIG_OVERLAY`` (YAML layered over the sample with
``extends``, e.g. a role that requires two-factor login) and ``APP_SETTINGS``
(added to the app's test config) for its server.

They drive the web UI once per CI run, in its SQLite run: with ``TRELLIS_TEST_DATABASE_URL``
set they are skipped (the HTTP tests in tests/webui cover every page and API call on PostgreSQL,
and three minutes of the longer run go to what the browser adds: scripts, layout, dialogs),
unless ``TRELLIS_BROWSER_ON_POSTGRESQL=1``.

Screenshots are taken on every run (so the pages are rendered for real) and
written to a temporary folder; with ``TRELLIS_UPDATE_SCREENSHOTS=1`` they
replace the user guide's pictures in docs/images/ (stable names).
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from engine import Trellis
from engine.runtime.demo import data as demo
from engine.runtime.security import crypto
from tests.conftest import CONFIGS, ROOT, fresh_database

CHROMIUM = os.environ.get("TRELLIS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
IMAGES = ROOT / "docs" / "images"
SCRATCH = Path(tempfile.gettempdir()) / "trellis-screenshots"
CONFIG = CONFIGS / "sample_saas.yaml"
PASSWORD = demo.DEMO_PASSWORD
#: Sample records per object (owned in turn by the demo reps and managers).
SAMPLE_RECORDS = 12
#: Default wait for any element, navigation or response (ms); nothing sleeps a fixed time.
TIMEOUT_MS = 10_000


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On PostgreSQL, skip the browser tests (see the module's docstring)."""
    if not os.environ.get("TRELLIS_TEST_DATABASE_URL") or os.environ.get("TRELLIS_BROWSER_ON_POSTGRESQL") == "1":
        return
    here = Path(__file__).parent
    skip = pytest.mark.skip(
        reason="the browser tests run once, in the SQLite run (TRELLIS_BROWSER_ON_POSTGRESQL=1 runs them)"
    )
    for item in items:
        if here in item.path.parents:
            item.add_marker(skip)


def _unavailable(reason: str) -> None:
    """Skip (or, with TRELLIS_REQUIRE_BROWSER=1, fail) because the browser cannot run."""
    if os.environ.get("TRELLIS_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason} (TRELLIS_REQUIRE_BROWSER=1: browser tests must run)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def playwright_api() -> Iterator[Any]:
    """The started Playwright driver (checked first, so a missing browser skips fast)."""
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError:
        _unavailable("playwright not installed (pip install -e '.[test]')")
    expect.set_options(timeout=TIMEOUT_MS)
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        _unavailable(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as api:
        yield api


@pytest.fixture(scope="session")
def browser(playwright_api) -> Iterator[Any]:
    """Debian's Chromium, headless; closed at the end of the session."""
    try:
        chromium = playwright_api.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
    except Exception as exc:  # noqa: BLE001 - reported as the skip/fail reason
        _unavailable(f"Chromium at {CHROMIUM} cannot be launched: {exc}")
    yield chromium
    chromium.close()


@dataclass
class LiveServer:
    """The running app: its base URL, the ``Trellis`` behind it and its upload folder."""

    url: str
    crm: Trellis
    files: Path

    def create(self, object_name: str, values: Mapping[str, Any], user: str = "alice") -> int:
        """Create a record through the engine's write path as ``user`` (a likely duplicate of the sample
        data too: a test's setup, not what it tests); returns its id."""
        with self.crm.session(user=user) as session:
            return session.create(object_name, values, allow_duplicate=True).id

    def get(self, object_name: str, record_id: int, user: str | None = None) -> Any:
        with self.crm.session(user=user) as session:
            return session.get(object_name, record_id)

    def count(self, object_name: str, **equal: Any) -> int:
        with self.crm.session(user=None) as session:
            return sum(1 for r in session.query(object_name).all() if all(r[k] == v for k, v in equal.items()))


def module_config(module: Any, folder: Path) -> Path:
    """The sample config, or the module's ``CONFIG_OVERLAY`` over it (written to ``folder``)."""
    overlay = getattr(module, "CONFIG_OVERLAY", None)
    if not overlay:
        return CONFIG
    path = folder / "config.yaml"
    path.write_text(f"trellis: 1\nextends: {CONFIG.as_posix()}\n{overlay}", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def live_server(browser, tmp_path_factory, request) -> Iterator[LiveServer]:
    """The web app on a fresh database, served in a daemon thread; stopped afterwards."""
    from werkzeug.serving import make_server

    from webui import create_app

    folder = tmp_path_factory.mktemp("browser")
    files = folder / "files"
    files.mkdir()
    config = module_config(request.module, folder)
    with pytest.MonkeyPatch.context() as env:
        # contact.id_number is encrypted: the app needs a key.
        env.setenv("TRELLIS_SECRET_KEY", crypto.generate_key())
        env.delenv("TRELLIS_SECRET_KEY_FILE", raising=False)
        database = fresh_database(folder)
        url = next(database)
        crm = Trellis.open(config, url)
        server = None
        thread = None
        try:
            crm.apply(applied_by="browser-tests")
            demo.load_demo_users(crm)
            demo.load_demo_data(crm, per_object=SAMPLE_RECORDS)
            app = create_app(
                crm,
                test_config={
                    "SECRET_KEY": "browser-tests-" + crypto.generate_key(),
                    # Plain http on 127.0.0.1: the session cookie must not require HTTPS here.
                    "TRELLIS_SECURE_COOKIES": False,
                    "TRELLIS_UPLOAD_DIR": str(files),
                    **getattr(request.module, "APP_SETTINGS", {}),
                },
            )
            server = make_server("127.0.0.1", 0, app, threaded=True)
            thread = threading.Thread(target=server.serve_forever, name="trellis-live-server", daemon=True)
            thread.start()
            yield LiveServer(f"http://127.0.0.1:{server.server_port}", crm, files)
        finally:
            if server is not None:
                server.shutdown()
                server.server_close()
            if thread is not None:
                thread.join(timeout=10)
            crm.close()
            next(database, None)


def _new_page(browser, live_server: LiveServer, **context_options: Any) -> tuple[Any, Any]:
    context = browser.new_context(
        base_url=live_server.url, locale="en-US", timezone_id="Asia/Shanghai", **context_options
    )
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(TIMEOUT_MS)
    return context, context.new_page()


@pytest.fixture
def page(browser, live_server) -> Iterator[Any]:
    """A page in a fresh browser context (own cookies), desktop-sized."""
    context, new_page = _new_page(browser, live_server, viewport={"width": 1280, "height": 900})
    yield new_page
    context.close()


@pytest.fixture
def new_page(browser, live_server) -> Iterator[Any]:
    """A factory of further pages, each in its own context (another user, a phone…)."""
    contexts = []

    def make(**context_options: Any) -> Any:
        context_options.setdefault("viewport", {"width": 1280, "height": 900})
        context, made = _new_page(browser, live_server, **context_options)
        contexts.append(context)
        return made

    yield make
    for context in contexts:
        context.close()


def set_language(page: Any, lang: str) -> None:
    """Switch the UI language with the language form every page has (in the account menu once
    logged in; behind the header's menu button on a narrow screen)."""
    page.wait_for_load_state()  # a link clicked just before may still be loading its page
    toggle = page.locator(".menu-toggle")
    if toggle.is_visible() and toggle.get_attribute("aria-expanded") != "true":
        toggle.click()
    account = page.locator("details.user-menu")
    if account.count() and account.get_attribute("open") is None:
        account.locator("summary").click()
        page.locator("details.user-menu select[name=lang]").wait_for(state="visible")
    form = page.locator("form:has(select[name=lang])").first
    form.locator("select[name=lang]").select_option(lang)
    with page.expect_navigation():
        form.locator("button[type=submit], input[type=submit]").first.click()
    page.wait_for_load_state()


def do_login(page: Any, username: str, password: str = PASSWORD) -> None:
    """Log in through the login form (in English, the language of the user guide) and
    wait until the app has left the login page."""
    page.goto("/login")
    if not (page.locator("html").get_attribute("lang") or "").startswith("en"):
        set_language(page, "en")
    page.locator("input[name=username]").fill(username)
    page.locator("input[name=password]").fill(password)
    with page.expect_navigation():
        page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()
    assert "/login" not in page.url, f"login as {username} failed: still on {page.url}"


def take_screenshot(page: Any, name: str, full_page: bool = False) -> Path:
    """Save a screenshot <name>.png (into docs/images/ with TRELLIS_UPDATE_SCREENSHOTS=1)."""
    folder = IMAGES if os.environ.get("TRELLIS_UPDATE_SCREENSHOTS") == "1" else SCRATCH
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page, animations="disabled", caret="hide")
    return path


@pytest.fixture
def login():
    """``login(page, username)``: log in through the form as a demo user."""
    return do_login


@pytest.fixture
def screenshot():
    """``screenshot(page, name)``: save docs/images/<name>.png for the user guide."""
    return take_screenshot


@pytest.fixture
def switch_language():
    """``switch_language(page, "zh")``: switch the UI language with the form on the page."""
    return set_language

"""The web tier's settings read from the environment — database pool and statement timeout,
trusted proxies, Redis — each refused with a sentence naming the variable, never a traceback;
and ``--workers`` where gunicorn cannot run."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from engine.cli import main
from engine.runtime.database import DatabaseSettingError, pool_options
from webui.proxies import ProxySettingError, trusted_proxies

pytestmark = pytest.mark.no_database
PG = "postgresql+psycopg://trellis@db.internal/crm"


def test_pool_settings_and_the_statement_timeout_come_from_the_environment(monkeypatch):
    assert pool_options(PG) == {}  # nothing set: SQLAlchemy's defaults
    for name, value in (
        ("TRELLIS_DB_POOL_SIZE", "20"),
        ("TRELLIS_DB_MAX_OVERFLOW", "0"),
        ("TRELLIS_DB_POOL_TIMEOUT", "5"),
        ("TRELLIS_DB_POOL_RECYCLE", "1800"),
        ("TRELLIS_DB_STATEMENT_TIMEOUT", "15000"),
    ):
        monkeypatch.setenv(name, value)
    assert pool_options(PG) == {
        "pool_size": 20,
        "max_overflow": 0,
        "pool_timeout": 5,
        "pool_recycle": 1800,
        "connect_args": {"options": "-c statement_timeout=15000"},
    }
    # the URL's own options (a search_path) are kept; SQLite has no statement timeout
    assert pool_options(PG + "?options=-csearch_path%3Dcrm")["connect_args"] == {
        "options": "-csearch_path=crm -c statement_timeout=15000"
    }
    assert "connect_args" not in pool_options("sqlite:///crm.db") and pool_options("sqlite://") == {}


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("TRELLIS_DB_POOL_SIZE", "ten", "TRELLIS_DB_POOL_SIZE='ten' is not valid: give a whole number of connections"),
        ("TRELLIS_DB_POOL_SIZE", "0", "at least 1"),
        ("TRELLIS_DB_MAX_OVERFLOW", "-1", "TRELLIS_DB_MAX_OVERFLOW='-1' is not valid"),
        ("TRELLIS_DB_STATEMENT_TIMEOUT", "30s", "whole number of milliseconds a statement may run"),
        (
            "TRELLIS_DB_PING_IDLE",
            "-1",
            "TRELLIS_DB_PING_IDLE='-1' is not valid: give a whole number of seconds a pooled connection may rest",
        ),
    ],
)
def test_a_bad_database_setting_is_a_sentence(monkeypatch, write_config, tmp_path, name, value, says):
    monkeypatch.setenv(name, value)
    with pytest.raises(DatabaseSettingError) as refused:
        pool_options(PG)
    assert says in str(refused.value)
    config = write_config("trellis: 1\nobjects:\n  lead:\n    fields:\n      name: {type: text}\n")
    for command in ("plan", "serve"):  # refused when the engine is made, before any connection
        result = CliRunner().invoke(main, [command, str(config), "--db", f"sqlite:///{tmp_path / 'x.db'}"])
        assert result.exit_code == 1 and says in result.output and "Traceback" not in result.output


def test_trusted_proxies_is_a_small_number():
    assert trusted_proxies(None) == trusted_proxies("") == trusted_proxies("0") == 0
    assert trusted_proxies(" 2 ") == 2
    for bad in ("yes", "-1", "1.5", "99"):
        with pytest.raises(ProxySettingError, match=r"TRELLIS_TRUSTED_PROXIES=.* is not valid: give the number"):
            trusted_proxies(bad)


def test_serve_refuses_bad_web_settings_before_it_starts():
    proxies = CliRunner().invoke(main, ["serve", "c.yaml"], env={"TRELLIS_TRUSTED_PROXIES": "nginx"})
    assert proxies.exit_code == 1 and "TRELLIS_TRUSTED_PROXIES='nginx' is not valid" in proxies.output
    redis = CliRunner().invoke(main, ["serve", "c.yaml"], env={"TRELLIS_REDIS_URL": "redis://127.0.0.1:9/0"})
    assert redis.exit_code == 1 and "TRELLIS_REDIS_URL='redis://127.0.0.1:9/0'" in redis.output
    assert "Traceback" not in proxies.output + redis.output
    assert "--workers" in CliRunner().invoke(main, ["serve", "--help"]).output

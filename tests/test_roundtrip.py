"""Export → import round trip (issue 13 §4), on SQLite and PostgreSQL: records of the SaaS sample
exported with ``trellis export --keys`` (CSV and Excel) and imported with ``trellis import`` into an
empty database come back identical — every exported field: lookups by title, users by display
name, picklist and stage labels (a renewal's "Renewed"), multipicklists, dates, a date-time in the
company zone, money, a percentage, booleans, an encrypted field, and text the export neutralised
for spreadsheets (``'+86…``, ``'=SUM(1)``)."""

from __future__ import annotations

import datetime as dt

import pytest
from click.testing import CliRunner

from engine import Trellis
from engine.cli import main
from engine.runtime.security import crypto
from tests.conftest import CONFIGS, fresh_database
from tests.templates import apply_fresh

CONFIG = CONFIGS / "sample_saas.yaml"
#: What the new database gives a record itself: its id, times and version (all else must match).
OWN = {"id", "version", "created_at", "updated_at", "created_by", "stage_entered_at", "last_activity_at"}
#: Objects in the order they are moved (a lookup's target first), and the format of each file.
MOVES = (("account", "csv"), ("contact", "csv"), ("opportunity", "xlsx"), ("interaction", "csv"))


@pytest.fixture
def twins(tmp_path, monkeypatch):
    """The old and the new database of the SaaS sample, with the same users: ``(crm, url)`` each."""
    monkeypatch.setenv("TRELLIS_SECRET_KEY", crypto.generate_key())
    twins, databases = [], []
    for name in ("old", "new"):
        (tmp_path / name).mkdir()
        databases.append(fresh_database(tmp_path / name))
        url = next(databases[-1])
        crm = Trellis.open(CONFIG, url)
        apply_fresh(crm)
        with crm.directory() as d:
            d.add("lily", roles=["sales_rep"], display_name="Lily Chen")
            d.add("max", roles=["sales_manager"], display_name="Max Wu")
        twins.append((crm, url))
    yield twins
    for (crm, _), database in zip(twins, databases, strict=True):
        crm.close()
        next(database, None)


def fill(crm: Trellis) -> None:
    lily = crm.principal("lily").user_id
    with crm.session() as s:
        acme = s.create(
            "account",
            {
                "name": "云帆软件科技有限公司",
                "credit_code": "91510100MA6C5R2K3L",
                "industry": "internet",
                "sub_industry": "cloud_services",
                "product_lines": ["crm_suite", "analytics"],
                "subscription_plan": "professional",
                "seats": 1200,
                "arr": "123456.78",
                "contract_start": dt.date(2026, 1, 1),
                "contract_end": dt.date(2027, 1, 1),
                "customer_success_manager": lily,
                "owner_id": lily,
                "phone": "138 0013 8000",
                "description": "-5 °C in the server room",
            },
        )
        s.create("account", {"name": "Acme Ltd", "customer_type": "enterprise"})
        zhang = s.create(
            "contact",
            {
                "last_name": "张",
                "first_name": "伟",
                "account": acme.id,
                "decision_role": "decision_maker",
                "birthday": dt.date(1990, 5, 6),
                "primary_contact": True,
                "id_number": "11010519491231002X",
                "mobile": "13800138000",
            },
        )
        deal = {"account": acme.id, "contact": zhang.id, "close_date": dt.date(2030, 6, 30)}
        s.create(
            "opportunity",
            {**deal, "name": "Analytics", "product_line": "analytics", "unit_price": "1000", "quantity": 10},
        )
        s.create(
            "opportunity", {**deal, "name": "Suite", "product_line": "crm_suite", "discount": 15, "owner_id": lily}
        )
        s.create(
            "opportunity",
            {
                **deal,
                "name": "Renewal 2027",
                "product_line": "crm_suite",
                "deal_type": "renewal",
                "stage": "contract_signed",  # "Renewed" in the renewal pipeline
                "contract_end": dt.date(2028, 1, 1),
                "budget": "5000",
            },
        )
        met = dt.datetime(2026, 3, 2, 17, 30, tzinfo=dt.UTC)
        s.create(
            "interaction",
            {
                "account": acme.id,
                "contact": zhang.id,
                "method": "call",
                "occurred_at": met,
                "content": "Called\nback",
                "next_step": "=SUM(1)",
            },  # fmt: skip
        )


def records(crm: Trellis, object_name: str) -> list[dict]:
    with crm.session() as s:
        return [
            {k: v for k, v in r.to_dict().items() if k not in OWN} for r in s.query(object_name).order_by("id").all()
        ]


def cli(*args: object) -> str:
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 0 and "Traceback" not in result.output, result.output
    return result.output


def test_an_export_with_keys_imports_into_an_empty_database_as_identical_records(twins, tmp_path):
    (old, old_url), (new, new_url) = twins
    fill(old)
    for object_name, file_format in MOVES:
        out = tmp_path / f"{object_name}.{file_format}"
        cli("export", CONFIG, object_name, "--db", old_url, "--keys", "--format", file_format, "-o", out)
        summary = cli("import", CONFIG, object_name, out, "--db", new_url)
        assert ", 0 failed." in summary, summary
        assert records(new, object_name) == records(old, object_name), object_name
    [deal] = [d for d in records(new, "opportunity") if d["name"] == "Suite"]
    assert (deal["discount"], deal["stage"], deal["owner_id"]) == (15, "initial_contact", new.principal("lily").user_id)

"""The SaaS sample's approvals, end to end through the REST API as its demo users live them.

S33: a sales manager asks to delete a customer of his team; the approver the shipped
config names can see the request and the customer and decide it, the requester and
the other team's manager cannot, and the approved delete is applied.

Runs on SQLite, and on PostgreSQL when TRELLIS_TEST_DATABASE_URL is set.
"""

from __future__ import annotations

from engine.runtime.security.tokens import create_token
from tests.webui.conftest import make_app


class Api:
    """A demo user calling the REST API with their bearer token."""

    def __init__(self, client, token):
        self.client, self.headers = client, {"Authorization": f"Bearer {token}"}

    def __getattr__(self, method):
        return lambda url, **kwargs: self.client.open(url, method=method.upper(), headers=self.headers, **kwargs)


def api_clients(crm, *usernames):
    client = make_app(crm).test_client()
    return {name: Api(client, create_token(crm, name, "test")[0]) for name in usernames}


def test_s33_a_sales_managers_delete_of_a_customer_is_decided_by_someone_who_can_see_it(sample):
    saas = sample("sample_saas")
    users = api_clients(saas.crm, "mike", "sara", "emma")
    mike, sara, emma = users["mike"], users["sara"], users["emma"]
    created = mike.post("/api/v1/account", json={"name": "华东精密机械有限公司"})
    assert created.status_code == 201, created.get_json()
    account = created.get_json()

    asked = mike.delete(f"/api/v1/account/{account['id']}")
    assert asked.status_code == 202, asked.get_json()
    approval = asked.get_json()["approval"]
    assert approval["action"] == "delete" and approval["status"] == "pending"

    # The requester may not decide, the other team's manager cannot even see it.
    assert mike.get("/api/v1/approvals").get_json()["data"] == []
    assert mike.post(f"/api/v1/approvals/{approval['id']}/approve", json={}).status_code == 403
    assert sara.get("/api/v1/approvals").get_json()["data"] == []
    assert sara.get(f"/api/v1/approvals/{approval['id']}").status_code == 404
    # The executive sees the request and the customer, and decides it.
    inbox = emma.get("/api/v1/approvals").get_json()["data"]
    assert [r["id"] for r in inbox] == [approval["id"]]
    assert emma.get(f"/api/v1/account/{account['id']}").status_code == 200
    decided = emma.post(f"/api/v1/approvals/{approval['id']}/approve", json={"comment": "客户已注销"})
    assert decided.status_code == 200 and decided.get_json()["status"] == "approved", decided.get_json()
    assert mike.get(f"/api/v1/account/{account['id']}").status_code == 404
    assert emma.get(f"/api/v1/account/{account['id']}").status_code == 404

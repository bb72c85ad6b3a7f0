"""/api/batches through httpx: create, status, results, cancel, list; own runs only, an admin sees all."""

from __future__ import annotations

import base64
import time
from decimal import Decimal

import httpx2 as httpx
import pytest

from tests.integration.gateway_support import gateway

ROWS = [{"id": str(i), "text": f"ticket {i}"} for i in range(6)]
BODY = {"template": "Summarise {{id}}: {{text}}", "model": "claude-haiku-5-5", "max_tokens": 30, "mode": "now"}


@pytest.fixture
def gw(fresh_sim, tmp_path):
    with gateway(fresh_sim, tmp_path) as g:
        yield g


def _done(gw, key, run_id, timeout_s=30.0) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        body = httpx.get(f"{gw.url}/api/batches/{run_id}", headers={"x-api-key": key}).json()
        if body["state"] in ("ended", "canceled", "failed"):
            return body
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} did not end")


def test_a_run_is_created_followed_and_its_results_read_by_its_owner_only(gw, fresh_sim):
    ana, bo = gw.key("ana"), gw.key("bo")
    made = httpx.post(f"{gw.url}/api/batches", json={**BODY, "rows": ROWS}, headers={"x-api-key": ana})
    assert made.status_code == 201, made.text
    run = made.json()
    assert run["user"] == "ana" and run["rows"] == 6 and Decimal(run["reserved_usd"]) > 0
    done = _done(gw, ana, run["id"])
    assert done["state"] == "ended" and done["counts"]["succeeded"] == 6
    rows = httpx.get(f"{gw.url}/api/batches/{run['id']}/results", headers={"x-api-key": ana}).json()["data"]
    assert [r["row"] for r in rows] == [1, 2, 3, 4, 5, 6] and rows[2]["text"] == "ticket 2"
    assert sum(Decimal(r["cost_usd"]) for r in rows) == Decimal(done["spent_usd"])
    csv = httpx.get(f"{gw.url}/api/batches/{run['id']}/results", params={"format": "csv"}, headers={"x-api-key": ana})
    assert csv.status_code == 200 and csv.text.splitlines()[0].startswith("row,id,text,prompt,output")
    for method, path in (("GET", ""), ("GET", "/results"), ("POST", "/cancel")):  # bo: as if it did not exist
        other = httpx.request(method, f"{gw.url}/api/batches/{run['id']}{path}", headers={"x-api-key": bo})
        assert other.status_code == 404 and other.json()["error"]["type"] == "not_found_error"
    assert httpx.get(f"{gw.url}/api/batches", headers={"x-api-key": bo}).json()["data"] == []
    mine = httpx.get(f"{gw.url}/api/batches", headers={"x-api-key": ana}).json()["data"]
    assert [r["id"] for r in mine] == [run["id"]]
    assert httpx.get(f"{gw.url}/api/batches", params={"user": "ana"}, headers={"x-api-key": bo}).status_code == 403
    assert httpx.get(f"{gw.url}/api/batches/nope").status_code == 401  # anonymous: nothing


def test_an_admin_sees_every_run(gw):
    from core.accounts.users import UserStore

    UserStore(gw.client.settings.users_file).add("boss", "Boss", "admin", "a-long-password-1")
    ana, boss = gw.key("ana"), gw.key("boss")
    run = httpx.post(f"{gw.url}/api/batches", json={**BODY, "rows": ROWS[:2]}, headers={"x-api-key": ana}).json()
    _done(gw, ana, run["id"])
    listed = httpx.get(f"{gw.url}/api/batches", headers={"x-api-key": boss}).json()["data"]
    assert [r["id"] for r in listed] == [run["id"]]
    assert httpx.get(f"{gw.url}/api/batches/{run['id']}", headers={"x-api-key": boss}).json()["user"] == "ana"


def test_a_file_upload_bad_input_and_a_run_that_does_not_fit(gw, fresh_sim):
    ana = gw.key("ana")
    csv = b"id,text\n1,printer\n2,stapler\n"
    made = httpx.post(f"{gw.url}/api/batches", headers={"x-api-key": ana}, json={
        **BODY, "file": {"name": "t.csv", "content_base64": base64.b64encode(csv).decode()}})
    assert made.status_code == 201 and made.json()["rows"] == 2
    _done(gw, ana, made.json()["id"])
    seen = fresh_sim.stats()["messages_requests"]
    bad = httpx.post(f"{gw.url}/api/batches", json={**BODY, "template": "{{nope}}", "rows": ROWS},
                     headers={"x-api-key": ana})
    assert bad.status_code == 400 and "The file's columns: id, text" in bad.json()["error"]["message"]
    gw.client.budgets.set_budget("ana", Decimal("0.0001"))
    refused = httpx.post(f"{gw.url}/api/batches", json={**BODY, "max_tokens": 200, "rows": ROWS * 5},
                         headers={"x-api-key": ana})
    assert refused.status_code == 403
    err = refused.json()["error"]
    assert err["fits"] < 30 and f"{err['fits']} of 30 rows would fit" in err["message"]
    assert fresh_sim.stats()["messages_requests"] == seen  # nothing sent for either
    doc = httpx.get(f"{gw.url}/api/openapi.json").json()
    assert {"/api/batches", "/api/batches/{run_id}", "/api/batches/{run_id}/results",
            "/api/batches/{run_id}/cancel"} <= set(doc["paths"])

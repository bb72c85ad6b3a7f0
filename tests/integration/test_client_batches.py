"""``client.batches`` through the real SDK against the simulator, on DuckDB and PostgreSQL ledgers: batch
pricing, the whole-batch reservation, each result settled once, cancelled/errored/expired rows released."""

from __future__ import annotations

import threading
import time
from decimal import Decimal

import pytest
import sqlalchemy as sa

from core import errors
from core.ledger.schema import budget_reservations, calls
from core.types import Usage
from tests.integration.conftest import LEDGER_BACKENDS

MODEL = "claude-haiku-5-5"


def requests(n: int, *, max_tokens: int = 60, system=None, ids=None) -> list[dict]:
    out = []
    for i, cid in enumerate(ids or [f"row-{i}" for i in range(n)]):
        params = {"model": MODEL, "max_tokens": max_tokens,
                  "messages": [{"role": "user", "content": f"Summarise ticket {i}: the printer is on fire."}]}
        if system is not None:
            params["system"] = system
        out.append({"custom_id": cid, "params": params})
    return out


@pytest.fixture(params=LEDGER_BACKENDS)
def client(request, make_client, fresh_sim, tmp_path):
    url = (f"duckdb:///{tmp_path / 'ledger.duckdb'}" if request.param == "duckdb-file"
           else request.getfixturevalue("pg_url"))
    fresh_sim.configure(batch_seconds=60)  # tests end batches themselves: finish, cancel, expire
    c = make_client(real_time=True, ledger_url=url, spool_path=str(tmp_path / "spool"), cache="off")
    c.ledger.open()
    c.budgets.set_budget("ana", Decimal("1"))
    return c


def _rows(c, **where) -> list:
    c.recorder.flush()
    q = sa.select(calls).order_by(calls.c.row_index)
    for k, v in where.items():
        q = q.where(calls.c[k] == v)
    with c.ledger.engine.connect() as conn:
        return conn.execute(q).mappings().all()


def _holds(c) -> int:
    with c.ledger.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(budget_reservations)).scalar()


def test_a_batch_is_priced_at_exactly_half_on_every_token_type(client, fresh_sim):
    long_system = [{"type": "text", "text": "You are a support analyst. " * 400,
                    "cache_control": {"type": "ephemeral", "ttl": "1h"}}]
    sub = client.batches.create(requests(3, system=long_system), user="ana", run_id="run-price")
    fresh_sim.finish_batch(sub.batch_id)
    rows = list(client.batches.results(sub.batch_id, user="ana"))
    assert [r.outcome for r in rows] == ["succeeded"] * 3
    total = Usage()
    for r in rows:
        u = r.result.usage
        standard = client.pricing.price(Usage(**{**u.to_dict(), "service_tier": "standard"}), MODEL)
        assert r.result.cost_usd * 2 == standard.cost > 0
        assert r.result.price_version == standard.price_version
        total = Usage(**{k: getattr(total, k) + getattr(u, k) for k in ("input_tokens", "output_tokens",
                         "cache_creation_5m_tokens", "cache_creation_1h_tokens", "cache_read_tokens")})
    assert total.cache_creation_1h_tokens and total.cache_read_tokens and total.input_tokens  # every kind billed
    ledger = _rows(client, run_id="run-price")
    assert [(x["row_index"], x["batch"], x["status"]) for x in ledger] == [(0, True, "ok"), (1, True, "ok"),
                                                                              (2, True, "ok")]
    assert [x["idempotency_key"] for x in ledger] == [f"batch:{sub.batch_id}:row-{i}" for i in range(3)]
    assert sum(x["cost_usd"] for x in ledger) == sum(r.result.cost_usd for r in rows)


def test_the_quote_gives_both_prices_and_the_budget_left(client):
    q = client.batches.quote(requests(4), user="ana")
    assert q.rows == 4 and len(q.per_row) == 4 and q.batch_usd == sum(q.per_row)
    assert q.standard_usd == 2 * q.batch_usd and q.budget_left == Decimal("1")


def test_a_batch_that_does_not_fit_is_refused_with_the_rows_that_would_fit(client, fresh_sim):
    per_row = client.batches.quote(requests(1)).per_row[0]
    client.budgets.set_budget("ana", per_row * Decimal("37.5"))
    with pytest.raises(errors.BudgetExceeded) as info:
        client.batches.create(requests(200), user="ana", run_id="run-big")
    assert info.value.fits == 37 and "37 of 200 rows would fit" in info.value.message
    assert "This run needs $" in info.value.message
    assert fresh_sim.stats()["paths"].get("/v1/messages/batches", 0) == 0  # nothing sent
    (refusal,) = _rows(client, run_id="run-big")
    assert (refusal["status"], refusal["error_code"]) == ("blocked", "budget_exceeded")
    assert _holds(client) == 0


def test_each_result_settles_its_share_below_the_hold(client, fresh_sim):
    sub = client.batches.create(requests(5, max_tokens=400), user="ana")
    assert sub.reserved_usd > 0 and client.budgets.reserved("ana") == sub.reserved_usd and _holds(client) == 5
    assert client.budgets.remaining("ana") == Decimal("1") - sub.reserved_usd
    fresh_sim.finish_batch(sub.batch_id)
    rows = list(client.batches.results(sub.batch_id, user="ana"))
    spent = client.budgets.spent("ana")
    assert spent == sum(r.result.cost_usd for r in rows) and 0 < spent < sub.reserved_usd
    assert client.budgets.reserved("ana") == 0 and _holds(client) == 0


def test_results_before_the_end_are_refused_and_results_twice_bill_once(client, fresh_sim):
    sub = client.batches.create(requests(3), user="ana")
    with pytest.raises(errors.BatchNotEnded):
        next(iter(client.batches.results(sub.batch_id, user="ana")))
    fresh_sim.finish_batch(sub.batch_id)
    first = list(client.batches.results(sub.batch_id, user="ana"))
    spent = client.budgets.spent("ana")
    again = list(client.batches.results(sub.batch_id, user="ana"))
    assert [r.result.replayed for r in again] == [True] * 3 and not any(r.result.replayed for r in first)
    assert [(r.result.ledger_id, r.result.cost_usd, r.result.text) for r in again] == [
        (r.result.ledger_id, r.result.cost_usd, r.result.text) for r in first]
    assert client.budgets.spent("ana") == spent and len(_rows(client, batch=True)) == 3


def test_two_pollers_reading_results_at_once_bill_each_row_once(client, fresh_sim):
    sub = client.batches.create(requests(8), user="ana")
    fresh_sim.finish_batch(sub.batch_id)
    out, failures = [], []

    def read():
        try:
            out.append(list(client.batches.results(sub.batch_id, user="ana")))
        except Exception as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    threads = [threading.Thread(target=read) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not failures and len(out) == 3
    rows = _rows(client, batch=True)
    assert len(rows) == 8 and len({r["idempotency_key"] for r in rows}) == 8
    assert client.budgets.spent("ana") == sum(r["cost_usd"] for r in rows) and _holds(client) == 0


def test_cancelled_errored_and_expired_rows_cost_nothing_and_release_their_holds(client, fresh_sim):
    sub = client.batches.create(requests(0, ids=["ok-1", "sim-errored-1", "sim-expired-1"]), user="ana",
                                run_id="run-mixed")
    fresh_sim.finish_batch(sub.batch_id)
    by_id = {r.custom_id: r for r in client.batches.results(sub.batch_id, user="ana")}
    assert {k: r.outcome for k, r in by_id.items()} == {"ok-1": "succeeded", "sim-errored-1": "errored",
                                                       "sim-expired-1": "expired"}
    assert "api_error" in by_id["sim-errored-1"].error and by_id["sim-errored-1"].result is None
    codes = {r["idempotency_key"].rsplit(":", 1)[1]: (r["status"], r["error_code"], r["cost_usd"])
             for r in _rows(client, run_id="run-mixed")}
    assert codes["sim-errored-1"] == ("error", "batch_errored", 0)
    assert codes["sim-expired-1"] == ("error", "batch_expired", 0)
    assert codes["ok-1"][0] == "ok" and codes["ok-1"][2] > 0
    cancelled = client.batches.create(requests(4), user="ana", run_id="run-cancel")
    assert client.batches.cancel(cancelled.batch_id)["processing_status"] == "canceling"
    assert client.batches.retrieve(cancelled.batch_id)["request_counts"]["canceled"] == 4
    assert {r.outcome for r in client.batches.results(cancelled.batch_id, user="ana")} == {"canceled"}
    assert {r["error_code"] for r in _rows(client, run_id="run-cancel")} == {"batch_canceled"}
    assert client.budgets.reserved("ana") == 0 and _holds(client) == 0
    assert client.budgets.spent("ana") == codes["ok-1"][2]


def test_an_invalid_request_is_refused_by_its_custom_id_before_anything_is_sent(client, fresh_sim):
    bad = requests(3)
    bad[1]["params"]["model"] = "claude-nonesuch"
    with pytest.raises(errors.UnknownModel, match="'row-1'"):
        client.batches.create(bad, user="ana")
    bad = requests(2)
    bad[0]["params"]["stream"] = True
    with pytest.raises(errors.ValidationError, match="row-0.*stream"):
        client.batches.create(bad, user="ana")
    with pytest.raises(errors.ModelNotAllowed):
        client.batches.create(requests(1), user="ana", models={"claude-opus-5-5"})
    with pytest.raises(errors.ValidationError, match="twice"):
        client.batches.create(requests(0, ids=["a", "a"]), user="ana")
    assert fresh_sim.stats()["paths"].get("/v1/messages/batches", 0) == 0 and _holds(client) == 0


def test_a_user_lists_only_their_own_batches(client, fresh_sim):
    mine = client.batches.create(requests(1), user="ana").batch_id
    theirs = client.batches.create(requests(1), user="bo").batch_id
    assert [b["id"] for b in client.batches.list(user="ana")] == [mine]
    assert [b["id"] for b in client.batches.list(user="bo")] == [theirs]
    assert client.batches.owner(mine) == "ana" and client.batches.owner("msgbatch_unknown") is None
    with pytest.raises(errors.ValidationError, match="another user"):
        list(client.batches.results(mine, user="bo"))


def test_a_refused_create_releases_every_hold_and_is_recorded(client, fresh_sim):
    fresh_sim.script_faults([{"fault": "529"}])  # answered: no batch was made
    with pytest.raises(errors.Overloaded):
        client.batches.create(requests(3), user="ana", run_id="run-busy")
    assert client.budgets.reserved("ana") == 0 and _holds(client) == 0
    (row,) = _rows(client, run_id="run-busy")
    assert (row["status"], row["error_code"], row["cost_usd"]) == ("error", "overloaded", 0)
    assert client.batches.recover(grace_s=0) == []  # nothing left to look for


def test_a_5xx_at_create_keeps_the_holds_until_upstream_is_seen_to_have_no_batch(client, fresh_sim):
    fresh_sim.script_faults([{"fault": "503"}])  # a 5xx may come after the batch was made
    with pytest.raises(errors.UpstreamServerError):
        client.batches.create(requests(3), user="ana", run_id="run-down")
    assert client.budgets.reserved("ana") > 0
    (row,) = _rows(client, run_id="run-down")
    assert (row["status"], row["error_code"], row["cost_usd"]) == ("error", "upstream_server_error", 0)
    assert client.batches.recover() == []  # too young to judge: its create could still be on its way
    assert client.batches.recover(grace_s=0) == [("run-down", None)]  # none upstream: never created
    assert client.budgets.reserved("ana") == 0 and _holds(client) == 0
    assert client.batches.create(requests(1), user="ana").rows == 1  # the next one goes through


def test_a_batch_made_upstream_whose_answer_was_lost_is_adopted_and_billed_once(make_client, fresh_sim, tmp_path):
    fresh_sim.configure(batch_seconds=60)
    c = make_client(real_time=True, ledger_url=f"duckdb:///{tmp_path / 'l.duckdb'}", spool_path=str(tmp_path / "s"),
                    cache="off", timeout_s=0.3)
    c.ledger.open()
    c.budgets.set_budget("ana", Decimal("1"))
    fresh_sim.script_faults([{"fault": "timeout", "hold_s": 0.8}])  # made upstream after the client gave up
    with pytest.raises(errors.Timeout):
        c.batches.create(requests(3), user="ana", run_id="run-lost")
    held = c.budgets.reserved("ana")
    assert held > 0
    deadline = time.monotonic() + 5
    while not (made := c.batches.upstream.list(limit=5)["data"]) and time.monotonic() < deadline:
        time.sleep(0.05)
    (orphan,) = made
    assert c.batches.owner(orphan["id"]) is None  # unknown to Tollgate so far
    assert c.batches.recover(grace_s=0) == []  # in progress: cannot be told apart yet, so kept
    assert c.budgets.reserved("ana") == held
    fresh_sim.finish_batch(orphan["id"])
    assert c.batches.recover(grace_s=0) == [("run-lost", orphan["id"])]
    assert c.batches.owner(orphan["id"]) == "ana"
    results = list(c.batches.results(orphan["id"], user="ana"))
    assert {r.outcome for r in results} == {"succeeded"}
    rows = [r for r in _rows(c, run_id="run-lost") if r["batch"] and r["status"] == "ok"]
    assert len(rows) == 3 and c.budgets.spent("ana") == sum(r["cost_usd"] for r in rows) > 0
    assert c.budgets.reserved("ana") == 0
    assert c.batches.recover(grace_s=0) == []

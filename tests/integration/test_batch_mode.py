"""Batch runs in batch mode: one Message Batch through client.batches and the simulator's lifecycle, advanced by
the poller; polled twice or by two pollers at once, every row is billed once, at the batch price."""

from __future__ import annotations

import threading
import time
from decimal import Decimal

import pytest
import sqlalchemy as sa

from core import errors
from core.batches.poller import Poller
from core.batches.service import BatchRuns
from core.errors import BudgetExceeded
from core.ledger.schema import calls
from tests.integration.batch_support import billed, spec, wait_done
from tests.integration.conftest import budgeted_client


@pytest.fixture
def client(make_client, tmp_path, fresh_sim):
    fresh_sim.configure(batch_seconds=0.5)
    return budgeted_client(make_client, tmp_path, "5")


def _ledger_rows(engine, run_id):
    with engine.connect() as conn:
        return conn.execute(sa.select(calls.c.idempotency_key, calls.c.batch, calls.c.row_index, calls.c.cost_usd,
                                      calls.c.status).where(calls.c.run_id == run_id)).all()


def test_a_batch_run_goes_end_to_end_with_the_poller_at_the_batch_price(client):
    runs = BatchRuns(client)
    st = runs.submit(spec(10, mode="batch"))
    assert st.mode == "batch" and st.state == "in_progress" and st.upstream_batch_id
    assert st.reserved_usd == runs.quote(spec(10, mode="batch")).batch_usd
    assert runs.poll() == 0  # still in progress upstream
    poller = Poller(runs, 0.1).start()
    try:
        done = wait_done(runs, st.id)
    finally:
        poller.stop()
        runs.close()
    assert done.state == "ended" and done.counts["succeeded"] == 10 and done.spent_usd < done.reserved_usd
    client.recorder.flush()
    rows = _ledger_rows(client.ledger.engine, st.id)
    assert len(rows) == 10 and all(r.batch and r.status == "ok" for r in rows)
    assert sorted(r.row_index for r in rows) == list(range(10))
    assert sum(Decimal(str(r.cost_usd)) for r in rows) == done.spent_usd == client.budgets.spent("ana")
    assert client.budgets.reserved("ana") == 0
    results = runs.results(st.id)
    assert all(r["outcome"] == "succeeded" and r["output"] for r in results)


def test_polling_twice_or_from_two_pollers_at_once_bills_each_row_once(client, fresh_sim):
    runs, other = BatchRuns(client), BatchRuns(client)  # two processes' worth of pollers over one ledger
    st = runs.submit(spec(8, mode="batch"))
    fresh_sim.finish_batch(st.upstream_batch_id)
    barrier = threading.Barrier(2)

    def poll(r):
        barrier.wait()
        r.poll()

    threads = [threading.Thread(target=poll, args=(r,)) for r in (runs, other)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    runs.poll(), other.poll()  # and again, after it ended
    done = runs.status(st.id)
    runs.close(), other.close()
    assert done.state == "ended" and done.counts["succeeded"] == 8
    client.recorder.flush()
    keys = [r.idempotency_key for r in _ledger_rows(client.ledger.engine, st.id)]
    assert len(keys) == len(set(keys)) == 8
    assert billed(client.ledger.engine)[1] == done.spent_usd == client.budgets.spent("ana")


def test_a_batch_run_that_does_not_fit_is_refused_with_fits_and_nothing_sent(client, fresh_sim):
    runs = BatchRuns(client)
    one = runs.quote(spec(1, mode="batch")).batch_usd
    client.budgets.set_budget("ana", one * Decimal("4.5"))
    assert runs.quote(spec(10, mode="batch")).fits_rows == 4
    with pytest.raises(BudgetExceeded) as refused:
        runs.submit(spec(10, mode="batch"))
    assert refused.value.fits == 4 and "4 of 10 rows would fit" in refused.value.message
    assert fresh_sim.stats()["paths"].get("/v1/messages/batches", 0) == 0
    assert runs.list() == [] and client.budgets.reserved("ana") == 0
    client.budgets.set_budget("ana", Decimal("5"))
    runs.submit(spec(10, mode="batch"))
    assert fresh_sim.stats()["paths"]["/v1/messages/batches"] == 1  # the path counted above: now it is sent
    runs.close()


def test_a_canceled_batch_run_releases_the_holds_of_its_canceled_rows(client, fresh_sim):
    fresh_sim.configure(batch_seconds=30)
    runs = BatchRuns(client)
    st = runs.submit(spec(6, mode="batch"))
    assert runs.cancel(st.id).state == "canceling"
    done = wait_done(runs, st.id, poll=True)
    runs.close()
    assert done.state == "canceled" and done.counts["canceled"] + done.counts["succeeded"] == 6
    client.recorder.flush()
    assert client.budgets.reserved("ana") == 0
    assert client.budgets.spent("ana") == done.spent_usd


def test_a_run_whose_create_got_no_answer_is_adopted_by_the_poller_and_billed(make_client, tmp_path, fresh_sim):
    fresh_sim.configure(batch_seconds=0.5)
    client = budgeted_client(make_client, tmp_path, "5", timeout_s=0.3)
    runs = BatchRuns(client, recover_after_s=0)
    fresh_sim.script_faults([{"fault": "timeout", "hold_s": 0.8}])  # the batch is made after the client gave up
    with pytest.raises(errors.Timeout):
        runs.submit(spec(4, mode="batch"))
    (run,) = runs.list("ana")
    assert run.state == "queued" and not run.upstream_batch_id  # kept: its batch may exist upstream
    deadline = time.monotonic() + 5  # the grace (0 here) is what covers a create still on its way
    while not client.batches.upstream.list(limit=5)["data"] and time.monotonic() < deadline:
        time.sleep(0.05)
    done = wait_done(runs, run.id, poll=True)
    assert done.state == "ended" and done.counts["succeeded"] == 4 and done.upstream_batch_id
    client.recorder.flush()
    rows = _ledger_rows(client.ledger.engine, run.id)
    assert sum(1 for r in rows if r.batch and r.status == "ok") == 4
    assert sum(Decimal(str(r.cost_usd)) for r in rows) == done.spent_usd == client.budgets.spent("ana") > 0
    assert client.budgets.reserved("ana") == 0
    runs.close()


def test_a_run_whose_create_failed_without_a_batch_upstream_fails_and_frees_its_hold(make_client, tmp_path,
                                                                                      fresh_sim):
    client = budgeted_client(make_client, tmp_path, "5")
    runs = BatchRuns(client, recover_after_s=0)
    fresh_sim.script_faults([{"fault": "500"}])
    with pytest.raises(errors.UpstreamServerError):
        runs.submit(spec(3, mode="batch"))
    (run,) = runs.list("ana")
    assert run.state == "queued" and client.budgets.reserved("ana") > 0
    runs.poll()
    st = runs.status(run.id)
    assert st.state == "failed" and st.counts["failed"] == 3 and client.budgets.reserved("ana") == 0
    runs.close()


def test_a_run_whose_batch_was_deleted_ends_with_the_rows_the_delete_billed(client, fresh_sim):
    runs = BatchRuns(client)
    st = runs.submit(spec(4, mode="batch"))
    fresh_sim.finish_batch(st.upstream_batch_id)
    client.batches.delete(st.upstream_batch_id)  # bills the unread results, then the batch is gone upstream
    try:
        assert runs.poll() == 1  # not polling a 404 for ever: the run ends
        done = runs.status(st.id)
    finally:
        runs.close()
    assert done.state == "ended" and done.counts["succeeded"] == 4 and done.counts["pending"] == 0
    client.recorder.flush()
    rows = _ledger_rows(client.ledger.engine, st.id)
    assert len(rows) == 4 and sorted(r.row_index for r in rows) == list(range(4))
    assert sum(Decimal(str(r.cost_usd)) for r in rows) == done.spent_usd == client.budgets.spent("ana") > 0
    assert client.budgets.reserved("ana") == 0


def test_a_run_whose_batch_vanished_unread_fails_its_rows_and_frees_their_holds(client, fresh_sim):
    runs = BatchRuns(client)
    st = runs.submit(spec(3, mode="batch"))
    fresh_sim.finish_batch(st.upstream_batch_id)
    client.batches.upstream.delete(st.upstream_batch_id)  # deleted outside Tollgate: its results are gone
    try:
        assert runs.poll() == 1
        done = runs.status(st.id)
    finally:
        runs.close()
    assert done.state == "failed" and done.counts["failed"] == 3 and done.spent_usd == 0
    assert "deleted" in runs.results(st.id)[0]["error"]
    assert client.budgets.reserved("ana") == 0

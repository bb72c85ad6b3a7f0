"""Batch runs in now mode, through the real SDK and the simulator: the whole run held, each row billed once."""

from __future__ import annotations

from decimal import Decimal

import pytest

from core.batches.model import RunSpec
from core.batches.service import BatchRuns
from core.errors import BudgetExceeded, ValidationError
from tests.integration.batch_support import billed, spec, wait_done
from tests.integration.conftest import budgeted_client, messages_seen


@pytest.fixture
def client(make_client, tmp_path):
    c = budgeted_client(make_client, tmp_path, "5")
    yield c


@pytest.fixture
def runs(client):
    r = BatchRuns(client)
    yield r
    r.close()


def test_a_now_run_goes_end_to_end_and_bills_each_row_once(runs, client, fresh_sim):
    st = runs.submit(spec(12))
    assert st.mode == "now" and st.rows == 12 and st.reserved_usd > 0
    done = wait_done(runs, st.id)
    assert done.state == "ended" and done.counts["succeeded"] == 12 and done.progress == 1.0
    client.recorder.flush()
    assert messages_seen(fresh_sim) == 12
    n, cost = billed(client.ledger.engine)
    assert n == 12 and cost == done.spent_usd > 0
    results = runs.results(st.id)
    assert [r["row"] for r in results] == list(range(1, 13))
    assert results[3]["id"] == "3" and results[3]["prompt"] == "Summarise ticket 3: the printer on floor 3 is jammed"
    assert all(r["outcome"] == "succeeded" and r["output"] and r["cost_usd"] > 0 for r in results)
    assert sum(r["cost_usd"] for r in results) == done.spent_usd


def test_a_run_that_does_not_fit_is_refused_whole_with_how_many_rows_fit(runs, client, fresh_sim):
    one = runs.quote(spec(1)).standard_usd
    client.budgets.set_budget("ana", one * Decimal("3.5"))
    q = runs.quote(spec(10))
    assert q.fits_rows == 3 and not q.fits and q.needed_usd == q.standard_usd > q.batch_usd
    with pytest.raises(BudgetExceeded) as refused:
        runs.submit(spec(10))
    assert refused.value.fits == 3
    assert "3 of 10 rows would fit" in refused.value.message
    assert messages_seen(fresh_sim) == 0  # nothing sent
    assert runs.list("ana") == [] and client.budgets.reserved("ana") == 0
    client.recorder.flush()
    import sqlalchemy as sa

    from core.ledger.schema import calls
    with client.ledger.engine.connect() as conn:
        codes = list(conn.execute(sa.select(calls.c.error_code).where(calls.c.status == "blocked")).scalars())
    assert codes == ["budget_exceeded"]  # the refusal is recorded, with its reason


def test_a_run_that_settles_below_its_hold_releases_it(runs, client):
    st = runs.submit(spec(6, max_tokens=400))  # the simulator's replies are far shorter than 400 tokens
    assert client.budgets.reserved("ana") > 0 or st.state != "queued"
    done = wait_done(runs, st.id)
    client.recorder.flush()
    assert done.spent_usd < done.reserved_usd
    assert client.budgets.reserved("ana") == 0  # every hold settled or released
    assert client.budgets.spent("ana") == done.spent_usd == billed(client.ledger.engine)[1]


def test_cancel_stops_unsent_rows_and_releases_their_holds(runs, client, fresh_sim):
    fresh_sim.configure(ttft_s=0.2)
    st = runs.submit(spec(40))
    wait_until = __import__("time").monotonic() + 20
    while runs.status(st.id).counts["succeeded"] < 2 and __import__("time").monotonic() < wait_until:
        __import__("time").sleep(0.02)
    runs.cancel(st.id)
    done = wait_done(runs, st.id)
    assert done.state == "canceled" and done.counts["canceled"] > 0
    assert done.counts["succeeded"] + done.counts["canceled"] + done.counts["failed"] == 40
    client.recorder.flush()
    assert client.budgets.reserved("ana") == 0
    assert billed(client.ledger.engine)[0] == done.counts["succeeded"]


def test_preview_dry_run_and_bad_templates(runs, fresh_sim):
    assert runs.preview(spec(5), n=2) == ["Summarise ticket 0: the printer on floor 0 is jammed",
                                           "Summarise ticket 1: the printer on floor 1 is jammed"]
    dry = runs.dry_run(spec(5), 2)
    assert dry.state == "ended" and dry.rows == 2 and dry.counts["succeeded"] == 2 and dry.mode == "now"
    assert messages_seen(fresh_sim) == 2
    bad = RunSpec(user="ana", template="{{nope}} {{id}}", rows=[{"id": "1"}], model="claude-haiku-5-5",
                  max_tokens=10, mode="now")
    with pytest.raises(ValidationError, match=r"\{\{nope\}\}.*The file's columns: id"):
        runs.submit(bad)
    with pytest.raises(ValidationError, match="Row 2"):
        runs.submit(RunSpec(user="ana", template="{{t}}", rows=[{"t": "fine"}, {"t": ""}],
                            model="claude-haiku-5-5", max_tokens=10, mode="now"))
    assert messages_seen(fresh_sim) == 2


def test_runs_are_listed_per_user_and_owned(runs, client):
    client.budgets.set_budget("bo", Decimal("5"))
    a = runs.submit(spec(2))
    b = runs.submit(spec(2, user="bo"))
    wait_done(runs, a.id), wait_done(runs, b.id)
    assert [r.id for r in runs.list("ana")] == [a.id]
    assert {r.id for r in runs.list()} == {a.id, b.id}
    assert runs.owner(b.id) == "bo"
    from core.batches.model import RunNotFound
    with pytest.raises(RunNotFound):
        runs.status("no-such-run")


class _Lost:
    """A queue whose messages never arrive: the process that submitted the run died before sending any row."""

    kind = "lost"

    def bind(self, runs):
        pass

    def enqueue(self, run_id, rows):
        pass

    def close(self):
        pass


def test_a_restarted_console_resumes_from_the_ledger_and_bills_nothing_twice(make_client, tmp_path, fresh_sim):
    import sqlalchemy as sa

    from core.batches.plan import idempotency_key
    from core.ledger.schema import calls

    first = budgeted_client(make_client, tmp_path, "5")
    runs = BatchRuns(first, queue=_Lost())
    st = runs.submit(spec(8))
    run = runs.store.run(st.id)
    runs.work(st.id, [0, 1])  # two rows went through before the crash ...
    # ... and a third was sent and billed, but the process died before its item was updated
    first.create(run and "Summarise ticket 2: the printer on floor 2 is jammed", user="ana",
                 model="claude-haiku-5-5", max_tokens=40, use_cache=False, source="batch",
                 run_id=st.id, row_index=2, idempotency_key=idempotency_key(st.id, 2))
    assert runs.status(st.id).counts == {"succeeded": 2, "failed": 0, "pending": 6, "canceled": 0, "expired": 0}
    first.close()  # the console stops

    second = make_client(real_time=True, ledger_url=f"duckdb:///{tmp_path / 'ledger.duckdb'}",
                         spool_path=str(tmp_path / "spool"), cache="off")
    again = BatchRuns(second)
    assert again.resume() == 6
    done = wait_done(again, st.id)
    again.close()
    assert done.state == "ended" and done.counts["succeeded"] == 8
    second.recorder.flush()
    assert messages_seen(fresh_sim) == 8  # row 2 was not sent again: its ledger row was replayed
    with second.ledger.engine.connect() as conn:
        keys = dict(conn.execute(sa.select(calls.c.idempotency_key, sa.func.count()).where(
            calls.c.run_id == st.id).group_by(calls.c.idempotency_key)).all())
    assert keys == {idempotency_key(st.id, i): 1 for i in range(8)}
    n, cost = billed(second.ledger.engine)
    assert n == 8 and cost == done.spent_usd and second.budgets.reserved("ana") == 0


class _Held:
    """A queue that keeps what is enqueued (the test sends the rows itself)."""

    kind = "threads"

    def bind(self, runs) -> None:
        pass

    def enqueue(self, run_id, rows) -> None:
        pass

    def close(self, wait: bool = False) -> None:
        pass


def test_a_row_keeps_its_share_of_the_run_hold_until_its_own_call_takes_it_over(make_client, tmp_path, fresh_sim):
    import threading

    client = budgeted_client(make_client, tmp_path, "5")
    runs = BatchRuns(client, queue=_Held())
    quote = runs.quote(spec(2))
    client.budgets.set_budget("ana", quote.standard_usd)  # exactly the run's worst case: nothing else fits
    st = runs.submit(spec(2))
    fresh_sim.configure(ttft_s=0.6)  # row 0 is in flight a while; row 1 waits its turn in the same chunk
    worker = threading.Thread(target=runs.work, args=(st.id, [0, 1]))
    worker.start()
    import time

    time.sleep(0.3)
    # Another call of the same user while row 0 runs: row 1's share is still held for the run.
    with pytest.raises(BudgetExceeded):
        client.create("Summarise ticket 1: the printer on floor 1 is jammed", user="ana",
                      model="claude-haiku-5-5", max_tokens=40)
    worker.join(30)
    done = runs.status(st.id)
    assert done.counts["succeeded"] == 2, runs.results(st.id)
    assert client.budgets.reserved("ana") == 0
    runs.close()

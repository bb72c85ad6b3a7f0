"""The door's batch section (core.console.batches): an analyst sees, reads, cancels and exports only their own runs.

Real BatchRuns on a DuckDB ledger, the guarded client through the real SDK against the simulator.
"""

from __future__ import annotations

import time

import pytest

from core.accounts.users import Principal
from core.batches.model import RunNotFound
from core.config import load_settings
from core.console.door import Console, open_console
from core.errors import NotAuthorised
from core.factory import build_client
from core.upstream.keys import ApiKey

ADMIN = Principal("alice", "Alice", "admin")
BOB = Principal("bob", "Bob", "analyst")
CAROL = Principal("carol", "Carol", "analyst")
FAKE_KEY = ApiKey("primary", "sk-ant-test-fake-batch-door-0000")
ROWS = [{"ticket": f"Printer {i} is on fire", "n": str(i)} for i in range(4)]


@pytest.fixture
def door(fresh_sim, tmp_path):
    settings = load_settings(env={}, load_keys=False, keys=(FAKE_KEY,), base_url=fresh_sim.url,
                             ledger_url=f"duckdb:///{tmp_path / 'l.duckdb'}", users_file=str(tmp_path / "u.yaml"),
                             spool_path=str(tmp_path / "spool"), timeout_s=2.0)
    d = open_console(settings, client=build_client(settings, source="console"))
    yield d
    d.close()


def _request(**over):
    return {"template": "Summarise: {{ticket}}", "rows": ROWS, "model": "claude-haiku-5-5", "max_tokens": 32,
            "mode": "now", **over}


def _finished(door: Console, who: Principal, run_id: str, timeout_s: float = 30):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        s = door.batches.status(who, run_id)
        if not door.batches.active(s):
            return s
        time.sleep(0.1)
    pytest.fail(f"run {run_id} did not finish in {timeout_s} s: {s}")


def test_an_analyst_cannot_see_read_cancel_export_or_compare_another_users_run(door: Console):
    bobs = door.batches.submit(BOB, **_request(name="bob's run"))
    carols = door.batches.submit(CAROL, **_request(name="carol's run"))
    assert _finished(door, BOB, bobs.id).state == "ended"
    assert _finished(door, CAROL, carols.id).state == "ended"

    assert [r.id for r in door.batches.runs(BOB)] == [bobs.id]
    assert {r.id for r in door.batches.runs(ADMIN)} == {bobs.id, carols.id}
    refused = {"status": lambda: door.batches.status(BOB, carols.id),
               "results": lambda: door.batches.results(BOB, carols.id),
               "cancel": lambda: door.batches.cancel(BOB, carols.id),
               "export": lambda: door.batches.export(BOB, carols.id, "csv"),
               "comparable": lambda: door.batches.comparable(BOB, carols.id),
               "compare": lambda: door.batches.compare(BOB, bobs.id, carols.id)}
    for name, op in refused.items():
        with pytest.raises(RunNotFound) as info:
            op()
        assert info.value.code == "run_not_found" and "Printer" not in info.value.message, name
    # Bob's own run pairs with no one's but his own: Carol's same rows are not offered to him.
    assert door.batches.comparable(BOB, bobs.id) == []
    assert [r.id for r in door.batches.comparable(ADMIN, bobs.id)] == [carols.id]
    assert door.batches.status(CAROL, carols.id).state == "ended"  # the refused cancel changed nothing


def test_a_run_id_that_does_not_exist_is_refused_like_someone_elses(door: Console):
    carols = door.batches.submit(CAROL, **_request())
    missing = "00000000-0000-0000-0000-000000000000"
    for who, run_id in ((BOB, carols.id), (BOB, missing), (ADMIN, missing)):
        with pytest.raises(RunNotFound) as info:
            door.batches.status(who, run_id)
        assert info.value.message == RunNotFound(run_id).message  # the same words whether it exists or not
    with pytest.raises(NotAuthorised):
        door.batches.runs(None)


def test_a_run_is_always_the_askers_own_and_an_admin_reads_every_run(door: Console):
    run = door.batches.submit(BOB, **_request(user="alice"))  # a page cannot name another user
    assert run.user == "bob" and door.batches.status(ADMIN, run.id).user == "bob"
    _finished(door, BOB, run.id)
    rows = door.batches.results(ADMIN, run.id)
    assert [r["row"] for r in rows] == [1, 2, 3, 4] and all(r["outcome"] == "succeeded" for r in rows)
    assert door.batches.export(ADMIN, run.id, "jsonl").count(b"\n") == 4


def test_an_admin_cancels_an_analysts_run_and_the_analyst_sees_it_cancelled(door: Console, fresh_sim):
    fresh_sim.configure(ttft_s=0.3)  # each row takes a moment: the run is still moving when cancelled
    run = door.batches.submit(BOB, **_request(rows=ROWS * 5))
    with pytest.raises(RunNotFound):
        door.batches.cancel(CAROL, run.id)
    assert door.batches.active(door.batches.status(BOB, run.id))  # Carol's cancel changed nothing
    door.batches.cancel(ADMIN, run.id)
    done = _finished(door, BOB, run.id)
    assert done.state == "canceled" and done.counts["canceled"] > 0
    assert done.counts["succeeded"] + done.counts["failed"] + done.counts["canceled"] == 20

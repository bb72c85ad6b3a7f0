"""During an outage a call never re-reads the spool, and at recovery no caller waits for the replay."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import sqlalchemy as sa

from core.ledger.records import to_json
from core.ledger.schema import calls
from core.types import CallRecord, Usage
from tests.conftest import run_threads
from tests.integration.test_client_durability import _hold

SPOOLED = 3000


def _fill_spool(spool, n: int) -> list[str]:
    """``n`` billed records of an earlier outage, as the spool keeps them."""
    ids = [str(uuid.uuid4()) for _ in range(n)]
    lines = [to_json(CallRecord(id=i, ts=datetime.now(UTC), user="ana", model="claude-haiku-5-5", status="ok",
                                usage=Usage(input_tokens=12, output_tokens=4), cost_usd=Decimal("0.000032")))
             for i in ids]
    with open(spool.path, "a", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return ids


def _read_bytes() -> int:
    """Bytes this process has read through any read call so far (Linux's /proc/self/io rchar)."""
    with open("/proc/self/io", encoding="ascii") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("rchar:"))


def _bytes_read_by_calls(client, n: int) -> int:
    """Bytes read while ``n`` calls are made (HTTP answers included), as a count, not a time: load cannot move it."""
    start = _read_bytes()
    for i in range(n):
        client.create(f"outage {uuid.uuid4()} {i}", user="ana", model="claude-haiku-5-5", max_tokens=16)
    return _read_bytes() - start


def test_a_full_spool_neither_slows_calls_nor_stalls_them_at_recovery(make_client, tmp_path):
    db = tmp_path / "ledger.duckdb"
    client = make_client(ledger_url=f"duckdb:///{db}", spool_path=str(tmp_path / "s"), cache="off",
                         log_level="error")
    client.create("before", user="ana", model="claude-haiku-5-5", max_tokens=16)  # ana: known, no budget
    client.recorder.flush()
    client.ledger.engine.dispose()  # let another process take the file: the ledger is down
    holder = _hold(db)
    try:
        _bytes_read_by_calls(client, 3)  # the fault is noticed; records spool from here on
        few = _bytes_read_by_calls(client, 20)
        ids = _fill_spool(client.ledger.spool, SPOOLED)
        spool_size = client.ledger.spool.path.stat().st_size
        many = _bytes_read_by_calls(client, 20)
    finally:
        holder.communicate("\n", timeout=10)
    # A call that re-read the spool would read all of it (over a megabyte) each time: 20 calls, 20 copies.
    assert many < few + spool_size / 2, f"20 calls read {few:,} bytes with a near-empty spool and {many:,} " \
                                        f"with {SPOOLED} records ({spool_size:,} bytes) spooled"
    client.fake_clock.advance(60)  # past the ledger's back-off: the next write finds it back

    latencies: list[float] = []

    def call(i: int) -> None:
        for n in range(3):
            start = time.perf_counter()
            client.create(f"back {i} {n}", user="ana", model="claude-haiku-5-5", max_tokens=16)
            latencies.append(time.perf_counter() - start)

    start = time.perf_counter()
    assert run_threads(call, 8, timeout_s=120) == []
    while client.ledger.spool.pending() and time.perf_counter() - start < 120:
        time.sleep(0.05)
    replay_s = time.perf_counter() - start
    assert not client.ledger.spool.pending()
    assert max(latencies) < replay_s / 2, f"a caller waited {max(latencies):.2f} s at recovery " \
                                          f"(the replay of {SPOOLED} records took {replay_s:.2f} s)"
    with client.ledger.engine.connect() as conn:
        counts = dict(conn.execute(sa.select(calls.c.id, sa.func.count()).where(calls.c.id.in_(ids))
                                   .group_by(calls.c.id)).all())
    assert len(counts) == SPOOLED and set(counts.values()) == {1}

"""The ledger's contract, the same on a DuckDB file, DuckDB in memory and PostgreSQL."""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
import threading
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from core.clock import FakeClock
from core.ledger.engine import make_engine, mask_url, resolve_url
from core.ledger.records import to_json
from core.ledger.schema import SCHEMA_VERSION, budget_reservations, calls
from core.ledger.spool import Spool
from core.ledger.store import Ledger
from core.types import CallRecord, Usage
from tests.conftest import run_threads

REPO = Path(__file__).resolve().parents[2]
BACKENDS = ["duckdb_file", "duckdb_memory", pytest.param("postgres", marks=pytest.mark.postgres)]


def make_record(**kw) -> CallRecord:
    """A realistic record; every field can be overridden."""
    fields = dict(id=str(uuid.uuid4()), ts=datetime(2026, 11, 22, 12, 30, 15, 123456, tzinfo=UTC),
                  user="ana", model="claude-haiku-5-5", status="ok",
                  usage=Usage(input_tokens=1200, output_tokens=340, cache_creation_5m_tokens=50,
                              cache_creation_1h_tokens=7, cache_read_tokens=900),
                  cost_usd=Decimal("0.0031234567"), price_version="2026-11-22/claude-haiku-5-5@2026-10-07",
                  latency_ms=812.5, ttft_ms=140.25, streamed=True, retries=1, request_id="req_fake_0001",
                  key_label="primary", prompt_sha256="ab" * 32, source="cli")
    fields.update(kw)
    return CallRecord(**fields)


def url_for(backend: str, tmp_path: Path, request) -> str:
    if backend == "duckdb_file":
        return f"duckdb:///{tmp_path / 'ledger.duckdb'}"
    if backend == "duckdb_memory":
        return "duckdb:///:memory:"
    return request.getfixturevalue("pg_url")


@pytest.fixture(params=BACKENDS)
def backend(request, tmp_path) -> str:
    return request.param


@pytest.fixture
def ledger(backend, tmp_path, request):
    engine = make_engine(url_for(backend, tmp_path, request))
    led = Ledger(engine, Spool(tmp_path / "spool" / "ledger.spool"), clock=FakeClock())
    assert led.open()
    yield led
    engine.dispose()


def count_ids(engine, ids) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(calls.c.id, sa.func.count()).where(calls.c.id.in_(list(ids)))
                            .group_by(calls.c.id)).all()
    return {i: n for i, n in rows}


def reserve(engine, call_id: str, user: str = "ana") -> None:
    now = datetime(2026, 11, 22, 12, 0)
    with engine.begin() as conn:
        conn.execute(budget_reservations.insert().values(
            id=call_id, user_id=user, month="2026-11", amount_usd=Decimal("0.5"), created_at=now,
            expires_at=now + timedelta(minutes=15)))


def reservations(engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(sa.select(budget_reservations.c.id)).scalars())


# --- the contract, on every backend -----------------------------------------------------

def test_record_get_round_trip_is_exact(ledger):
    rec = make_record(cost_usd=Decimal("12.3456789012"), detail="why: nothing", prompt_text="hi")
    assert ledger.record(rec) == rec.id
    back = ledger.get(rec.id)
    assert back == rec  # every field, ts aware UTC, cost exactly the same Decimal
    assert isinstance(back.cost_usd, Decimal) and str(back.cost_usd) == "12.3456789012"
    assert ledger.get(str(uuid.uuid4())) is None


def test_naive_and_non_utc_timestamps_are_stored_as_utc(ledger):
    paris = datetime(2026, 7, 1, 2, 0, tzinfo=__import__("zoneinfo").ZoneInfo("Europe/Paris"))
    rec = make_record(ts=paris)
    ledger.record(rec)
    assert ledger.get(rec.id).ts == datetime(2026, 7, 1, 0, 0, tzinfo=UTC)


def test_record_deletes_its_reservation_in_the_same_transaction(ledger):
    rec, other = make_record(), make_record()
    reserve(ledger.engine, rec.id)
    reserve(ledger.engine, other.id, user="bo")
    ledger.record(rec)
    assert reservations(ledger.engine) == {other.id}  # only the settled call's hold is released


def test_recording_the_same_id_twice_keeps_one_row(ledger):
    rec = make_record()
    ledger.record(rec)
    ledger.record(make_record(id=rec.id, cost_usd=Decimal("9")))  # e.g. a retried write
    assert count_ids(ledger.engine, [rec.id]) == {rec.id: 1}
    assert ledger.get(rec.id).cost_usd == rec.cost_usd
    assert not ledger.spool.pending()


def test_fifty_threads_writing_at_once_all_land_once(ledger):
    per_thread, ids = 6, []
    lock = threading.Lock()

    def work(t: int) -> None:
        for i in range(per_thread):
            rec = make_record(user=f"u{t}", cost_usd=Decimal(t * 100 + i) / 10**10)
            reserve(ledger.engine, rec.id, user=f"u{t}")
            got = ledger.record(rec)
            with lock:
                ids.append(got)

    assert not run_threads(work, 50)
    assert len(ids) == len(set(ids)) == 50 * per_thread
    assert not ledger.spool.pending(), "a concurrent write fell back to the spool"
    counts = count_ids(ledger.engine, ids)
    assert set(counts) == set(ids) and set(counts.values()) == {1}
    assert reservations(ledger.engine) == set()
    with ledger.engine.connect() as conn:
        total = conn.execute(sa.select(sa.func.sum(calls.c.cost_usd))).scalar_one()
    assert Decimal(total) == sum(Decimal(t * 100 + i) / 10**10 for t in range(50) for i in range(per_thread))


def test_health_reports_rows_and_schema(ledger):
    ledger.record(make_record())
    h = ledger.health()
    assert h["ok"] is True and h["rows"] == 1 and h["spool_pending"] == 0
    assert h["schema_version"] == SCHEMA_VERSION and h["backend"] in ("duckdb", "postgresql")


def test_replay_rejects_a_poison_line_and_keeps_the_rest(ledger):
    good = make_record()
    ledger.spool.append(to_json(good))
    ledger.spool.append('{"id": "not a record"}')
    no_user = to_json(make_record(user="u")).replace('"user_id":"u"', '"user_id":null')
    ledger.spool.append(no_user)  # a NOT NULL violation: the database refuses it for good
    assert ledger.replay_spool() == 3
    assert count_ids(ledger.engine, [good.id]) == {good.id: 1}
    assert not ledger.spool.pending()
    assert len(ledger.spool.rejected_path.read_text().splitlines()) == 2


# --- faults: the spool takes over, and gives back exactly once ----------------------------

def _lock_duckdb_file(path: Path) -> subprocess.Popen:
    """Another process holding the DuckDB file open read-write (so nobody else can write it)."""
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys; c = duckdb.connect(sys.argv[1]); "
         "print('locked', flush=True); sys.stdin.read()", str(path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    return holder


def test_locked_duckdb_file_spools_then_replays_once(tmp_path, caplog):
    db = tmp_path / "ledger.duckdb"
    clock = FakeClock()
    first = Ledger(make_engine(f"duckdb:///{db}"), Spool(tmp_path / "ledger.spool"), clock=clock)
    assert first.open()
    first.engine.dispose()  # release the file for the other process
    holder = _lock_duckdb_file(db)
    try:
        recs = [make_record(cost_usd=Decimal(i) / 1000) for i in range(5)]
        with caplog.at_level(logging.WARNING, logger="tollgate.ledger"):
            assert [first.record(r) for r in recs] == [r.id for r in recs]  # never raises
        assert first.spool.count() == 5
        h = first.health()
        assert h["ok"] is False and h["spool_pending"] == 5 and "lock" in h["last_error"].lower()
        assert any("unavailable" in m for m in caplog.messages)
    finally:
        holder.communicate("")
    clock.advance(first.retry_after_s + 1)
    late = make_record()
    first.record(late)  # a successful write notices the backlog and replays it, in the background
    first.wait_for_replay()
    assert not first.spool.pending()
    ids = [r.id for r in recs] + [late.id]
    assert count_ids(first.engine, ids) == dict.fromkeys(ids, 1)
    assert [first.get(r.id) for r in recs] == recs  # every field survived the spool exactly
    assert first.replay_spool() == 0
    first.engine.dispose()


def test_replay_after_a_crash_mid_replay_inserts_nothing_twice(tmp_path):
    spool = Spool(tmp_path / "ledger.spool")
    recs = [make_record() for _ in range(3)]
    for r in recs:
        spool.append(to_json(r))
    saved = spool.path.read_bytes()
    led = Ledger(make_engine(f"duckdb:///{tmp_path / 'l.duckdb'}"), spool, clock=FakeClock())
    assert led.open()  # replays at open
    spool.path.write_bytes(saved)  # as if the process died after inserting, before truncating
    assert led.replay_spool() == 3
    assert count_ids(led.engine, [r.id for r in recs]) == {r.id: 1 for r in recs}
    led.engine.dispose()


SPOOL_WRITER = """
import sys
from core.ledger.spool import Spool
spool = Spool(sys.argv[1])
for i in range(int(sys.argv[3])):
    spool.append('{"writer": "%s", "n": %d, "pad": "%s"}' % (sys.argv[2], i, "x" * 5000))
"""


def test_spool_appends_from_processes_and_threads_never_interleave(tmp_path):
    import json
    import os

    path = tmp_path / "shared.spool"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [subprocess.Popen([sys.executable, "-c", SPOOL_WRITER, str(path), f"p{i}", "150"], env=env)
             for i in range(3)]
    spool = Spool(path)

    def write(t: int) -> None:
        for n in range(100):
            spool.append(json.dumps({"writer": f"t{t}", "n": n}))

    assert run_threads(write, 4) == []
    assert all(p.wait(timeout=60) == 0 for p in procs)
    lines = [json.loads(x) for x in path.read_text().splitlines()]  # every line whole
    seen = {(x["writer"], x["n"]) for x in lines}
    assert len(lines) == len(seen) == 3 * 150 + 4 * 100
    drained = []
    assert spool.drain(drained.extend) == len(lines) and not spool.pending()


def test_a_torn_line_from_a_dead_writer_never_swallows_a_record(tmp_path):
    led = Ledger(make_engine("duckdb:///:memory:"), Spool(tmp_path / "s.spool"), clock=FakeClock())
    led.spool.path.parent.mkdir(parents=True, exist_ok=True)
    led.spool.path.write_text('{"id": "died-mid-wri')  # a writer killed inside write()
    rec = make_record()
    led.spool.append(to_json(rec))  # starts on a fresh line
    assert led.replay_spool() == 2
    assert led.get(rec.id) == rec
    assert led.spool.rejected_path.read_text() == '{"id": "died-mid-wri\n'
    led.spool.path.write_text('{"id": "torn at the end')  # nothing acknowledged after it
    assert led.replay_spool() == 0 and not led.spool.pending()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.postgres
def test_postgres_down_spools_without_leaking_the_password_then_replays(tmp_path, pg_url, caplog):
    down = f"postgresql+psycopg://tollgate:s3cret-pw@127.0.0.1:{_closed_port()}/nothing"
    spool = Spool(tmp_path / "ledger.spool")
    dead = Ledger(make_engine(down), spool, clock=FakeClock())
    recs = [make_record() for _ in range(4)]
    with caplog.at_level(logging.WARNING, logger="tollgate.ledger"):
        assert dead.open() is False
        assert [dead.record(r) for r in recs] == [r.id for r in recs]
    h = dead.health()
    assert h["ok"] is False and h["spool_pending"] == 4 and h["last_error"]
    for text in (h["url"], h["last_error"], caplog.text, spool.path.read_text()):
        assert "s3cret-pw" not in text
    back = Ledger(make_engine(pg_url), spool, clock=FakeClock())
    assert back.open()  # the database is back: open replays
    assert back.replay_spool() == 0
    assert count_ids(back.engine, [r.id for r in recs]) == {r.id: 1 for r in recs}
    back.engine.dispose()


def test_record_raises_only_when_neither_database_nor_spool_can_keep_it(tmp_path):
    from core.errors import LedgerUnavailable

    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    dead = Ledger(make_engine(f"postgresql+psycopg://u@127.0.0.1:{_closed_port()}/x"),
                  Spool(blocker / "ledger.spool"), clock=FakeClock())
    with pytest.raises(LedgerUnavailable):
        dead.record(make_record())


def test_a_malformed_record_is_refused_before_any_io(tmp_path):
    led = Ledger(make_engine("duckdb:///:memory:"), Spool(tmp_path / "s.spool"), clock=FakeClock())
    with pytest.raises(ValueError, match="status"):
        led.record(make_record(status="weird"))
    assert not (tmp_path / "s.spool").exists()


# --- engine helpers -----------------------------------------------------------------------

def test_mask_url_never_shows_a_password():
    assert mask_url("postgresql+psycopg://bob:hunter2@db:5432/x") == "postgresql+psycopg://bob:***@db:5432/x"
    assert "hunter2" not in mask_url("postgresql://bob:hunter2@db/x?sslmode=require")
    assert mask_url("duckdb:////tmp/x.duckdb") == "duckdb:////tmp/x.duckdb"


def test_relative_duckdb_paths_resolve_from_the_project_root(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert resolve_url("duckdb:///data/ledger.duckdb").database == str(REPO / "data" / "ledger.duckdb")
    assert resolve_url(None).database == str(REPO / "data" / "ledger.duckdb")
    a, b = resolve_url("duckdb:///:memory:"), resolve_url("duckdb:///:memory:")
    assert a.database.startswith(":memory:") and a.database != b.database  # private per engine

"""Fixtures for driving the guarded client through the real SDK against the simulator."""

from __future__ import annotations

import io
import json
import logging
from decimal import Decimal

import anthropic
import pytest
import sqlalchemy as sa
from sqlalchemy.pool import StaticPool

from core.clock import FakeClock
from core.config import load_settings
from core.factory import build_client
from core.ledger.schema import metadata
from core.observability.logs import JsonFormatter
from core.simulator import Simulator
from core.upstream.keys import ApiKey

PRIMARY = ApiKey("primary", "sk-ant-test-fake-primary-0000")


@pytest.fixture(params=["duckdb-file", "duckdb-memory", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request, tmp_path):
    """An empty ledger database (every table) on each backend: DuckDB file, DuckDB in memory, PostgreSQL."""
    if request.param == "duckdb-file":
        eng = sa.create_engine(f"duckdb:///{tmp_path / 'ledger.duckdb'}")
    elif request.param == "duckdb-memory":  # one shared connection, else each one is its own DB
        eng = sa.create_engine("duckdb:///:memory:", poolclass=StaticPool)
    else:
        eng = sa.create_engine(request.getfixturevalue("pg_url"))
    metadata.create_all(eng)
    yield eng
    eng.dispose()


@pytest.fixture(scope="module")
def sim():  # one per test module: no module sees another's leftover requests or settings
    with Simulator() as s:
        yield s


@pytest.fixture
def fresh_sim(sim):
    sim.reset()
    sim.configure(rpm=None, input_tpm=None, output_tpm=None, reject_keys=[], ttft_s=0.0, tokens_per_s=0.0,
                  timeout_hold_s=5.0, batch_seconds=2.0)
    return sim


SIM_KEY = "sk-ant-test-fake-0000"  # obviously fake: the simulator takes any key it is not told to refuse


@pytest.fixture
def sdk(fresh_sim):
    """The real Anthropic SDK against a fresh simulator, with no retries and a 5 s timeout."""
    with anthropic.Anthropic(api_key=SIM_KEY, base_url=fresh_sim.url, max_retries=0, timeout=5.0) as c:
        yield c


def without_id(message) -> dict:
    """An SDK message as a dict, less its id (new on every reply): what two equivalent replies share."""
    d = message.to_dict()
    d.pop("id")
    return d


@pytest.fixture
def make_client(fresh_sim):
    """Build a client on the simulator with a fake clock (retries and limits never really sleep)."""
    made = []

    def make(*, keys=(PRIMARY,), clock=None, ledger_url=None, real_time=False, **overrides):
        from core.clock import SystemClock

        clock = SystemClock() if real_time else (clock or FakeClock())
        settings = load_settings(env={}, load_keys=False, keys=tuple(keys), base_url=fresh_sim.url,
                                 ledger_url=ledger_url, timeout_s=overrides.pop("timeout_s", 2.0),
                                 **overrides)
        sleep = __import__("time").sleep if real_time else clock.sleep
        client = build_client(settings, clock=clock, sleep=sleep, use_ledger=ledger_url is not None)
        client.fake_clock = clock
        made.append(client)
        return client

    yield make
    for c in made:
        c.close()


MODELS = ["claude-haiku-5-5", "claude-sonnet-5-5", "claude-opus-5-5"]
TOKENS = ["input_tokens", "output_tokens", "cache_creation_5m_tokens", "cache_creation_1h_tokens",
          "cache_read_tokens"]


def random_calls(seed: int, count: int, *, start, days: int, users: list[str], statuses: dict[str, int],
                 max_tokens: int, saved: tuple[int, int], prices=None, jitter_us: bool = False,
                 unpriced_share: float | None = None, error_codes: dict[str, str] | None = None,
                 shape=None) -> list:
    """``count`` seeded calls over ``days`` from ``start`` (aware UTC): a module's known data set.

    Statuses are drawn by weight; billed calls (ok, error) get up to ``max_tokens`` of each token
    kind, which ``shape(i, usage)`` may replace. Cost comes from the price table ``prices``, else is
    random below $0.1. ``jitter_us`` adds sub-second times, ``unpriced_share`` flags billed calls.
    """
    import random
    import uuid
    from datetime import timedelta
    from decimal import Decimal

    from core.types import CallRecord, Usage

    rnd = random.Random(seed)
    recs = []
    for i in range(count):
        status = rnd.choices(list(statuses), list(statuses.values()))[0]
        billed = status in ("ok", "error")
        usage = Usage(*(rnd.randrange(0, max_tokens) if billed else 0 for _ in TOKENS))
        if shape is not None and billed:
            usage = shape(i, usage)
        ts = start + timedelta(minutes=rnd.randrange(0, days * 24 * 60),
                               microseconds=rnd.randrange(10**6) if jitter_us else 0)
        user, model = rnd.choice(users), rnd.choice(MODELS)
        extra = {"tokens_saved": rnd.randrange(*saved) if status == "cached" else 0,
                 "error_code": (error_codes or {}).get(status)}
        if prices is not None:
            priced = prices.price(usage, model, ts)
            extra.update(cost_usd=priced.cost if billed else Decimal(0), price_version=priced.price_version)
        else:
            extra["cost_usd"] = Decimal(rnd.randrange(0, 10**9)) / 10**10 if billed else Decimal(0)
        extra["unpriced"] = billed and unpriced_share is not None and rnd.random() < unpriced_share
        recs.append(CallRecord(
            id=str(uuid.uuid4()), ts=ts, user=user, model=model, status=status, usage=usage, **extra,
            latency_ms=rnd.randrange(200, 40000) / 4, ttft_ms=rnd.randrange(100, 4000) / 4 if status == "ok" else None))
    return recs


@pytest.fixture(scope="module")
def pg_module_url():
    """A PostgreSQL schema for one test module's read-only data set (loaded once, dropped after)."""
    from tests.conftest import pg_schema

    with pg_schema("tm_") as url:
        yield url


def loaded_ledger(request, tmp, recs, pg_fixture: str = "pg_module_url"):
    """A module's read-only data set, recorded through the Ledger on the backend ``request.param`` names.

    Returns the engine (the caller disposes of it). Postgres uses the module's own schema fixture.
    """
    from core.ledger.engine import make_engine
    from core.ledger.spool import Spool
    from core.ledger.store import Ledger

    url = {"duckdb_file": f"duckdb:///{tmp / 'ledger.duckdb'}", "duckdb_memory": "duckdb:///:memory:"}.get(
        request.param) or request.getfixturevalue(pg_fixture)
    engine = make_engine(url)
    ledger = Ledger(engine, Spool(tmp / "ledger.spool"), clock=FakeClock())
    for r in recs:
        ledger.record(r)
    assert not ledger.spool.pending()
    return engine


def read_only_ledger(dataset, name: str, backends):
    """A module fixture: ``dataset()`` recorded through the Ledger once per backend in ``backends``, yielding
    (engine, records) for tests that only read it; the engine is disposed of after the module."""
    @pytest.fixture(scope="module", params=backends)
    def loaded(request, tmp_path_factory):
        recs = dataset()
        engine = loaded_ledger(request, tmp_path_factory.mktemp(name), recs)
        yield engine, recs
        engine.dispose()
    return loaded


def open_circuit(client, sim, model: str = "claude-haiku-5-5") -> None:
    """Two scripted 503s through a client built with max_attempts=1, breaker_failures=2: the circuit opens."""
    from core import errors

    sim.script_faults([{"fault": "503"}, {"fault": "503"}])
    for _ in range(2):
        with pytest.raises(errors.UpstreamServerError):
            client.create("ping", user="ana", model=model)


def budgeted_client(make_client, tmp_path, usd: str, **overrides):
    """A real-time client with a file ledger, no cache and a budget of ``usd`` for "ana" (opened, ready)."""
    client = make_client(real_time=True, ledger_url=f"duckdb:///{tmp_path / 'ledger.duckdb'}",
                         spool_path=str(tmp_path / "spool"), cache="off", **overrides)
    client.ledger.open()
    client.budgets.set_budget("ana", Decimal(usd))
    return client


def budget_burst(client, send, calls: int, threads: int = 8) -> list[str]:
    """``send(i)`` for i in range(calls) on ``threads`` threads: "ok" or "refused" (BudgetExceeded) for each,
    in order, once the recorder has flushed what went through."""
    from concurrent.futures import ThreadPoolExecutor

    from core.errors import BudgetExceeded

    def one(i):
        try:
            send(i)
            return "ok"
        except BudgetExceeded:
            return "refused"

    with ThreadPoolExecutor(threads) as pool:
        outcomes = list(pool.map(one, range(calls)))
    client.recorder.flush()
    return outcomes


def count_tokens_calls(sim) -> int:
    """How many count_tokens requests the simulator has had since its reset."""
    return sim.stats()["paths"].get("/v1/messages/count_tokens", 0)


def messages_seen(sim) -> int:
    """How many /v1/messages requests the simulator answered (or failed)."""
    return sim.stats()["messages_requests"]


@pytest.fixture
def json_logs():
    """A function returning the JSON lines logged so far (every one parsed), optionally of one event."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    log = logging.getLogger("tollgate")
    level = log.level
    log.addHandler(handler)
    log.setLevel(logging.INFO)

    def lines(name: str | None = None) -> list[dict]:
        parsed = [json.loads(x) for x in stream.getvalue().splitlines()]
        return [p for p in parsed if name is None or p["event"] == name]
    lines.text = stream.getvalue
    yield lines
    log.removeHandler(handler)
    log.setLevel(level)


LEDGER_BACKENDS = ["duckdb-file", pytest.param("postgres", marks=pytest.mark.postgres)]
T0 = __import__("datetime").datetime(2026, 11, 1, 9, 0)


def add_calls(engine, rows: int, start=T0, *, version: int | None = None, **columns) -> None:
    """``rows`` ok calls by ana, a minute apart from ``start``, with any extra ``columns``, into a ledger
    at schema ``version`` (None: the code's), so no column a later version added is written."""
    import uuid
    from datetime import timedelta

    from core.ledger.schema import SCHEMA_VERSION, as_of, calls

    table = as_of(calls, SCHEMA_VERSION if version is None else version)
    if rows:
        with engine.begin() as conn:
            conn.execute(table.insert(), [
                {"id": str(uuid.uuid4()), "ts": start + timedelta(minutes=i), "user_id": "ana",
                 "model": "claude-haiku-5-5", "status": "ok", "cost_usd": "0.0000123400", "source": "cli",
                 **columns} for i in range(rows)])


@pytest.fixture(params=LEDGER_BACKENDS)
def old_ledger(request, tmp_path):
    """A factory: ``old_ledger(version, rows)`` is a ledger as schema ``version`` left it, on each backend.

    ``hand_written=True`` (version 4 only) makes it as releases before Alembic did: the table
    created by a hand-written step, a ``tollgate_schema`` row 4 and no ``alembic_version``.
    """
    from core.ledger.engine import make_engine
    from core.ledger.migrations import migrate
    from core.ledger.schema import login_attempts, schema_version

    made = []

    def make(version: int, rows: int = 10, *, hand_written: bool = False):
        assert not hand_written or version == 4
        url = (f"duckdb:///{tmp_path / f'v{version}.duckdb'}" if request.param == "duckdb-file"
               else request.getfixturevalue("pg_url"))
        engine = make_engine(url)
        made.append(engine)
        reached = 3 if hand_written else version
        assert migrate(engine, target=reached) == reached
        if hand_written:
            with engine.begin() as conn:
                metadata.create_all(conn, tables=[login_attempts])
                conn.execute(schema_version.insert().values(version=4, applied_at=T0))
        add_calls(engine, rows, version=version)
        return engine

    yield make
    for engine in made:
        engine.dispose()


def before_upgrade(engine, version: int, *absent: str) -> set[str]:
    """The ledger's tables, once it is checked to stand at ``version`` without any of ``absent``."""
    from core.ledger.migrations import current_version

    with engine.connect() as conn:
        names = tables(conn)
        assert current_version(conn) == version and not names & set(absent)
    return names


def alembic_version(conn) -> list[str]:
    """The revisions Alembic's own table records (a ledger at one head has exactly one)."""
    return list(conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars())


def schema_versions(conn) -> list[int]:
    """The versions ``tollgate_schema`` records as applied, in order."""
    return list(conn.execute(sa.text("SELECT version FROM tollgate_schema ORDER BY version")).scalars())


def tables(conn) -> set[str]:
    """The names of the tables in the connection's current schema."""
    return set(conn.execute(sa.text("SELECT table_name FROM information_schema.tables "
                                    "WHERE table_schema = current_schema()")).scalars())


def table_rows(conn, table) -> list:
    """Every row of ``table`` in primary-key order: equal before and after an upgrade when nothing is lost."""
    return conn.execute(sa.select(table).order_by(*table.primary_key.columns)).all()

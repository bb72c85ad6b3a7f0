"""Fold ledger rows into the rollups (schema 10), incrementally, idempotently, one refresher at a time.

A row is folded exactly once: the rollups gain its sums and its ``rolled`` flag turns true in ONE
transaction, which sees one snapshot (PostgreSQL: REPEATABLE READ; DuckDB: always), so a row written
meanwhile is neither counted nor marked and waits for the next refresh. A row written late for an hour
already rolled (a spool replay, a journal left by a killed process) is still unrolled, hence folded in
by the next refresh: the marker is per row, not a time watermark. Replicas sharing a PostgreSQL ledger
take turns through a transaction-scoped advisory lock (a busy lock: skip this round); on DuckDB one
process owns the file, and a lock per database serialises its threads.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

from sqlalchemy import Engine, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from core.ledger.schema import (
    BUCKETS_PER_OCTAVE,
    COUNT_MEASURES,
    KNOWN_THRESHOLDS,
    LATENCY,
    LATENCY_SOURCES,
    MONEY_MEASURES,
    MONEY_UNITS,
    NULL_BUCKET,
    TTFT,
)
from core.types import STATUS_OK

PG_LOCK_KEY = 0x72_6F_6C_6C  # pg_advisory_xact_lock key for "roll"
# Advisory locks are per database, not per schema: a ledger in its own schema (a tenant, a test) locks only itself.
_PG_LOCK = ":k, hashtext(current_schema())"
ALL_MODELS_LATENCY = (("latency_hourly_all", "hour"), ("latency_daily_all", "day"))  # schema 11 and 12
CHUNK = timedelta(days=7)  # rows folded per transaction: a week of calls (the first refresh of a big ledger loops)
_LOCKS: dict[str, threading.Lock] = {}
_GUARD = threading.Lock()
PROMPT = "(input_tokens + cache_creation_5m_tokens + cache_creation_1h_tokens + cache_read_tokens)"
BAND = " + ".join(f"(CASE WHEN {PROMPT} > {t} THEN 1 ELSE 0 END)" for t in KNOWN_THRESHOLDS)
KEY_SQL = {"model": "model", "status": "status", "error_code": "coalesce(error_code, '')",
           "service_tier": "coalesce(service_tier, '')", "inference_geo": "coalesce(inference_geo, '')",
           "prompt_band": f"({BAND})"}
_SUMS = {"calls": "count(*)", "unpriced": "sum(CASE WHEN unpriced THEN 1 ELSE 0 END)",
         "unsplit_cost_usd": "sum(CASE WHEN cost_input_usd IS NULL THEN cost_usd ELSE 0 END)"}


def bucket_sql(column: str) -> str:
    """SQL for the latency bucket of ``column`` (ms; see schema.BUCKETS_PER_OCTAVE), NULL_BUCKET for NULL."""
    return (f"CASE WHEN {column} IS NULL THEN {NULL_BUCKET} ELSE CAST(floor(ln(greatest({column}, 0.001)) "
            f"/ ln(2) * {BUCKETS_PER_OCTAVE}) AS INTEGER) END")


def sum_sql(name: str, sign: int = 1) -> str:
    """SQL summing measure ``name`` over calls rows (times ``sign``); money as BIGINT units of 1e-10 USD."""
    expr = f"{'-' if sign < 0 else ''}coalesce({_SUMS.get(name, f'sum({name})')}, 0)"
    return f"CAST({expr} * {MONEY_UNITS} AS BIGINT)" if name in MONEY_MEASURES else expr


def _upsert(conn: Connection, table: str, bucket: str, with_user: bool, where: str, params: dict,
            sign: int) -> None:
    keys = [bucket, *(["user_id"] if with_user else []), *KEY_SQL]
    exprs = [f"date_trunc('{bucket}', ts)", *(["user_id"] if with_user else []), *KEY_SQL.values()]
    measures = (*COUNT_MEASURES, *MONEY_MEASURES)
    sets = ", ".join(f"{m} = {table}.{m} + EXCLUDED.{m}" for m in measures)
    conn.execute(text(
        f"INSERT INTO {table} ({', '.join(keys)}, {', '.join(measures)}) "
        f"SELECT {', '.join(exprs)}, {', '.join(sum_sql(m, sign) for m in measures)} FROM calls WHERE {where} "
        f"GROUP BY {', '.join(exprs)} ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {sets}"), params)


def _upsert_latency(conn: Connection, table: str, unit: str, where: str, params: dict, sign: int,
                    with_model: bool = True) -> None:
    parts = " UNION ALL ".join(
        f"SELECT date_trunc('{unit}', ts) AS t, model, {metric} AS metric, {bucket_sql(col)} AS bucket "
        f"FROM calls WHERE {where} AND status = '{STATUS_OK}'" for metric, col in ((LATENCY, "latency_ms"),
                                                                                   (TTFT, "ttft_ms")))
    keys = "t, model, metric, bucket" if with_model else "t, metric, bucket"
    cols = keys.replace("t,", f"{unit},", 1)
    conn.execute(text(
        f"INSERT INTO {table} ({cols}, n) "
        f"SELECT {keys}, {'-' if sign < 0 else ''}count(*) FROM ({parts}) AS v GROUP BY {keys} "
        f"ON CONFLICT ({cols}) DO UPDATE SET n = {table}.n + EXCLUDED.n"), params)


# (table, unit, per user): usage_daily_all and usage_monthly came with schema 14.
USAGE_ROLLUPS = (("usage_hourly", "hour", True), ("usage_hourly_all", "hour", False), ("usage_daily", "day", True),
                 ("usage_daily_all", "day", False), ("usage_monthly", "month", True))
# (table, unit, per model): latency_hourly_all came with schema 11, latency_daily_all with 12.
LATENCY_ROLLUPS = (*((t, unit, True) for t, unit in LATENCY_SOURCES),
                   *((t, unit, False) for t, unit in ALL_MODELS_LATENCY))


def fold(conn: Connection, where: str, params: dict, sign: int = 1, tables: tuple[str, ...] | None = None) -> None:
    """Add (``sign`` 1) or take away (-1) the calls rows matching ``where`` to or from every rollup (of ``tables``
    only, if given: a schema step filling the rollups it creates)."""
    for table, unit, with_user in USAGE_ROLLUPS:
        if tables is None or table in tables:
            _upsert(conn, table, unit, with_user, where, params, sign)
    for table, unit, with_model in LATENCY_ROLLUPS:
        if tables is None or table in tables:
            _upsert_latency(conn, table, unit, where, params, sign, with_model)
    if sign < 0:  # a group left with no call must not show as a row of zeros
        for table, *_ in USAGE_ROLLUPS:
            conn.execute(text(f"DELETE FROM {table} WHERE calls = 0"))
        for table, *_ in LATENCY_ROLLUPS:
            conn.execute(text(f"DELETE FROM {table} WHERE n = 0"))


def tune(conn: Connection) -> None:
    """PostgreSQL, for this transaction: room to hash a week of calls' groups in memory (the default 4 MB work_mem
    sorted each fold on disk, an external merge of ~20 MB), and no JIT (compiling each fold's plan)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SET LOCAL work_mem = '256MB'"))
        conn.execute(text("SET LOCAL jit = off"))


def _local_lock(engine: Engine) -> threading.Lock:
    with _GUARD:
        return _LOCKS.setdefault(str(engine.url), threading.Lock())


def _fold_chunk(engine: Engine, wait: bool) -> int | None:
    """Fold the oldest week of unrolled rows; their count, 0 when none is left, None when another refresher runs."""
    pg = engine.dialect.name == "postgresql"
    lock = threading.Lock() if pg else _local_lock(engine)
    if not lock.acquire(blocking=wait):
        return None
    try:
        conn_opts = {"isolation_level": "REPEATABLE READ"} if pg else {}
        with engine.connect().execution_options(**conn_opts) as conn, conn.begin():
            if pg and not conn.execute(text(f"SELECT pg_try_advisory_xact_lock({_PG_LOCK})"), {"k": PG_LOCK_KEY}).scalar():
                return None
            tune(conn)
            lo = conn.execute(text("SELECT min(ts) FROM calls WHERE NOT rolled")).scalar()
            if lo is None:
                return 0
            params = {"lo": lo, "hi": _start_of_hour(lo) + CHUNK}
            where = "NOT rolled AND ts >= :lo AND ts < :hi"
            fold(conn, where, params)
            return conn.execute(text(f"UPDATE calls SET rolled = TRUE WHERE {where}"), params).rowcount
    finally:
        lock.release()


def _start_of_hour(ts: datetime) -> datetime:
    return ts.replace(minute=0, second=0, microsecond=0)


def refresh(engine: Engine, *, wait: bool = False, max_chunks: int | None = None) -> int:
    """Fold every unrolled row into the rollups; returns how many rows were folded (0: nothing to do or another
    process is at it). ``wait`` blocks on another thread of this process instead of skipping (DuckDB)."""
    total, chunks = 0, 0
    while max_chunks is None or chunks < max_chunks:
        try:
            n = _fold_chunk(engine, wait)
        except DBAPIError as exc:  # a write conflict (another writer touched a row): the next round retries
            if total or not _is_conflict(exc):
                raise
            return 0
        if not n:
            return total
        total, chunks = total + n, chunks + 1
    return total


def _is_conflict(exc: DBAPIError) -> bool:
    msg = str(exc.orig).lower()
    return "could not serialize" in msg or "conflict" in msg


def locked(conn: Connection) -> None:
    """Take the rollup lock for ``conn``'s transaction (PostgreSQL), for a change that must not race a refresh."""
    if conn.dialect.name == "postgresql":
        conn.execute(text(f"SELECT pg_advisory_xact_lock({_PG_LOCK})"), {"k": PG_LOCK_KEY})


def local_lock(engine: Engine) -> threading.Lock:
    """The lock a DuckDB process's refreshes hold (a no-op stand-in on PostgreSQL, whose lock is ``locked``)."""
    return threading.Lock() if engine.dialect.name == "postgresql" else _local_lock(engine)


class Refresher:
    """A daemon thread folding new rows into the rollups every ``every_s`` seconds (the console starts one).

    A failed round (the database down, a write conflict) is logged and retried at the next one: the
    reports stay exact meanwhile, reading the unrolled rows raw.
    """

    def __init__(self, engine: Engine, every_s: float) -> None:
        self.engine, self.every_s = engine, every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tollgate-rollup", daemon=True)

    @classmethod
    def every(cls, engine: Engine, every_s: float) -> Refresher | None:
        """A started refresher, or None when ``every_s`` is 0 (TOLLGATE_ROLLUP_REFRESH_S=0: never)."""
        return cls(engine, every_s).start() if every_s > 0 else None

    def start(self) -> Refresher:
        self._thread.start()
        return self

    def _run(self) -> None:
        import logging

        log = logging.getLogger("tollgate.ledger.rollup")
        while not self._stop.is_set():
            try:
                refresh(self.engine)
            except Exception as exc:  # noqa: BLE001 - the next round retries; reports read raw rows meanwhile
                log.warning("rollup refresh failed (%s); retrying in %.0f s", type(exc).__name__, self.every_s)
            if self._stop.wait(self.every_s):
                return

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

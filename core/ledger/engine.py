"""SQLAlchemy engines for the ledger: DuckDB (file or memory) and PostgreSQL, thread-safe.

DuckDB is embedded: every connection of one process to the same file shares one
database instance, and ``:memory:`` would be a *new* empty database per connection,
so an in-memory URL is rewritten to a named in-memory database (shared by the pool's
connections, private to the engine). The pool size was chosen by measurement
(``python bench/ledger_queries.py --writes``): with 50 writer threads a QueuePool of
2-4 connections records ~1.5x faster than one shared connection (DuckDB's optimistic
concurrency keeps appends of distinct ids conflict-free; the ledger retries the rare
conflict), and a dashboard query no longer blocks every writer while it runs.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.pool import QueuePool

from core.errors import mask_url_passwords
from core.paths import SOURCE_ROOT, data_files, default_data_dir, in_checkout

ROOT = SOURCE_ROOT
# Relative DuckDB paths are taken from a checkout's root, or from the working directory when installed.
DEFAULT_URL = data_files(default_data_dir())["ledger_url"]
DUCKDB_POOL_SIZE = 4
POOL_TIMEOUT_S = 60  # a writer waits this long for a connection before the record is spooled
PING_IDLE_S = 1.0  # a PostgreSQL connection idle this long is pinged before use (one round trip)
PG_CONNECT_TIMEOUT_S = 5  # a down database must not hang a call: fail fast and spool

def mask_url(url: str | URL) -> str:
    """The URL with any password replaced by ``***`` (safe for logs, health and the console)."""
    if isinstance(url, URL):
        return url.render_as_string(hide_password=True)
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL is still masked by pattern
        return mask_url_passwords(str(url))


def resolve_url(url: str | None = None) -> URL:
    """Parse ``url`` (default: ledger.duckdb in the data directory), making a relative DuckDB path absolute."""
    parsed = make_url(url or DEFAULT_URL)
    if parsed.get_backend_name() != "duckdb":
        return parsed
    db = parsed.database or ":memory:"
    if db.startswith(":memory:"):
        # One shared named database per engine, so pooled connections see the same data.
        return parsed.set(database=f":memory:tollgate_{uuid.uuid4().hex}" if db == ":memory:" else db)
    path = Path(db).expanduser()
    if not path.is_absolute():
        path = (ROOT if in_checkout() else Path.cwd()) / path
    return parsed.set(database=str(path))


def make_engine(url: str | None = None, *, pool_size: int | None = None) -> Engine:
    """An engine for ``url`` that dozens of threads may write through at once.

    DuckDB: the data directory is created, connections come from a QueuePool of
    ``pool_size`` (default ``DUCKDB_POOL_SIZE``) over the one shared database
    instance. PostgreSQL: a ping after idling (survives a restart of the server) and a short
    connect timeout so an outage turns into a spooled record, not a hung call.
    Nothing is connected here: the first use opens the database.
    """
    parsed = resolve_url(url)
    if parsed.get_backend_name() == "duckdb":
        db = parsed.database or ""
        if not db.startswith(":memory:"):
            Path(db).parent.mkdir(parents=True, exist_ok=True)
        size = pool_size or DUCKDB_POOL_SIZE
        engine = create_engine(parsed, poolclass=QueuePool, pool_size=size, max_overflow=0,
                               pool_timeout=POOL_TIMEOUT_S)
        event.listen(engine, "connect", _no_progress_bar)
        return engine
    if parsed.get_backend_name() != "postgresql":
        return create_engine(parsed, pool_pre_ping=True)
    kwargs: dict = {"connect_args": {"connect_timeout": PG_CONNECT_TIMEOUT_S}, "pool_timeout": POOL_TIMEOUT_S}
    if pool_size:
        kwargs.update(pool_size=pool_size, max_overflow=2 * pool_size)
    engine = create_engine(parsed, **kwargs)
    _ping_when_idle(engine)
    return engine


def _no_progress_bar(dbapi_conn, _record) -> None:
    """DuckDB draws a progress bar on the process's stdout for any query over 2 s: in a user's script, a CLI's
    ``--json`` output or a pipe, that is garbage among their lines (a loaded machine's spool replay drew one)."""
    dbapi_conn.execute("SET enable_progress_bar = false")
    dbapi_conn.execute("SET enable_progress_bar_print = false")  # even if a later SET progress_bar_time enables it


def _ping_when_idle(engine: Engine) -> None:
    """Ping a pooled connection at checkout only once it sat idle PING_IDLE_S: a busy pool pays no round trip.

    SQLAlchemy's ``pool_pre_ping`` pings at every checkout, one round trip more per statement. A connection
    broken while in steady use (a server restart) fails its statement instead; SQLAlchemy then drops the whole
    pool, and that one write is spooled and replayed like any other outage's."""
    def checkin(_dbapi, record) -> None:
        record.info["idle_since"] = time.monotonic()

    def checkout(dbapi, record, _proxy) -> None:
        since = record.info.pop("idle_since", None)
        if since is None or time.monotonic() - since < PING_IDLE_S:
            return
        try:
            alive = engine.dialect.do_ping(dbapi)
        except Exception as exc:  # noqa: BLE001 - any failure to answer: a new connection instead
            raise DisconnectionError() from exc
        if not alive:
            raise DisconnectionError()

    event.listen(engine, "checkin", checkin)
    event.listen(engine, "checkout", checkout)

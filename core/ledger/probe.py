"""A real ledger round trip for the health page and /readyz: one committed write, then one read, timed (ms).

It rewrites this process's own row of ``health_probe`` (never ``calls``), so a health
check that runs every few seconds adds nothing to usage and works the same on DuckDB and
PostgreSQL. Each replica has its own row, so they never contend for one.
"""

from __future__ import annotations

import os
import socket
import time
from datetime import datetime

from sqlalchemy import delete, insert, select
from sqlalchemy.engine import Engine

from core.clock import naive_utc
from core.ledger.migrations import migrate
from core.ledger.schema import health_probe

PROBE_ID = f"{socket.gethostname()}:{os.getpid()}"[:200]


def round_trip(engine: Engine, now: datetime | None = None, probe_id: str = PROBE_ID) -> dict:
    """``{"write_ms", "read_ms"}``: commit this process's probe row, then read it back; raises on a fault."""
    migrate(engine)  # one query when current; a fresh ledger gets its tables
    stamp = naive_utc(now).replace(microsecond=0)
    t0 = time.perf_counter()
    with engine.begin() as conn:  # delete + insert: an upsert both backends (and SQLite) accept
        conn.execute(delete(health_probe).where(health_probe.c.probe_id == probe_id))
        conn.execute(insert(health_probe).values(probe_id=probe_id, ts=stamp))
    t1 = time.perf_counter()
    with engine.connect() as conn:
        got = conn.execute(select(health_probe.c.ts).where(health_probe.c.probe_id == probe_id)).scalar()
    t2 = time.perf_counter()
    if got != stamp:
        raise RuntimeError("the ledger did not return the probe row just written")
    return {"write_ms": round((t1 - t0) * 1000, 2), "read_ms": round((t2 - t1) * 1000, 2)}

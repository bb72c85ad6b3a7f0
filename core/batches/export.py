"""A run's results as downloads (CSV, Parquet, JSONL), every text cell and header formula-safe.

The rows are ``BatchRuns.results`` dicts (``row``, the input columns, ``prompt``, ``output``,
``outcome``, ``cost_usd``, ``latency_ms``, ``error``). A spreadsheet runs a cell starting with
``=``, ``+``, ``-``, ``@`` … as a formula, and many open JSONL and Parquet as well as CSV, so
all three get the usage export's guard (``core.reports.usage.formula_safe``), column names
included: an uploaded file's header is the analyst's input too. Money stays exact: text with
every decimal digit in CSV and JSONL, ``decimal128(20, 10)`` in Parquet.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from decimal import Decimal

import pandas as pd

from core.errors import ValidationError
from core.reports.usage import FORMULA_STARTS, formula_safe, to_csv, to_parquet

FORMATS = {"csv": ("text/csv", "csv"), "parquet": ("application/vnd.apache.parquet", "parquet"),
           "jsonl": ("application/x-ndjson", "jsonl")}


def safe_name(name: object) -> str:
    """A column name that cannot run as a formula (the same leading quote as a cell's)."""
    text = str(name)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def frame(rows: Iterable[Mapping]) -> pd.DataFrame:
    """The rows as one table: columns in first-seen order, names formula-safe, missing cells None."""
    rows = list(rows)
    names: dict[str, None] = {}
    for r in rows:
        names.update(dict.fromkeys(r))
    df = pd.DataFrame([[r.get(n) for n in names] for r in rows], columns=list(names), dtype=object)
    df.columns = _unique([safe_name(n) for n in names])
    return df


def _unique(names: list[str]) -> list[str]:
    """Names made distinct (a quoted ``'=x`` may meet a real ``'=x``): later ones get `` (2)``, `` (3)``."""
    seen: set[str] = set()
    out = []
    for n in names:
        k, i = n, 2
        while k in seen:
            k, i = f"{n} ({i})", i + 1
        seen.add(k)
        out.append(k)
    return out


def csv_bytes(rows: Iterable[Mapping]) -> bytes:
    """UTF-8 CSV, CRLF line ends, formula-safe cells and headers, exact money."""
    return to_csv(frame(rows))


def parquet_bytes(rows: Iterable[Mapping]) -> bytes:
    """Parquet, formula-safe text, every ``*_usd`` column as exact decimal128(20, 10)."""
    df = frame(rows)
    for col in df.columns:
        if col.endswith("_usd"):
            df[col] = [None if v is None else Decimal(str(v)) for v in df[col]]
    return to_parquet(df)


def _json_value(v):
    if isinstance(v, Decimal):
        return str(v)  # exact: a float would round a cost
    if hasattr(v, "isoformat"):
        return v.isoformat()
    if isinstance(v, float) and v != v:  # NaN is not JSON
        return None
    return v


def jsonl_bytes(rows: Iterable[Mapping]) -> bytes:
    """One JSON object a line (UTF-8, ``\\n``), formula-safe text, money as exact decimal strings."""
    df = formula_safe(frame(rows))
    lines = [json.dumps({k: _json_value(v) for k, v in zip(df.columns, rec, strict=True)}, ensure_ascii=False)
             for rec in df.itertuples(index=False, name=None)]
    return "".join(line + "\n" for line in lines).encode("utf-8")


def kind_of(name: str) -> str:
    """The format a file name asks for (``results.csv`` -> "csv"); ValidationError for any other ending."""
    for fmt in FORMATS:
        if name.lower().endswith("." + fmt):
            return fmt
    raise ValidationError(f"{name}: give a .csv, .jsonl or .parquet file to write the results to.", field="out")


def export(rows: Iterable[Mapping], fmt: str) -> bytes:
    """The rows in ``fmt`` ("csv", "parquet" or "jsonl")."""
    writers = {"csv": csv_bytes, "parquet": parquet_bytes, "jsonl": jsonl_bytes}
    if fmt not in writers:
        raise ValidationError(f"Unknown export format {fmt!r}: choose csv, parquet or jsonl.", field="format")
    return writers[fmt](rows)

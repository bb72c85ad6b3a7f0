"""Spend by token type: input, output, cache writes, cache reads and server tools, from the stored split.

Every billed row since schema 6 stores its cost split by part (``cost_<part>_usd``, summing to
``cost_usd``), priced once when it was recorded with the modifiers that applied (batch, data
residency); nothing is re-priced here. Rows recorded before have no split: their cost is shown
as its own "not split" part, so the parts always add up to the spend.
"""

from __future__ import annotations

from decimal import Decimal

import pandas as pd

from core.reports.queries import UNSPLIT

# (part, label, the measures it sums): the two cache-write prices are one part for the reader.
PARTS = (("input", "Input", ("cost_input_usd",)),
         ("output", "Output", ("cost_output_usd",)),
         ("cache_writes", "Cache writes", ("cost_cache_write_5m_usd", "cost_cache_write_1h_usd")),
         ("cache_reads", "Cache reads", ("cost_cache_read_usd",)),
         ("server_tools", "Server tools", ("cost_server_tools_usd",)),
         ("not_split", "Not split (recorded before schema 6)", (UNSPLIT,)))
LABELS = {part: label for part, label, _ in PARTS}


def _sum(df: pd.DataFrame, names) -> Decimal:
    return sum((Decimal(v) for n in names for v in df[n]), Decimal(0))


def by_part(usage: pd.DataFrame) -> pd.DataFrame:
    """One row per part over every row of a ``queries.usage_by`` frame: part, label, cost_usd
    (exact) and share (0-1 of the spend); "not split" only when some spend has no split."""
    total = _sum(usage, ("cost_usd",))
    rows = []
    for part, label, names in PARTS:
        cost = _sum(usage, names)
        if part == "not_split" and not cost:
            continue
        rows.append({"part": part, "label": label, "cost_usd": cost if cost else Decimal(0),
                     "share": float(cost / total) if total else 0.0})
    return pd.DataFrame(rows, columns=["part", "label", "cost_usd", "share"])


def by_day_and_part(daily: pd.DataFrame) -> pd.DataFrame:
    """Long form for a stacked chart: day, part (its label), spend_usd (float: charts only), one row per
    day and part that has any spend."""
    if daily.empty:
        return pd.DataFrame(columns=["day", "part", "spend_usd"])
    # One pass over the rows, exact Decimal sums per day and part (a pandas group per day cost ~0.1 s a year).
    names = [n for _, _, ns in PARTS for n in ns]
    sums: dict = {}
    for day, *values in zip(daily["day"], *(daily[n] for n in names), strict=True):
        acc = sums.setdefault(day, dict.fromkeys(names, Decimal(0)))
        for n, v in zip(names, values, strict=True):
            acc[n] += Decimal(v)
    out = []
    for day in sorted(sums):
        for _, label, ns in PARTS:
            cost = sum((sums[day][n] for n in ns), Decimal(0))
            if cost:
                out.append({"day": day, "part": label, "spend_usd": float(cost)})
    return pd.DataFrame(out, columns=["day", "part", "spend_usd"])


def by_model(daily: pd.DataFrame) -> pd.DataFrame:
    """Usage per model from usage per day and model (``queries.usage_by``), exact: integer and Decimal sums."""
    measures = [c for c in daily.columns if c not in ("day", "model")]
    return daily.groupby("model", as_index=False, sort=True)[measures].sum()

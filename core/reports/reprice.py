"""What-if re-pricing: each call's cost recomputed at the price in effect on its own date.

Nothing stored is changed. With no ``table`` the shipped price table is used (does
the ledger match today's table?); pass a hypothetical table to ask what a price
change would have cost. Only billed outcomes (``ok`` and ``error``) are re-priced:
a cache hit or a refusal cost nothing and still costs nothing.

Cost is linear in the token and server-tool counts once the price set is chosen, and the
set depends only on the model, the call's UTC date (``row_for``), its service tier and
inference geo (batch fraction, residency factor) and whether the prompt passed a
long-prompt band's threshold. So the per-model view sums counts in SQL per (model, UTC
day, tier, geo, above-threshold flags), from the rollups (core.ledger.rollup_read) whose prompt bands
answer every band threshold of the table (else from the raw calls), and prices each group once: exact. ``per_call=True`` prices call by call instead.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime
from decimal import Decimal

import pandas as pd
from sqlalchemy import Date, cast, func, literal_column, select
from sqlalchemy.engine import Engine

from core.catalog import pricing
from core.ledger import rollup_read
from core.ledger.schema import KNOWN_THRESHOLDS, calls
from core.reports.queries import Moment, period_filter, to_frame, window
from core.types import SERVER_TOOL_FIELDS, STATUS_ERROR, STATUS_OK, USAGE_FIELDS, Usage

c = calls.c
BILLED = (STATUS_OK, STATUS_ERROR)
COUNTS = (*USAGE_FIELDS, *SERVER_TOOL_FIELDS)  # what a cost is linear in, once the prices are chosen
WHERE = ("service_tier", "inference_geo")  # what chooses a factor on the prices
_PROMPT = c.input_tokens + c.cache_creation_5m_tokens + c.cache_creation_1h_tokens + c.cache_read_tokens


def _flat(row: pricing.PriceRow, long_prompt: bool) -> pricing.PriceRow:
    """``row`` with the price set a prompt of that length is billed at, and no band left."""
    band = row.band if long_prompt and row.band is not None else None
    if band is None:
        return dataclasses.replace(row, band=None)
    return dataclasses.replace(row, band=None, input=band.input, output=band.output,
                               cache_write_5m=band.cache_write_5m, cache_write_1h=band.cache_write_1h,
                               cache_read=band.cache_read)


class _Rows:
    """``table.row_for`` memoised per (model, UTC date): the only inputs it depends on."""

    def __init__(self, table: pricing.PriceTable) -> None:
        self.table, self.memo = table, {}

    def __call__(self, model: str, day: date) -> pricing.PriceRow | None:
        key = (model, day)
        if key not in self.memo:
            self.memo[key] = self.table.row_for(model, day)
        return self.memo[key]


def _utc_day(ts) -> date:
    if isinstance(ts, datetime):
        return (ts.astimezone(UTC) if ts.tzinfo else ts).date()
    return ts


def _groups(engine: Engine, start, end, tz, users, models, thresholds: list[int]):
    """The billed calls summed per (model, UTC day, tier, geo, long-prompt flags): from the rollups when their
    prompt bands answer every threshold, else from the raw calls."""
    if set(thresholds) <= set(KNOWN_THRESHOLDS):
        stmt = rollup_read.usage_select(engine.dialect.name, ["model", "utc_day", *WHERE, "prompt_band"], start, end,
                                        tz, users, models, BILLED, measures=("cost_usd", *COUNTS))
        with rollup_read.reading(engine) as conn:
            for g in conn.execute(stmt).mappings():
                flags = {f"over_{t}": g["prompt_band"] > KNOWN_THRESHOLDS.index(t) for t in thresholds}
                yield {**g, "cost": g["cost_usd"], **flags}
        return
    flags = [(literal_column(str(int(t))) < _PROMPT).label(f"over_{t}") for t in thresholds]
    keys = [c.model.label("model"), cast(c.ts, Date).label("utc_day"), *[getattr(c, n) for n in WHERE], *flags]
    stmt = (select(*keys, func.count().label("calls"), func.sum(c.cost_usd).label("cost"),
                   *[func.sum(getattr(c, n)).label(n) for n in COUNTS])
            .where(period_filter(start, end, "UTC", users, models) & c.status.in_(BILLED)).group_by(*keys))
    with rollup_read.reading(engine) as conn:
        yield from conn.execute(stmt).mappings()


def _by_model(engine: Engine, start, end, tz, users, models, table: pricing.PriceTable) -> pd.DataFrame:
    thresholds = sorted({r.band.threshold_tokens for r in table.rows() if r.band is not None})
    rows_for = _Rows(table)
    out: dict[str, dict] = {}
    for g in _groups(engine, start, end, tz, users, models, thresholds):
        acc = out.setdefault(g["model"], {"model": g["model"], "calls": 0, "unpriced_calls": 0,
                                          "original_cost_usd": Decimal(0), "new_cost_usd": Decimal(0)})
        acc["calls"] += int(g["calls"])
        acc["original_cost_usd"] += Decimal(g["cost"] or 0)
        row = rows_for(g["model"], _utc_day(g["utc_day"]))
        if row is None:
            acc["unpriced_calls"] += int(g["calls"])
            continue
        long_prompt = row.band is not None and bool(g[f"over_{row.band.threshold_tokens}"])
        day_of = _utc_day(g["utc_day"])
        acc["new_cost_usd"] += table.priced_at(_usage(g), _flat(row, long_prompt), day_of).cost
    df = pd.DataFrame(sorted(out.values(), key=lambda r: r["model"]),
                      columns=["model", "calls", "unpriced_calls", "original_cost_usd", "new_cost_usd"])
    df["difference_usd"] = [_diff(n, o) for n, o in zip(df["new_cost_usd"], df["original_cost_usd"], strict=True)]
    return df


def _per_call(engine: Engine, where, table: pricing.PriceTable) -> pd.DataFrame:
    rows_for = _Rows(table)
    stmt = (select(c.id, c.ts, c.user_id, c.model, c.status, c.price_version, c.cost_usd,
                   *[getattr(c, n) for n in (*COUNTS, *WHERE)]).where(where).order_by(c.ts, c.id))
    out = []
    with rollup_read.reading(engine) as conn:
        for r in conn.execution_options(yield_per=5000).execute(stmt).mappings():
            row = rows_for(r["model"], _utc_day(r["ts"]))
            original = Decimal(r["cost_usd"] or 0)
            new = None
            if row is not None:
                new = table.priced_at(_usage(r), row, _utc_day(r["ts"])).cost
            out.append({"id": r["id"], "ts": r["ts"], "user": r["user_id"], "model": r["model"],
                        "status": r["status"], "original_price_version": r["price_version"],
                        "new_price_version": row.version if row is not None else None,
                        "original_cost_usd": original, "new_cost_usd": new,
                        "difference_usd": None if new is None else _diff(new, original)})
    cols = ["id", "ts", "user", "model", "status", "original_price_version", "new_price_version",
            "original_cost_usd", "new_cost_usd", "difference_usd"]
    return to_frame(out, cols)


def reprice(engine: Engine, since: Moment, until: Moment, table: pricing.PriceTable | None = None, *,
            tz: str = "UTC", users=None, models=None, per_call: bool = False) -> pd.DataFrame:
    """Original vs re-priced cost (USD, exact) per model, or per call with ``per_call``.

    Per model: calls, unpriced_calls (no price row in effect: not counted in
    new_cost_usd), original_cost_usd, new_cost_usd, difference_usd (new - original).
    Per call: id, ts (naive UTC), user, model, status, original and new price_version
    and cost, difference (None when unpriced). The period reads as in ``queries``.
    """
    table = table if table is not None else pricing.PriceTable.load()
    if per_call:
        return _per_call(engine, period_filter(since, until, tz, users, models) & c.status.in_(BILLED), table)
    start, end = window(since, until, tz)
    users, models = (None if v is None else [v] if isinstance(v, str) else list(v) for v in (users, models))
    return _by_model(engine, start, end, tz, users, models, table)


def _usage(m) -> Usage:
    """The counts, tier and geo of a row or group, as pricing reads them."""
    return Usage(**{n: int(m[n] or 0) for n in COUNTS}, **{n: m[n] for n in WHERE})


def _diff(new, original):
    """new - original, exact; a zero difference reads as 0, not 0E-10."""
    d = new - original
    return d if d else type(d)(0)

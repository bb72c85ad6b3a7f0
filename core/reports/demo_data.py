"""Demo data: weeks of realistic, exactly priced calls in the ledger, so every console chart has data.

Rows are marked ``source = "demo-data"`` (not "demo", which marks real calls made in demo
mode), so ``remove`` deletes exactly them and nothing else. ``generate`` replaces earlier
demo data unless ``replace=False`` (so clicking twice never doubles the figures).

Rows are built vectorised with numpy (the same generator fills the benchmarks' millions of
rows): a weekday/weekend and office-hours rhythm, several users with their own model mix,
lognormal token counts with prompt-cache reads and writes, a few web searches, ~2 % upstream
errors with real codes, ~1.5 % refusals, ~5 % response-cache hits, latency and time to first
token by model. Each call is priced with the price rows in effect on its UTC date, in integer
units of 1e-10 USD (the ledger's NUMERIC(20, 10) scale), part by part: exactly what
``PriceTable.price`` gives.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal

import numpy as np
import pandas as pd
from sqlalchemy import delete, func, insert, select
from sqlalchemy.engine import Engine

from core.budgets.book import forget_budgets
from core.catalog import pricing
from core.clock import naive_utc
from core.ledger import rollup
from core.ledger.migrations import migrate
from core.ledger.schema import COST_PART_COLUMNS, budgets, calls
from core.types import USAGE_FIELDS

SOURCE = "demo-data"
USERS = ("alice", "bob", "carol", "dmitri", "esther", "farid")
USER_WEIGHTS = (0.28, 0.22, 0.18, 0.14, 0.1, 0.08)
# Share of calls per model before each user's own preference is mixed in.
MODEL_MIX = {"claude-sonnet-5-5": 0.42, "claude-haiku-5-5": 0.24, "claude-opus-5-5": 0.12,
             "claude-haiku-4-5-20251001": 0.12, "claude-sonnet-4-6": 0.1}
# A model not released yet on a call's date: the call went to its predecessor.
PREDECESSOR = {"claude-haiku-5-5": "claude-haiku-4-5-20251001"}
FALLBACK_MODEL = "claude-sonnet-5-5"
CALLS_PER_DAY = 60  # a weekday's calls, all users together (a weekend day has a quarter)
# Demo budgets as a multiple of the user's month-to-date spend: progress bars at ~60 % and ~85 %.
DEMO_BUDGETS = {"bob": Decimal("1.6"), "carol": Decimal("1.15"), "*": Decimal("2")}
CHUNK_ROWS = 500_000

ERROR_CODES = ("overloaded", "upstream_rate_limited", "timeout", "upstream_server_error", "stream_interrupted")
ERROR_WEIGHTS = (0.35, 0.25, 0.15, 0.15, 0.10)
BLOCK_CODES = ("budget_exceeded", "rate_limited", "prompt_blocked", "validation_error")
BLOCK_WEIGHTS = (0.4, 0.4, 0.1, 0.1)
BLOCK_DETAIL = {"budget_exceeded": "The monthly budget would be exceeded by this call.",
                "rate_limited": "Too many requests per minute for this user.",
                "prompt_blocked": "The prompt matched a blocked injection phrase.",
                "validation_error": "max_tokens is above the model's output limit."}
# (base latency ms, ms per output token, base time to first token ms) per model family.
SPEED = {"haiku": (250, 4.0, 280), "sonnet": (450, 9.0, 520), "opus": (800, 16.0, 900),
         "fable": (900, 18.0, 950)}
_UNIT_EXP = 10  # costs in units of 1e-10 USD
_HOUR_WEIGHTS = np.array([1, 1, 1, 1, 1, 2, 3, 6, 9, 12, 12, 11, 9, 11, 12, 12, 10, 8, 6, 4, 3, 2, 1, 1], float)
SEARCH_SHARE = 0.015  # answered calls that searched the web (1-4 searches each)
PART_UNITS = tuple(c.replace("_usd", "_units") for c in COST_PART_COLUMNS)  # frame columns, 1e-10 USD
COLUMNS = ("ts", "user_id", "model", "status", "error_code", "input_tokens", "output_tokens",
           "cache_creation_5m_tokens", "cache_creation_1h_tokens", "cache_read_tokens", "tokens_saved",
           "web_search_requests", "cost_units", *PART_UNITS, "price_version", "latency_ms", "ttft_ms",
           "streamed", "retries", "key_label", "source", "detail")


def _family(model: str) -> str:
    return next((f for f in SPEED if f in model), "sonnet")


def _price_units(row: pricing.PriceRow | pricing.LongPromptBand) -> np.ndarray:
    """The five prices of ``row`` as integers of 1e-4 USD per MTok (so token x price is in 1e-10 USD)."""
    out = []
    for kind in pricing.PRICE_KINDS:
        scaled = getattr(row, kind).scaleb(_UNIT_EXP - 6)
        if scaled != scaled.to_integral_value():
            raise ValueError(f"{kind} price {getattr(row, kind)} has more than 4 decimals")
        out.append(int(scaled))
    return np.array(out, dtype=np.int64)


def _timestamps(rng: np.random.Generator, n: int, start: datetime, days: int) -> np.ndarray:
    """``n`` sorted naive-UTC instants over ``days`` days from ``start``: weekdays busier, office hours peak."""
    day0 = start.date()
    weekday = np.array([(day0 + timedelta(days=d)).weekday() < 5 for d in range(days)])
    growth = np.linspace(0.8, 1.2, days)  # adoption grows over the period
    w = np.where(weekday, 1.0, 0.25) * growth
    day = rng.choice(days, size=n, p=w / w.sum())
    hour = rng.choice(24, size=n, p=_HOUR_WEIGHTS / _HOUR_WEIGHTS.sum())
    secs = day * 86400 + hour * 3600 + rng.integers(0, 3600, size=n)
    base = np.datetime64(datetime(day0.year, day0.month, day0.day), "s")
    return np.sort(base + secs.astype("timedelta64[s]")).astype("datetime64[us]")


def _models(rng: np.random.Generator, user_idx: np.ndarray, n_users: int, days: np.ndarray,
            table: pricing.PriceTable) -> np.ndarray:
    names = list(MODEL_MIX)
    base = np.array([MODEL_MIX[m] for m in names])
    prefs = rng.dirichlet(base * 20, size=n_users)  # each user's own mix around the base
    cum = prefs.cumsum(axis=1)
    pick = (rng.random(len(user_idx))[:, None] > cum[user_idx]).sum(axis=1).clip(0, len(names) - 1)
    model = np.array(names, dtype=object)[pick]
    for day in np.unique(days):  # a model not priced yet that day: its predecessor, else the fallback
        on_day = days == day
        for m in names:
            if table.row_for(m, day.astype(date)) is None:
                sub = PREDECESSOR.get(m, FALLBACK_MODEL)
                model[on_day & (model == m)] = sub if table.row_for(sub, day.astype(date)) else FALLBACK_MODEL
    return model


def _lognormal(rng, n, median, sigma, lo, hi) -> np.ndarray:
    return np.clip(rng.lognormal(np.log(median), sigma, n), lo, hi).astype(np.int64)


def synth(n: int, start: datetime, days: int, *, seed: int = 0, users: Sequence[str] = USERS,
          weights: Sequence[float] | None = None, table: pricing.PriceTable | None = None) -> pd.DataFrame:
    """``n`` calls over ``days`` days from ``start`` (naive UTC), one column per ``COLUMNS`` entry.

    ``cost_units`` is the exact cost in 1e-10 USD; ids are left to the writer.
    """
    table = table or pricing.default_price_table()
    rng = np.random.default_rng(seed)
    w = np.asarray(weights if weights is not None else (USER_WEIGHTS if tuple(users) == USERS
                                                        else np.ones(len(users))), float)
    ts = _timestamps(rng, n, start, days)
    utc_day = ts.astype("datetime64[D]")
    user_idx = rng.choice(len(users), size=n, p=w / w.sum())
    model = _models(rng, user_idx, len(users), utc_day, table)

    r = rng.random(n)
    status = np.select([r < 0.915, r < 0.965, r < 0.985], ["ok", "cached", "error"], "blocked").astype(object)
    ok, cached, err, blocked = (status == s for s in ("ok", "cached", "error", "blocked"))
    code = np.full(n, None, dtype=object)
    code[err] = rng.choice(ERROR_CODES, size=err.sum(), p=ERROR_WEIGHTS)
    code[blocked] = rng.choice(BLOCK_CODES, size=blocked.sum(), p=BLOCK_WEIGHTS)

    inp = _lognormal(rng, n, 1200, 0.9, 20, 90_000)
    out = _lognormal(rng, n, 350, 0.8, 5, 16_000)
    kinds = np.unique(model)
    opus = np.isin(model, [m for m in kinds if _family(m) == "opus"])
    out = np.where(opus, out * 2, out)
    caching = rng.random(n)
    c_read = np.where(caching < 0.30, _lognormal(rng, n, 6000, 0.7, 1024, 60_000), 0)
    c5 = np.where((caching >= 0.30) & (caching < 0.36), _lognormal(rng, n, 4000, 0.6, 1024, 40_000), 0)
    c1 = np.where((caching >= 0.36) & (caching < 0.38), _lognormal(rng, n, 8000, 0.5, 1024, 40_000), 0)
    long = rng.random(n) < 0.003  # a few long-document prompts past the long-prompt band
    inp = np.where(long, rng.integers(100_000, 160_000, n), inp)
    billed = ok | (code == "stream_interrupted")  # a cut-off stream bills what it used
    partial = code == "stream_interrupted"
    out = np.where(partial, out // 3, out)
    tokens = np.stack([inp, out, c5, c1, c_read]) * billed
    saved = np.where(cached, inp + out + c_read, 0)
    searches = np.where(ok & (rng.random(n) < SEARCH_SHARE), rng.integers(1, 5, n), 0)

    parts, version = _price(model, utc_day, tokens, table)
    parts = np.column_stack([parts, searches * _search_units(table, utc_day)])
    version = np.where(billed | cached, version, None)

    speed = np.array([SPEED[_family(m)] for m in kinds], float)[np.searchsorted(kinds, model)]
    base, per_tok, ttft0 = speed.T
    jitter = rng.lognormal(0, 0.25, n)
    latency = (base + per_tok * tokens[1]) * jitter
    latency = np.where(cached, rng.uniform(2, 15, n), latency)
    latency = np.where(blocked, rng.uniform(0.5, 4, n), latency)
    latency = np.where(code == "timeout", rng.uniform(58_000, 62_000, n), latency)
    latency = np.where(err & (code != "timeout") & ~partial, rng.uniform(200, 3000, n), latency)
    ttft = np.where(ok, ttft0 * rng.lognormal(0, 0.35, n), np.nan)
    retries = np.where(ok | err, rng.choice([0, 1, 2], size=n, p=[0.95, 0.04, 0.01]), 0)

    return pd.DataFrame({
        "ts": ts, "user_id": np.asarray(users, dtype=object)[user_idx], "model": model, "status": status,
        "error_code": code, "input_tokens": tokens[0], "output_tokens": tokens[1],
        "cache_creation_5m_tokens": tokens[2], "cache_creation_1h_tokens": tokens[3],
        "cache_read_tokens": tokens[4], "tokens_saved": saved, "web_search_requests": searches,
        "cost_units": parts.sum(axis=1), **{name: parts[:, i] for i, name in enumerate(PART_UNITS)},
        "price_version": version, "latency_ms": latency.round(1), "ttft_ms": ttft.round(1),
        "streamed": rng.random(n) < 0.4, "retries": retries,
        "key_label": np.where(ok | err, "primary", None),
        "source": SOURCE, "detail": pd.Series(code).map(BLOCK_DETAIL).where(blocked, None).to_numpy(object)})


def _search_units(table: pricing.PriceTable, day: np.ndarray) -> np.ndarray:
    """The price of one web search on each call's UTC day, in 1e-10 USD."""
    days, inverse = np.unique(day, return_inverse=True)
    per = [table.tool_charge({"web_search_requests": 1}, d.astype(date)).scaleb(_UNIT_EXP) for d in days]
    if any(p != p.to_integral_value() for p in per):
        raise ValueError("a web search price has more than 10 decimals")
    return np.array([int(p) for p in per], dtype=np.int64)[inverse]


def _price(model: np.ndarray, day: np.ndarray, tokens: np.ndarray,
           table: pricing.PriceTable) -> tuple[np.ndarray, np.ndarray]:
    """Exact cost (1e-10 USD) of each token type and price_version of each call, one lookup per (model, day)."""
    codes, names = pd.factorize(model)
    inverse, keys = pd.factorize(codes.astype(np.int64) * 1_000_000 + day.astype(np.int64))
    prices = np.zeros((len(keys), 5), np.int64)
    band = np.zeros((len(keys), 5), np.int64)
    threshold = np.full(len(keys), np.iinfo(np.int64).max)
    versions = np.empty(len(keys), dtype=object)
    for k, key in enumerate(keys):
        m, d = names[key // 1_000_000], date(1970, 1, 1) + timedelta(days=int(key % 1_000_000))
        row = table.row_for(m, d)
        if row is None:
            raise ValueError(f"no price for {m} on {d}")
        prices[k], versions[k] = _price_units(row), row.version
        band[k] = prices[k]
        if row.band is not None:
            band[k], threshold[k] = _price_units(row.band), row.band.threshold_tokens
    prompt = tokens[0] + tokens[2] + tokens[3] + tokens[4]
    per = np.where((prompt > threshold[inverse])[:, None], band[inverse], prices[inverse])
    return tokens.T * per, versions[inverse]


def chunks(rows: int, start: datetime, days: int, *, seed: int = 0, users: Sequence[str] = USERS,
           weights: Sequence[float] | None = None, table: pricing.PriceTable | None = None,
           chunk_rows: int = CHUNK_ROWS) -> Iterator[pd.DataFrame]:
    """``synth`` in slices of about ``chunk_rows`` calls, each over its own days (memory stays flat)."""
    parts = max(1, min(days, -(-rows // chunk_rows)))
    edges = np.linspace(0, days, parts + 1).round().astype(int)
    done = 0
    for i in range(parts):
        span = int(edges[i + 1] - edges[i])
        n = rows - done if i == parts - 1 else round(rows * span / days)
        done += n
        if n and span:
            yield synth(n, start + timedelta(days=int(edges[i])), span, seed=seed + i, users=users,
                        weights=weights, table=table)


def insert_frame(engine: Engine, df: pd.DataFrame) -> int:
    """Append ``synth`` rows (fresh uuid ids, exact costs) to the ledger; DuckDB bulk, else batched."""
    units = ("cost_units", *PART_UNITS)
    money = ("cost_usd", *COST_PART_COLUMNS)
    cols = [c for c in COLUMNS if c not in units]
    if engine.dialect.name == "duckdb":
        select_cols = ", ".join(cols)
        as_money = ", ".join(f"CAST({u}::DECIMAL(18, 0) * 0.0000000001 AS DECIMAL(20, 10))" for u in units)
        with engine.begin() as conn:
            raw = conn.connection.driver_connection
            raw.register("tollgate_demo_chunk", df)
            try:
                conn.exec_driver_sql(
                    f"INSERT INTO calls (id, {select_cols}, {', '.join(money)}, unpriced) "
                    f"SELECT gen_random_uuid()::VARCHAR, {select_cols}, {as_money}, FALSE "
                    "FROM tollgate_demo_chunk")
            finally:
                raw.unregister("tollgate_demo_chunk")
        return len(df)
    records = df.astype(object).where(df.notna(), None).to_dict("records")
    for rec in records:
        rec["id"] = str(uuid.uuid4())
        for unit, col in zip(units, money, strict=True):
            rec[col] = Decimal(int(rec.pop(unit))).scaleb(-_UNIT_EXP)
        rec["ts"] = pd.Timestamp(rec["ts"]).to_pydatetime()
        rec["unpriced"] = False
        for k in (*USAGE_FIELDS, "tokens_saved", "retries", "web_search_requests"):
            rec[k] = int(rec[k])
        rec["streamed"] = bool(rec["streamed"])
    with engine.begin() as conn:
        for i in range(0, len(records), 5000):
            conn.execute(insert(calls), records[i:i + 5000])
    return len(records)


def count(engine: Engine) -> int:
    """How many demo-data rows the ledger holds."""
    migrate(engine)
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).where(calls.c.source == SOURCE)).scalar_one())


def remove(engine: Engine) -> int:
    """Delete every demo-data row and demo budget (never a real call); returns the calls deleted."""
    migrate(engine)
    with rollup.local_lock(engine), engine.begin() as conn:
        rollup.locked(conn)  # no refresh folds a row in between: the rolled ones leave the rollups with it
        n = int(conn.execute(select(func.count()).where(calls.c.source == SOURCE)).scalar_one())
        rollup.fold(conn, "rolled AND source = :source", {"source": SOURCE}, sign=-1)
        conn.execute(delete(calls).where(calls.c.source == SOURCE))
        conn.execute(delete(budgets).where(budgets.c.updated_by == SOURCE))
    return n


def generate(engine: Engine, days: int = 90, *, now: datetime | None = None, seed: int = 0,
             calls_per_day: int = CALLS_PER_DAY, replace: bool = True, with_budgets: bool = True,
             table: pricing.PriceTable | None = None) -> int:
    """Fill the ledger with ``days`` days of demo calls ending at ``now``; returns the rows written.

    ``replace`` (default) first removes earlier demo data, so generating twice does not
    double. ``with_budgets`` sets monthly budgets for a few demo users who have none
    (marked ``updated_by = "demo-data"``, removed with the rows), sized from their spend.
    """
    if days < 1:
        raise ValueError("days must be at least 1")
    migrate(engine)
    if replace:
        remove(engine)
    end = naive_utc(now).replace(microsecond=0)
    # The last of the ``days`` day slots is today (cut at ``end``), so the data reaches now:
    # charts do not dip at the right edge, and on the 1st the month already has its morning.
    start = (end - timedelta(days=days - 1)).replace(hour=0, minute=0, second=0)
    weekdays = sum((start + timedelta(days=d)).weekday() < 5 for d in range(days))
    rows = int(calls_per_day * (weekdays + 0.25 * (days - weekdays)))
    # Today's share of calls is squeezed into the hours so far (a full day's rhythm in the time
    # elapsed), so neither a chart's right edge nor the 1st of a month reads empty just after midnight.
    today0 = np.datetime64(end.replace(hour=0, minute=0, second=0))
    frac = (np.datetime64(end) - today0) / np.timedelta64(1, "D")
    written = 0
    for df in chunks(rows, start, days, seed=seed, table=table):
        today = df["ts"] >= today0
        if today.any():
            df = df.copy()
            df.loc[today, "ts"] = today0 + (df.loc[today, "ts"] - today0) * frac
        written += insert_frame(engine, df[df["ts"] <= np.datetime64(end)])
    if with_budgets:
        _demo_budgets(engine, end)
    return written


def _demo_budgets(engine: Engine, now: datetime) -> None:
    """Budgets for ``DEMO_BUDGETS`` users without one: their month-to-date (UTC) spend times the factor."""
    since = now.replace(day=1, hour=0, minute=0, second=0)
    with engine.begin() as conn:
        have = set(conn.execute(select(budgets.c.user_id)).scalars())
        spend = dict(conn.execute(select(calls.c.user_id, func.sum(calls.c.cost_usd))
                                  .where(calls.c.source == SOURCE, calls.c.ts >= since)
                                  .group_by(calls.c.user_id)).all())
        total = sum((Decimal(v or 0) for v in spend.values()), Decimal(0))
        for user, factor in DEMO_BUDGETS.items():
            if user in have:
                continue
            base = total if user == "*" else Decimal(spend.get(user) or 0)
            amount = max(Decimal(5), (base * factor).quantize(Decimal(1)))
            conn.execute(insert(budgets).values(user_id=user, monthly_usd=amount, updated_at=now,
                                                updated_by=SOURCE))
    forget_budgets(engine)  # written past the book: its cached list of budgeted users is stale

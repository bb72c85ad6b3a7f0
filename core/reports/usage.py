"""What the Usage & cost page shows, computed from the ledger for one viewer and one set of filters.

Every figure is aggregated in SQL (``core.reports.queries``); this module scopes the query
to what the viewer may see (an analyst only ever their own rows, whatever they ask for),
compares each headline figure with the previous period of the same length, shapes small
frames for the charts and re-prices a range on another model or tier mapping.
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

import pandas as pd
from sqlalchemy.engine import Engine

from core.budgets.alerts import tidy_usd
from core.catalog import pricing
from core.catalog.models import Catalogue, default_catalogue
from core.reports import breakdown, headline, queries
from core.reports.reprice import reprice

TOP_CALLS = 20
_FLOOR = date(1970, 1, 1)


# --- who may see what -----------------------------------------------------------------

def visible_users(principal, requested: Iterable[str] | None = None) -> tuple[str, ...] | None:
    """The users a query for ``principal`` may cover: None means everyone (admins only).

    An admin gets what they asked for (nothing asked: everyone). Anyone else gets only
    themselves, whatever they asked for, so no filter can widen an analyst's view.
    """
    if principal is None or not getattr(principal, "username", None):
        raise PermissionError("Log in to see usage.")
    if not principal.is_admin:
        return (principal.username,)
    wanted = sorted(set(requested or ()))
    return tuple(wanted) or None


# --- filters --------------------------------------------------------------------------

@dataclass(frozen=True)
class Filters:
    """A period of whole local days in ``tz`` (both ends included), and optional user/model filters."""

    since: date
    until: date
    tz: str = "UTC"
    users: tuple[str, ...] | None = None
    models: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.until < self.since:
            raise ValueError("The period ends before it starts.")
        queries.zone(self.tz)

    @property
    def days(self) -> int:
        return (self.until - self.since).days + 1

    def previous(self) -> Filters:
        """The period of the same length just before this one (same filters)."""
        until = self.since - timedelta(days=1)
        return dataclasses.replace(self, since=until - timedelta(days=self.days - 1), until=until)

    def args(self) -> dict:
        return {"since": self.since, "until": self.until, "tz": self.tz,
                "users": None if self.users is None else list(self.users),
                "models": None if self.models is None else list(self.models)}


def default_period(now: datetime, tz: str, days: int = 30) -> tuple[date, date]:
    """The last ``days`` local days in ``tz`` up to today there (today in Tokyo is Tokyo's date)."""
    today = now.astimezone(queries.zone(tz)).date()
    return today - timedelta(days=days - 1), today


def follow_zone(period: tuple[date, date], old_tz: str, new_tz: str, now: datetime) -> tuple[date, date]:
    """``period`` after the time zone changes: one that ended today in ``old_tz`` ends today in
    ``new_tz`` (same length, so today's calls stay in it); a period picked by hand is kept."""
    since, until = period
    old_today, new_today = (now.astimezone(queries.zone(z)).date() for z in (old_tz, new_tz))
    if until != old_today:
        return period
    shift = new_today - old_today
    return since + shift, until + shift


def scoped(principal, filters: Filters) -> Filters:
    """``filters`` with the user filter replaced by what ``principal`` may see."""
    return dataclasses.replace(filters, users=visible_users(principal, filters.users))


def options(engine: Engine, principal) -> tuple[list[str], list[str]]:
    """The users (admins: everyone in the ledger; others: themselves) and models to filter on."""
    users = visible_users(principal)
    who = queries.distinct(engine, "user") if users is None else list(users)
    return who, queries.distinct(engine, "model", users=users)


# --- tiles ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Tile:
    """One headline figure, its value over the previous period, and whether up is good."""

    key: str
    label: str
    kind: str  # usd | count | pct | ms
    value: Decimal | int | float | None
    previous: Decimal | int | float | None
    up_is_good: bool

    @property
    def delta(self) -> Decimal | int | float | None:
        if self.value is None or self.previous is None:
            return None
        return self.value - self.previous


def _read_figures(engine: Engine, f: Filters) -> dict:
    return headline.figures(queries.usage_by(engine, "model", **f.args()), queries.latency_summary(engine, **f.args()))


TILES = (("spend", "Spend", "usd", False), ("calls", "Calls", "count", True), ("tokens", "Tokens", "count", True),
         ("cache_hit_rate", "Cache hit rate", "pct", True), ("saved", "Saved by cache (est.)", "usd", True),
         ("error_rate", "Error rate", "pct", False), ("p95_latency", "p95 latency", "ms", False))


def tiles(engine: Engine, f: Filters) -> list[Tile]:
    """Each headline figure over ``f`` and over the previous period of the same length.

    Tokens are every billed token (input, output, cache writes and reads); the cache hit
    and error rates are shares of calls that were not refused; the saving prices each
    model's saved tokens at that model's average billed USD per token over the period.
    """
    return _tiles(_read_figures(engine, f), _read_figures(engine, f.previous()))


def _tiles(now: dict, before: dict) -> list[Tile]:
    return [Tile(k, label, kind, now[k], before[k], good) for k, label, kind, good in TILES]


# --- charts and tables ----------------------------------------------------------------

def _usd_float(values) -> list[float]:
    """Money as floats, for charts only (tables and tiles keep exact Decimals)."""
    return [float(v) for v in values]


@dataclass(frozen=True)
class Report:
    """Everything the page draws for one scoped set of filters (small frames, ready to chart)."""

    filters: Filters
    tiles: list[Tile]
    spend_by_day: pd.DataFrame  # day, model, spend_usd (float)
    spend_by_user: pd.DataFrame  # user, calls, spend_usd (float), cost_usd (exact)
    tokens_by_day: pd.DataFrame  # day, input_tokens, output_tokens
    latency_by_day: pd.DataFrame  # day, calls, p50/p95 latency and ttft (ms)
    errors: pd.DataFrame  # status, error_code, calls
    expensive: pd.DataFrame  # the dearest calls
    spend_by_part: pd.DataFrame  # part, label, cost_usd (exact), share: input, output, cache writes/reads, server tools
    spend_by_part_day: pd.DataFrame  # day, part (label), spend_usd (float)

    @property
    def empty(self) -> bool:
        return not any(t.value for t in self.tiles if t.key == "calls")


def build(engine: Engine, principal, filters: Filters, top: int = TOP_CALLS) -> Report:
    """The page's figures for ``filters``, scoped to what ``principal`` may see (read at once: queries.at_once)."""
    f = scoped(principal, filters)
    args = f.args()
    got = queries.at_once(engine, {
        "daily": lambda: queries.usage_by(engine, ["day", "model"], **args),
        "by_user": lambda: queries.usage_by(engine, "user", measures=("cost_usd",), **args),  # all its table shows
        "latency": lambda: queries.latency_by_day_and_period(engine, **args),  # per day, and the tiles' figures
        "errors": lambda: queries.errors_by_code(engine, **args),
        "expensive": lambda: queries.most_expensive_calls(engine, n=top, **args),
        "before": lambda: _read_figures(engine, f.previous())})
    daily, (latency_by_day, latency_period) = got["daily"], got["latency"]
    spend_by_day = pd.DataFrame({"day": daily["day"], "model": daily["model"],
                                 "spend_usd": _usd_float(daily["cost_usd"])})
    tok = daily.groupby("day", as_index=False)[["input_tokens", "output_tokens"]].sum()
    by_user = got["by_user"].sort_values(["cost_usd", "user"], ascending=[False, True])
    spend_by_user = pd.DataFrame({"user": by_user["user"], "calls": by_user["calls"],
                                  "spend_usd": _usd_float(by_user["cost_usd"]), "cost_usd": by_user["cost_usd"]})
    # The period's tiles from the frames read for the charts (the same calls, summed over days): no second read.
    now = headline.figures(breakdown.by_model(daily), latency_period)
    return Report(filters=f, tiles=_tiles(now, got["before"]), spend_by_day=spend_by_day,
                  spend_by_user=spend_by_user.reset_index(drop=True), tokens_by_day=tok,
                  latency_by_day=latency_by_day, errors=got["errors"],
                  expensive=got["expensive"], spend_by_part=breakdown.by_part(daily),
                  spend_by_part_day=breakdown.by_day_and_part(daily))


# --- downloads ------------------------------------------------------------------------

def rows(engine: Engine, principal, filters: Filters) -> pd.DataFrame:
    """The calls behind the filters (scoped to ``principal``), for download."""
    return queries.call_rows(engine, **scoped(principal, filters).args())


# A spreadsheet runs a cell starting with one of these as a formula (full-width forms included: some
# locales convert them); OWASP's fix is a leading single quote, which makes the cell text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def formula_safe(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` whose text cells cannot run as spreadsheet formulas; numbers and dates unchanged."""
    out = df.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            hostile = out[col].map(lambda v: isinstance(v, str) and v.startswith(FORMULA_STARTS)).astype(bool)
            if hostile.any():  # only those cells change: None stays None, not NaN
                out.loc[hostile, col] = "'" + out.loc[hostile, col]
    return out


def to_csv(df: pd.DataFrame) -> bytes:
    """UTF-8 CSV (RFC 4180 line ends), formula-safe; money keeps its exact decimal digits."""
    # With CRLF as line end the writer quotes any field holding a lone CR, which would otherwise split the row.
    return formula_safe(df).to_csv(index=False, lineterminator="\r\n").encode("utf-8")


def to_parquet(df: pd.DataFrame) -> bytes:
    """Parquet (pyarrow), formula-safe text; money (every ``*_usd`` column) as decimal128(20, 10), exact."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    df = formula_safe(df)
    table = pa.Table.from_pandas(df, preserve_index=False)
    for name in (c for c in df.columns if c.endswith("_usd")):
        i = table.schema.get_field_index(name)
        table = table.set_column(i, name, pa.array(list(df[name]), type=pa.decimal128(20, 10)))
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


# --- budgets --------------------------------------------------------------------------

def alert_state(pct_used: float, thresholds: Iterable[int]) -> str:
    """``ok``, the highest alert threshold reached (e.g. ``80 %``), or ``over budget`` from 100 %."""
    if pct_used >= 100:
        return "over budget"
    reached = [t for t in sorted(thresholds) if pct_used >= t]
    return f"{reached[-1]} %" if reached else "ok"


def budgets(book, principal, now: datetime) -> pd.DataFrame:
    """This month's budgets the viewer may see, with progress (0-1) and alert state.

    Admins see every budget, "*" (the organisation) included; anyone else only their own.
    """
    status = book.status(now)
    users = visible_users(principal)
    if users is not None:
        status = status[status["user_id"].isin(users)]
    status = status.reset_index(drop=True)
    status["progress"] = [min(1.0, max(0.0, p / 100)) for p in status["pct_used"]]
    status["alert"] = [alert_state(p, book.thresholds) for p in status["pct_used"]]
    return status


# --- what-if --------------------------------------------------------------------------

def tier_mapping(current: dict[str, str], proposed: dict[str, str]) -> dict[str, str]:
    """Model -> model: each tier's current model re-priced as the model ``proposed`` maps it to."""
    return {current[t]: proposed[t] for t in current if t in proposed and current[t] != proposed[t]}


def remapped(table: pricing.PriceTable, mapping: dict[str, str],
             catalogue: Catalogue | None = None) -> pricing.PriceTable:
    """A what-if table where each mapped model is priced as its target.

    The target's price history is used as is, except that its first price also covers
    dates before it (a call made before the target's release is priced at its launch price).
    """
    catalogue = catalogue or default_catalogue()
    rows = [r for r in table.rows() if r.model not in mapping]
    for source, target in mapping.items():
        history = table.rows(target)
        if not history:
            raise ValueError(f"{target} has no price in the table.")
        for i, r in enumerate(history):
            rows.append(dataclasses.replace(r, model=catalogue.resolve(source), table_version="what-if",
                                            effective_from=_FLOOR if i == 0 else r.effective_from))
    resolved = {catalogue.resolve(s): catalogue.resolve(t) for s, t in mapping.items()}
    return pricing.PriceTable(rows, version="what-if", batch_discount=table.batch_discount, catalogue=catalogue,
                              modifiers=table.modifiers.remapped(resolved))


@dataclass(frozen=True)
class WhatIf:
    """Original vs re-priced cost per model, and the totals (USD, exact; difference = new - original)."""

    by_model: pd.DataFrame  # model, priced_as, calls, unpriced_calls, original/new/difference_usd
    original_usd: Decimal
    new_usd: Decimal

    @property
    def difference_usd(self) -> Decimal:
        return tidy_usd(self.new_usd - self.original_usd)


def what_if(engine: Engine, principal, filters: Filters, mapping: dict[str, str],
            table: pricing.PriceTable | None = None) -> WhatIf:
    """Re-price the scoped range as if each ``mapping`` source model had been its target."""
    table = table or pricing.default_price_table()
    f = scoped(principal, filters)
    df = reprice(engine, table=remapped(table, mapping), **f.args())
    df.insert(1, "priced_as", [mapping.get(m, m) for m in df["model"]])
    return WhatIf(by_model=df, original_usd=tidy_usd(sum(df["original_cost_usd"], Decimal(0))),
                  new_usd=tidy_usd(sum(df["new_cost_usd"], Decimal(0))))


def all_on(model: str, models: Iterable[str]) -> dict[str, str]:
    """The mapping that re-prices every one of ``models`` as ``model``."""
    return {m: model for m in models if m != model}

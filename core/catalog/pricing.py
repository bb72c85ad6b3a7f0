"""Exact cost of a call: dated per-model prices (core/data/pricing.toml) and Decimal arithmetic.

Prices are absolute USD per million tokens for each of the five token types a call
is billed for; each count is charged once at its own price. Server tools (web search)
are charged per use on top, and data residency (``inference_geo``) and the batch tier
multiply the token prices (core/catalog/modifiers.py). No float is used anywhere, so
costs are exact decimals. Every priced result carries a
``price_version`` (table version + model + effective date) so the ledger can say
which price a cost came from; a model the table does not cover is *unpriced*,
never silently charged $0 or another model's price.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

from core.catalog.models import DATA_DIR, Catalogue, default_catalogue
from core.catalog.modifiers import PRIORITY_NOTE, Modifiers
from core.catalog.pricing_file import PRICE_FIELDS, parse_table
from core.types import Usage

DEFAULT_PRICES = DATA_DIR / "pricing.toml"
DEFAULT_BATCH_DISCOUNT = Decimal("0.5")
PRICE_KINDS = PRICE_FIELDS  # the five token types, in display order
COST_PARTS = (*PRICE_KINDS, "server_tools")  # what a breakdown splits a cost into
GEO = "inference_geo"
_PER_TOKEN_EXP = -6  # prices are per million tokens: shift by 10^-6, exactly
_ZERO = Decimal("0")
_ONE = Decimal(1)


@dataclass(frozen=True)
class LongPromptBand:
    """Prices (USD/MTok) for the WHOLE request once its prompt exceeds ``threshold_tokens``."""

    threshold_tokens: int
    input: Decimal
    output: Decimal
    cache_write_5m: Decimal
    cache_write_1h: Decimal
    cache_read: Decimal


@dataclass(frozen=True)
class PriceRow:
    """One model's prices (USD per million tokens) from ``effective_from`` (a UTC date) on."""

    model: str
    effective_from: date
    input: Decimal
    output: Decimal
    cache_write_5m: Decimal
    cache_write_1h: Decimal
    cache_read: Decimal
    source: str
    note: str | None = None
    band: LongPromptBand | None = None
    table_version: str = ""

    @property
    def version(self) -> str:
        """What a priced result records, e.g. ``2026-11-22/claude-haiku-5-5@2026-10-07``."""
        return f"{self.table_version}/{self.model}@{self.effective_from.isoformat()}"


@dataclass(frozen=True)
class Priced:
    """The cost of one call, or the fact that it could not be priced.

    When ``unpriced`` is True the model has no price row: ``cost`` is ``Decimal("0")``
    only as a placeholder and ``price_version`` is None. Callers must show such a
    call as *unpriced* (and may re-price it later), never as $0.
    """

    cost: Decimal
    price_version: str | None
    unpriced: bool = False
    parts: Mapping[str, Decimal] = field(default_factory=dict)  # COST_PARTS -> USD, summing to cost
    modifiers: tuple[str, ...] = ()  # what changed the standard prices, e.g. "inference_geo us x1.1"

    @property
    def notes(self) -> tuple[str, ...]:
        """Modifiers an auditor must see on the row: a price Tollgate could not know for sure."""
        return tuple(m for m in self.modifiers if "no published price" in m or "no multiplier" in m)


def band_applies(row: PriceRow, prompt_tokens: int) -> bool:
    """Whether a prompt this long (input + cache writes + cache reads) is billed at the band."""
    return row.band is not None and prompt_tokens > row.band.threshold_tokens


def _prices(row: PriceRow, prompt_tokens: int) -> PriceRow | LongPromptBand:
    return row.band if band_applies(row, prompt_tokens) else row  # type: ignore[return-value]


def _counts(usage: Usage) -> dict[str, int]:
    return {"input": usage.input_tokens, "output": usage.output_tokens,
            "cache_write_5m": usage.cache_creation_5m_tokens,
            "cache_write_1h": usage.cache_creation_1h_tokens,
            "cache_read": usage.cache_read_tokens}


def _charge(tokens: int, per_mtok: Decimal, factor: Decimal) -> Decimal:
    if tokens < 0:
        raise ValueError(f"negative token count: {tokens}")
    return (Decimal(tokens) * per_mtok * factor).scaleb(_PER_TOKEN_EXP)


def _exact(value, name: str) -> Decimal:
    if not isinstance(value, (Decimal, int)) or isinstance(value, bool):
        raise TypeError(f"{name} must be a Decimal, got {value!r}")  # floats are inexact
    return Decimal(value)


def _factor(batch: bool, batch_discount: Decimal, factor: Decimal = _ONE) -> Decimal:
    """The multiplier on every token price: the batch fraction (when batch) times ``factor`` (geo)."""
    geo = factor if factor is _ONE else _exact(factor, "factor")
    return geo * _exact(batch_discount, "batch_discount") if batch else geo


def _tool_charge(usage: Usage, tool_prices: Mapping[str, Decimal] | None) -> Decimal:
    total = _ZERO
    for name, per_use in (tool_prices or {}).items():
        uses = getattr(usage, name)
        if uses < 0:
            raise ValueError(f"negative {name}: {uses}")
        total += Decimal(uses) * _exact(per_use, name)
    return total


def breakdown(usage: Usage, row: PriceRow, *, batch: bool = False,
              batch_discount: Decimal = DEFAULT_BATCH_DISCOUNT, factor: Decimal = _ONE,
              tool_prices: Mapping[str, Decimal] | None = None) -> dict[str, Decimal]:
    """USD per part (keys of ``COST_PARTS``): each token type with the band, batch and ``factor``
    (data residency) applied, and ``server_tools``, the uses times ``tool_prices`` (USD per use,
    by usage field; never discounted). Sums to ``cost``."""
    prices = _prices(row, usage.prompt_tokens)
    f = _factor(batch, batch_discount, factor)
    parts = {kind: _charge(n, getattr(prices, kind), f) for kind, n in _counts(usage).items()}
    parts["server_tools"] = _tool_charge(usage, tool_prices)
    return parts


def cost(usage: Usage, row: PriceRow, *, batch: bool = False,
         batch_discount: Decimal = DEFAULT_BATCH_DISCOUNT, factor: Decimal = _ONE,
         tool_prices: Mapping[str, Decimal] | None = None) -> Decimal:
    """Exact USD cost of one call's usage at ``row``'s prices (batch = at ``batch_discount``)."""
    return sum(breakdown(usage, row, batch=batch, batch_discount=batch_discount, factor=factor,
                         tool_prices=tool_prices).values(), _ZERO)


def worst_case_cost(row: PriceRow, prompt_tokens: int, max_tokens: int, *,
                    cache_writes: bool = False, batch: bool = False,
                    batch_discount: Decimal = DEFAULT_BATCH_DISCOUNT, factor: Decimal = _ONE) -> Decimal:
    """The most a request can cost in USD: what a budget reserves before the call.

    Every prompt token is priced at the highest price it could be billed at (the
    dearest cache-write price when ``cache_writes``, else input; a cache read is
    included in case it is dearer) and ``max_tokens`` at the output price. The band's
    prices join the candidates when ``prompt_tokens`` exceeds its threshold; ``factor`` (data
    residency) multiplies every price. Server tools are not included (see ``tool_charge``).
    """
    if prompt_tokens < 0 or max_tokens < 0:
        raise ValueError("prompt_tokens and max_tokens must be >= 0")
    candidates = [row, row.band] if band_applies(row, prompt_tokens) else [row]
    kinds = ["input", "cache_read"] + (["cache_write_5m", "cache_write_1h"] if cache_writes else [])
    prompt_price = max(getattr(p, k) for p in candidates for k in kinds)
    output_price = max(p.output for p in candidates)
    f = _factor(batch, batch_discount, factor)
    return _charge(prompt_tokens, prompt_price, f) + _charge(max_tokens, output_price, f)


def _utc_date(at: datetime | date) -> date:
    """The UTC calendar date of ``at``; a naive datetime is taken to be UTC already."""
    if isinstance(at, datetime):
        return (at.astimezone(UTC) if at.tzinfo else at).date()
    return at


class PriceTable:
    """Every price row, by canonical model id; aliases and tiers resolve via the catalogue."""

    def __init__(self, rows: list[PriceRow], *, version: str, batch_discount: Decimal,
                 catalogue: Catalogue, modifiers: Modifiers | None = None) -> None:
        self._version = version
        self._batch_discount = batch_discount
        self._catalogue = catalogue
        self.modifiers = modifiers if modifiers is not None else Modifiers([], [])
        self._by_model: dict[str, list[PriceRow]] = {}
        for row in sorted(rows, key=lambda r: (r.model, r.effective_from)):
            self._by_model.setdefault(row.model, []).append(row)

    @classmethod
    def load(cls, path: Path | str = DEFAULT_PRICES, catalogue: Catalogue | None = None) -> PriceTable:
        """Read and strictly validate a price file (any path: the real one or a what-if).

        Raises ValueError naming the offending row for a missing or unknown field, a
        negative or non-decimal price, or a duplicate (model, effective_from).
        """
        catalogue = catalogue if catalogue is not None else default_catalogue()
        path = Path(path)
        parsed = parse_table(path.read_text(encoding="utf-8"), origin=str(path),
                             resolve=catalogue.resolve)
        rows = [PriceRow(**r, band=LongPromptBand(**band) if band else None,
                         table_version=parsed.version)
                for r, band in parsed.rows]
        return cls(rows, version=parsed.version, batch_discount=parsed.batch_discount,
                   catalogue=catalogue, modifiers=Modifiers.from_parsed(parsed.server_tools, parsed.modifiers))

    @property
    def version(self) -> str:
        return self._version

    @property
    def batch_discount(self) -> Decimal:
        """Fraction of the standard price charged for batch usage (0.5 = 50 %)."""
        return self._batch_discount

    def models(self) -> list[str]:
        """Canonical ids of every model with at least one price row."""
        return sorted(self._by_model)

    def rows(self, model: str | None = None) -> list[PriceRow]:
        """Every row (or one model's history), oldest first within a model."""
        if model is not None:
            return list(self._by_model.get(self._catalogue.resolve(model), ()))
        return [r for m in self.models() for r in self._by_model[m]]

    def row_for(self, model: str, at: datetime | date | None = None) -> PriceRow | None:
        """The row in effect for ``model`` (id, alias or tier) at ``at``'s UTC date.

        ``at=None`` means the newest row. None when the model has no row in effect
        then; never another model's row.
        """
        history = self._by_model.get(self._catalogue.resolve(model))
        if not history:
            return None
        if at is None:
            return history[-1]
        day = _utc_date(at)
        eligible = [r for r in history if r.effective_from <= day]
        return eligible[-1] if eligible else None

    def price(self, usage: Usage, model: str, at: datetime | date | None = None,
              batch: bool = False) -> Priced:
        """Cost of ``usage`` on ``model`` at ``at``; unpriced (not $0) when no row applies.

        Batch when asked or when the usage reports ``service_tier == "batch"``; the data-residency
        factor of ``usage.inference_geo`` on this model; server tools at their price that day.
        """
        row = self.row_for(model, at)
        if row is None:
            return Priced(cost=_ZERO, price_version=None, unpriced=True)
        return self.priced_at(usage, row, at, batch=batch)

    def priced_at(self, usage: Usage, row: PriceRow, at: datetime | date | None = None, *,
                  batch: bool = False) -> Priced:
        """``price`` at a given ``row`` (e.g. a re-pricing's): its token prices, this table's modifiers."""
        parts, mods = self._parts(usage, row, at, batch)
        return Priced(cost=sum(parts.values(), _ZERO), price_version=row.version, parts=parts, modifiers=mods)

    def _parts(self, usage: Usage, row: PriceRow, at, batch: bool) -> tuple[dict[str, Decimal], tuple[str, ...]]:
        day = None if at is None else _utc_date(at)
        mods = []
        batch = batch or usage.service_tier == "batch"
        if batch:
            mods.append(f"batch x{self._batch_discount}")
        elif usage.service_tier == "priority":
            mods.append(PRIORITY_NOTE)
        geo = self.geo_factor(row.model, usage.inference_geo, at)
        if geo != 1:
            mods.append(f"{GEO} {usage.inference_geo} x{geo}")
        elif self.modifiers.has_value(GEO, usage.inference_geo):
            mods.append(f"{GEO} {usage.inference_geo}: no multiplier in the price table for {row.model}")
        used = usage.web_search_requests or usage.web_fetch_requests  # most calls use no server tool
        parts = breakdown(usage, row, batch=batch, batch_discount=self._batch_discount, factor=geo,
                          tool_prices=self.modifiers.tool_prices(day) if used else None)
        return parts, tuple(mods)

    def geo_factor(self, model: str, geo: str | None, at: datetime | date | None = None) -> Decimal:
        """The data-residency factor on every token price of ``model`` for ``geo`` (1 when none applies)."""
        day = None if at is None else _utc_date(at)
        if geo is None:
            return _ONE
        factor = self.modifiers.token_factor(GEO, geo, self._catalogue.resolve(model), day)
        return _ONE if factor is None else factor

    def tool_charge(self, uses: Mapping[str, int], at: datetime | date | None = None) -> Decimal:
        """USD for ``uses`` (server-tool usage field -> count) at the prices in effect at ``at``."""
        prices = self.modifiers.tool_prices(None if at is None else _utc_date(at))
        return sum((Decimal(n) * prices[name] for name, n in uses.items() if name in prices), _ZERO)

    def worst_case_cost(self, row: PriceRow, prompt_tokens: int, max_tokens: int, *,
                        cache_writes: bool = False, batch: bool = False, factor: Decimal = _ONE) -> Decimal:
        """Module ``worst_case_cost`` with this table's batch fraction (what budgets reserve)."""
        return worst_case_cost(row, prompt_tokens, max_tokens, cache_writes=cache_writes,
                               batch=batch, batch_discount=self._batch_discount, factor=factor)

    def breakdown(self, usage: Usage, row: PriceRow, *, batch: bool = False,
                  at: datetime | date | None = None) -> dict[str, Decimal]:
        """The parts ``price`` would give for ``usage`` at ``row`` (for the console), modifiers applied."""
        return self._parts(usage, row, at, batch)[0]


def load_hypothetical(path: Path | str, catalogue: Catalogue | None = None) -> PriceTable:
    """A what-if table from any file in the same format, for re-pricing history."""
    return PriceTable.load(path, catalogue)


@lru_cache(maxsize=1)
def default_price_table() -> PriceTable:
    """The shipped table, read once per process."""
    return PriceTable.load()

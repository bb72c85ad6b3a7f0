"""Strict reading of a price file (core/data/pricing.toml format) into plain, checked values.

A wrong price silently mis-bills every call, so the file is validated in full:
any missing or unknown field, a price that is not an exact non-negative decimal,
an alias instead of a canonical model id, or a duplicate (model, effective_from)
is a ValueError that names the row. Prices must be strings ("0.125") or integers:
a TOML float is refused because it is not exact.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

PRICE_FIELDS = ("input", "output", "cache_write_5m", "cache_write_1h", "cache_read")
_ROW_REQUIRED = ("model", "effective_from", *PRICE_FIELDS, "source")
_ROW_OPTIONAL = ("note", "band")
_BAND_REQUIRED = ("threshold_tokens", *PRICE_FIELDS)
_TOP_REQUIRED = ("version", "batch_discount", "prices")
PRICE_VERSION_MAX = 64  # the ledger's price_version column width


@dataclass(frozen=True)
class ParsedTable:
    """A validated file: its version, batch fraction and (row fields, band fields or None) pairs."""

    version: str
    batch_discount: Decimal
    rows: list[tuple[dict, dict | None]]


def parse_decimal(value, where: str) -> Decimal:
    """An exact, finite, non-negative Decimal from a TOML string or integer."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        hint = ' (write it as a string, e.g. "0.125", so it stays exact)' if isinstance(value, float) else ""
        raise ValueError(f"{where}: expected a decimal string, got {value!r}{hint}")
    try:
        d = Decimal(value)
    except InvalidOperation:
        raise ValueError(f"{where}: {value!r} is not a decimal number") from None
    if not d.is_finite():
        raise ValueError(f"{where}: {value!r} is not a finite number")
    if d < 0:
        raise ValueError(f"{where}: negative price {value!r}")
    return d


def _check_keys(table: dict, required: tuple[str, ...], optional: tuple[str, ...], where: str) -> None:
    missing = [k for k in required if k not in table]
    if missing:
        raise ValueError(f"{where}: missing field(s) {', '.join(missing)}")
    unknown = sorted(set(table) - set(required) - set(optional))
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {', '.join(unknown)}")


def _text(value, where: str, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{where}: expected a non-empty string, got {value!r}")
    return value


def _parse_band(band, where: str) -> dict:
    if not isinstance(band, dict):
        raise ValueError(f"{where}: expected a [prices.band] table")
    _check_keys(band, _BAND_REQUIRED, (), where)
    threshold = band["threshold_tokens"]
    if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold <= 0:
        raise ValueError(f"{where}.threshold_tokens: expected a positive integer, got {threshold!r}")
    out: dict = {"threshold_tokens": threshold}
    for kind in PRICE_FIELDS:
        out[kind] = parse_decimal(band[kind], f"{where}.{kind}")
    return out


def _row_label(origin: str, i: int, row) -> str:
    if isinstance(row, dict):
        return f"{origin}: prices[{i}] ({row.get('model', '?')} @ {row.get('effective_from', '?')})"
    return f"{origin}: prices[{i}]"


def _parse_row(row, where: str, version: str, resolve: Callable[[str], str]) -> tuple[dict, dict | None]:
    if not isinstance(row, dict):
        raise ValueError(f"{where}: expected a [[prices]] table")
    _check_keys(row, _ROW_REQUIRED, _ROW_OPTIONAL, where)
    model = _text(row["model"], f"{where}.model")
    canonical = resolve(model)
    if canonical != model:
        raise ValueError(f"{where}.model: {model!r} is an alias of {canonical!r}; use the canonical id")
    eff = row["effective_from"]
    if isinstance(eff, datetime) or not isinstance(eff, date):
        raise ValueError(f"{where}.effective_from: expected a TOML date (e.g. 2026-10-07), got {eff!r}")
    if len(f"{version}/{model}@{eff.isoformat()}") > PRICE_VERSION_MAX:
        raise ValueError(f"{where}: price version longer than {PRICE_VERSION_MAX} characters; "
                         "shorten the table version")
    fields = {"model": model, "effective_from": eff,
              "source": _text(row["source"], f"{where}.source"),
              "note": _text(row.get("note"), f"{where}.note", optional=True)}
    for kind in PRICE_FIELDS:
        fields[kind] = parse_decimal(row[kind], f"{where}.{kind}")
    band = _parse_band(row["band"], f"{where}.band") if "band" in row else None
    return fields, band


def parse_table(text: str, *, origin: str, resolve: Callable[[str], str] = lambda m: m) -> ParsedTable:
    """Validate a price file's text; ``resolve`` maps a name to its canonical model id."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{origin}: not valid TOML: {exc}") from None
    _check_keys(raw, _TOP_REQUIRED, (), origin)
    version = _text(raw["version"], f"{origin}: version")
    discount = parse_decimal(raw["batch_discount"], f"{origin}: batch_discount")
    if not Decimal(0) < discount <= Decimal(1):
        raise ValueError(f"{origin}: batch_discount must be in (0, 1], got {discount}")
    prices = raw["prices"]
    if not isinstance(prices, list) or not prices:
        raise ValueError(f"{origin}: prices must be a non-empty array of [[prices]] tables")
    rows: list[tuple[dict, dict | None]] = []
    seen: dict[tuple[str, date], int] = {}
    for i, row in enumerate(prices):
        where = _row_label(origin, i, row)
        fields, band = _parse_row(row, where, version, resolve)
        key = (fields["model"], fields["effective_from"])
        if key in seen:
            raise ValueError(f"{where}: duplicate (model, effective_from); "
                             f"prices[{seen[key]}] already has it")
        seen[key] = i
        rows.append((fields, band))
    return ParsedTable(version=version, batch_discount=discount, rows=rows)

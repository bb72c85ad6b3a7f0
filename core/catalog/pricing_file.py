"""Strict reading of a price file (core/data/pricing.toml format) into plain, checked values.

A wrong price silently mis-bills every call, so the file is validated in full by the
pydantic models below (core/catalog/toml_schema.py): any missing or unknown field, a price that
is not an exact non-negative decimal, an alias instead of a canonical model id, or a
duplicate (model, effective_from) is a DataFileError (a ConfigError, so a ValueError too)
naming the file, the row and the field. Prices must be strings ("0.125") or integers:
a TOML float is refused because it is not exact.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field

from core.catalog.toml_schema import ExactDecimal, PositiveInt, Strict, Text, check, read_toml
from core.errors import DataFileError
from core.types import SERVER_TOOL_FIELDS

PRICE_FIELDS = ("input", "output", "cache_write_5m", "cache_write_1h", "cache_read")
PRICE_VERSION_MAX = 64  # the ledger's price_version column width


def _toml_date(value: Any) -> date:
    if isinstance(value, datetime) or not isinstance(value, date):
        raise ValueError(f"expected a TOML date (e.g. 2026-10-07), got {value!r}")
    return value


class BandModel(Strict):
    """Haiku-style long-prompt band: above ``threshold_tokens`` every token is charged at these prices."""

    threshold_tokens: PositiveInt
    input: ExactDecimal
    output: ExactDecimal
    cache_write_5m: ExactDecimal
    cache_write_1h: ExactDecimal
    cache_read: ExactDecimal


class PriceRowModel(Strict):
    """One [[prices]] row: USD per million tokens per token type, from ``effective_from`` (UTC date)."""

    model: Text
    effective_from: Annotated[date, BeforeValidator(_toml_date)]
    input: ExactDecimal
    output: ExactDecimal
    cache_write_5m: ExactDecimal
    cache_write_1h: ExactDecimal
    cache_read: ExactDecimal
    source: Text
    note: Text | None = None
    band: BandModel | None = None


class ServerToolRowModel(Strict):
    """One [[server_tools]] row: USD per use of a server tool (on top of tokens), from ``effective_from``."""

    tool: Text
    usage_field: Literal[SERVER_TOOL_FIELDS]  # the Usage count the price multiplies
    effective_from: Annotated[date, BeforeValidator(_toml_date)]
    usd_per_use: ExactDecimal
    source: Text
    note: Text | None = None


class ModifierRowModel(Strict):
    """One [[modifiers]] row: every token price of ``models`` times ``factor`` when usage reports ``field = value``."""

    field: Literal["inference_geo"]
    value: Text
    factor: ExactDecimal
    models: list[Text] = Field(min_length=1)
    effective_from: Annotated[date, BeforeValidator(_toml_date)]
    source: Text
    note: Text | None = None


class PriceFileModel(Strict):
    """The whole file: its version (part of every price_version), batch fraction and rows."""

    version: Text
    batch_discount: ExactDecimal
    prices: list[PriceRowModel] = Field(min_length=1)
    server_tools: list[ServerToolRowModel] = []
    modifiers: list[ModifierRowModel] = []


@dataclass(frozen=True)
class ParsedTable:
    """A validated file: its version, batch fraction, (row fields, band fields or None) pairs,
    server-tool price rows and price modifiers (plain dicts)."""

    version: str
    batch_discount: Decimal
    rows: list[tuple[dict, dict | None]]
    server_tools: list[dict]
    modifiers: list[dict]


def _row_label(row: dict) -> str:
    """How an error names a row: its model (a price), tool (a server tool) or ``field = value`` (a modifier)."""
    name = row.get("model") or row.get("tool")
    if name is None and "field" in row:
        name = f"{row['field']} = {row.get('value', '?')}"
    return f"{name or '?'} @ {row.get('effective_from', '?')}"


def parse_table(text: str, *, origin: str, resolve: Callable[[str], str] = lambda m: m) -> ParsedTable:
    """Validate a price file's text; ``resolve`` maps a name to its canonical model id."""
    raw = read_toml(text, origin)
    if raw.get("prices") == []:
        raise DataFileError(origin, "prices", "must be a non-empty array of [[prices]] tables")
    parsed = check(PriceFileModel, raw, origin, label=_row_label)
    if not Decimal(0) < parsed.batch_discount <= Decimal(1):
        raise DataFileError(origin, "batch_discount", f"batch_discount must be in (0, 1], got {parsed.batch_discount}")
    rows: list[tuple[dict, dict | None]] = []
    seen: dict[tuple[str, date], int] = {}
    for i, row in enumerate(parsed.prices):
        where = f"prices[{i}] ({row.model} @ {row.effective_from})"
        canonical = resolve(row.model)
        if canonical != row.model:
            raise DataFileError(origin, f"{where}.model",
                                f"{row.model!r} is an alias of {canonical!r}; use the canonical id")
        if len(f"{parsed.version}/{row.model}@{row.effective_from.isoformat()}") > PRICE_VERSION_MAX:
            raise DataFileError(origin, where, f"price version longer than {PRICE_VERSION_MAX} characters; "
                                "shorten the table version")
        key = (row.model, row.effective_from)
        if key in seen:
            raise DataFileError(origin, where, f"duplicate (model, effective_from); prices[{seen[key]}] already has it")
        seen[key] = i
        fields = row.model_dump(exclude={"band"})
        rows.append((fields, row.band.model_dump() if row.band else None))
    return ParsedTable(version=parsed.version, batch_discount=parsed.batch_discount, rows=rows,
                       server_tools=_server_tools(parsed, origin), modifiers=_modifiers(parsed, origin, resolve))


def _server_tools(parsed: PriceFileModel, origin: str) -> list[dict]:
    """The server-tool rows, each (usage_field, effective_from) once."""
    seen: dict[tuple[str, date], int] = {}
    for i, row in enumerate(parsed.server_tools):
        key = (row.usage_field, row.effective_from)
        if key in seen:
            raise DataFileError(origin, f"server_tools[{i}] ({row.tool} @ {row.effective_from})",
                                f"duplicate (usage_field, effective_from); server_tools[{seen[key]}] already has it")
        seen[key] = i
    return [row.model_dump() for row in parsed.server_tools]


def _modifiers(parsed: PriceFileModel, origin: str, resolve: Callable[[str], str]) -> list[dict]:
    """The modifier rows: a positive factor, canonical model ids, each (field, value, effective_from) once."""
    seen: dict[tuple[str, str, date], int] = {}
    for i, row in enumerate(parsed.modifiers):
        where = f"modifiers[{i}] ({row.field} = {row.value} @ {row.effective_from})"
        if row.factor <= 0:
            raise DataFileError(origin, f"{where}.factor", f"factor must be above 0, got {row.factor}")
        for model in row.models:
            if resolve(model) != model:
                raise DataFileError(origin, f"{where}.models",
                                    f"{model!r} is an alias of {resolve(model)!r}; use the canonical id")
        key = (row.field, row.value, row.effective_from)
        if key in seen:
            raise DataFileError(origin, where, f"duplicate (field, value, effective_from); "
                                f"modifiers[{seen[key]}] already has it")
        seen[key] = i
    return [row.model_dump() for row in parsed.modifiers]

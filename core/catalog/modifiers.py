"""Price modifiers beyond a model's token prices: server tools per use, data residency, service tier.

The rows come from the price file (core/data/pricing.toml ``[[server_tools]]`` and
``[[modifiers]]``), dated like the price rows: the latest row whose ``effective_from`` is on
or before the call's UTC date applies. Factors and prices are exact Decimals.

- Server tools: ``usd_per_use`` times the usage count it names (``web_search_requests``...),
  on top of tokens, never discounted or multiplied (Anthropic publishes them per use).
- ``inference_geo``: a factor on every token price of the listed models (``"us"`` at 1.1 on
  Opus 4.6 and later and the 5.x generation); a geo the table has no row for is priced at x1
  and noted, never guessed.
- ``service_tier``: ``batch`` at the table's batch fraction; ``priority`` has no published
  price (commitments can no longer be bought), so it is priced at standard and noted.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal

PRIORITY_NOTE = "service_tier priority: no published price, priced at standard"


@dataclass(frozen=True)
class ServerToolPrice:
    """USD per use of one server tool from ``effective_from`` (a UTC date) on."""

    tool: str
    usage_field: str  # the core.types.Usage count it multiplies
    effective_from: date
    usd_per_use: Decimal
    source: str
    note: str | None = None


@dataclass(frozen=True)
class Modifier:
    """Every token price of ``models`` times ``factor`` when usage reports ``field == value``."""

    field: str  # inference_geo
    value: str
    factor: Decimal
    models: frozenset[str]
    effective_from: date
    source: str
    note: str | None = None


def latest(rows, day: date | None):
    """The row in effect on ``day`` (the newest when ``day`` is None), or None; rows oldest first."""
    eligible = [r for r in rows if day is None or r.effective_from <= day]
    return eligible[-1] if eligible else None


class Modifiers:
    """The server-tool prices and the token-price modifiers of one price table."""

    def __init__(self, server_tools: list[ServerToolPrice], modifiers: list[Modifier]) -> None:
        self._tools: dict[str, list[ServerToolPrice]] = {}
        for row in sorted(server_tools, key=lambda r: (r.usage_field, r.effective_from)):
            self._tools.setdefault(row.usage_field, []).append(row)
        self._mods: dict[tuple[str, str], list[Modifier]] = {}
        for mod in sorted(modifiers, key=lambda m: (m.field, m.value, m.effective_from)):
            self._mods.setdefault((mod.field, mod.value), []).append(mod)

    @classmethod
    def from_parsed(cls, server_tools: list[dict], modifiers: list[dict]) -> Modifiers:
        return cls([ServerToolPrice(**r) for r in server_tools],
                   [Modifier(**{**m, "models": frozenset(m["models"])}) for m in modifiers])

    def remapped(self, mapping: dict[str, str]) -> Modifiers:
        """The modifiers of a what-if table where each ``mapping`` source model is priced as its target."""
        mods = []
        for m in self.modifier_rows():
            models = {src for src, dst in mapping.items() if dst in m.models}
            mods.append(replace(m, models=frozenset((m.models - set(mapping)) | models)))
        return Modifiers(self.server_tool_rows(), mods)

    def server_tool_rows(self) -> list[ServerToolPrice]:
        """Every server-tool row, oldest first within a tool (for the price sheet)."""
        return [r for rows in self._tools.values() for r in rows]

    def modifier_rows(self) -> list[Modifier]:
        return [m for rows in self._mods.values() for m in rows]

    def tool_prices(self, day: date | None) -> dict[str, Decimal]:
        """USD per use by usage field, for the tools priced on ``day``."""
        out = {}
        for name, rows in self._tools.items():
            row = latest(rows, day)
            if row is not None:
                out[name] = row.usd_per_use
        return out

    def token_factor(self, field: str, value: str | None, model: str, day: date | None) -> Decimal | None:
        """The factor for ``field == value`` on ``model`` at ``day``; None when no row covers it."""
        if value is None:
            return None
        mod = latest(self._mods.get((field, value), ()), day)
        return mod.factor if mod is not None and model in mod.models else None

    def has_value(self, field: str, value: str | None) -> bool:
        """Whether the table knows ``value`` for ``field`` at all (for any model)."""
        return value is not None and (field, value) in self._mods

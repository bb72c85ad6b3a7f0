"""A call's price before it is sent: estimated input tokens, the worst-case cost, and whether it fits."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from types import SimpleNamespace

from core.catalog.pricing import PriceTable
from core.guards import validation
from core.guards.tokens import server_tool_uses
from core.types import Usage


@dataclass(frozen=True)
class Quote:
    """What the budget step would reserve for this request (USD), and what the user has left."""

    model: str
    prompt_tokens: int  # offline estimate, the model's tokenizer
    max_tokens: int
    worst_case_usd: Decimal | None  # None: no price row, or PDFs / url or file sources whose count_tokens failed
    remaining_usd: Decimal | None  # None: no budget applies
    flags: tuple[str, ...] = ()

    @property
    def fits(self) -> bool:
        """True when the worst case fits the budget (or no budget applies)."""
        if self.remaining_usd is None:
            return True
        return self.worst_case_usd is not None and self.worst_case_usd <= self.remaining_usd


def quote(client, prompt: str | None = None, *, user: str, model: str | None = None, messages=None,
          system=None, max_tokens: int | None = None, **params) -> Quote:
    """Validate the request as the client would, then price its worst case exactly as the budget gate does."""
    messages = messages if messages is not None else validation.as_messages(prompt or "")
    max_tokens = client.options.default_max_tokens if max_tokens is None else max_tokens
    v = validation.validate(model or client.options.default_model, messages, max_tokens=max_tokens,
                            system=system, temperature=params.get("temperature"), catalogue=client.catalogue,
                            policy=client.policy)
    body = {"model": v.model, "messages": messages, "max_tokens": max_tokens,
            **({"system": system} if system else {}), **{k: x for k, x in params.items() if x is not None}}
    call = SimpleNamespace(ts=client.clock.now(), body=body)
    remaining = client.budgets.remaining(user) if client.budgets is not None else None
    if client.gate is not None:  # the same bound, and the same count_tokens fallback, as the reservation
        worst = client.gate.worst_case(call, v, max_tokens, remaining)
    else:
        row = client.pricing.row_for(v.model, call.ts)
        geo = body.get("inference_geo")
        worst = None if row is None else (client.pricing.worst_case_cost(
            row, v.prompt_tokens, max_tokens, factor=client.pricing.geo_factor(v.model, geo, call.ts))
            + client.pricing.tool_charge(server_tool_uses(body.get("tools")), call.ts))
    return Quote(model=v.model, prompt_tokens=v.prompt_tokens, max_tokens=max_tokens, worst_case_usd=worst,
                 remaining_usd=remaining, flags=tuple(v.flags))


def cost_on_every_model(table: PriceTable, usage: Usage, at=None, catalogue=None) -> list[dict]:
    """The cost of the same token counts on every priced model, cheapest first (the Models calculator).

    With ``catalogue``, retired models are left out: nobody can call them, so they must not rank cheapest.
    """
    out = []
    for model in table.models():
        info = catalogue.get(model) if catalogue is not None else None
        if info is not None and info.status == "retired":
            continue
        priced = table.price(usage, model, at)
        if not priced.unpriced:
            out.append({"model": model, "cost_usd": priced.cost, "price_version": priced.price_version})
    return sorted(out, key=lambda r: (r["cost_usd"], r["model"]))


def price_sheet(table: PriceTable, catalogue, at=None) -> list[dict]:
    """Every price row (USD per million tokens) with its model's catalogue status and whether it applies at ``at``."""
    out = []
    for row in table.rows():
        info = catalogue.get(row.model)
        current = table.row_for(row.model, at)
        status = info.status if info is not None else "unknown"  # current, legacy, older or retired
        out.append({"model": row.model, "status": status,
                    "tiers": ", ".join(t for t, m in catalogue.tiers.items() if m == row.model),
                    "effective_from": row.effective_from, "in_effect": current is not None and current == row,
                    "input": row.input, "output": row.output, "cache_write_5m": row.cache_write_5m,
                    "cache_write_1h": row.cache_write_1h, "cache_read": row.cache_read,
                    "long_prompt_band": (f"> {row.band.threshold_tokens:,} tokens" if row.band else ""),
                    "note": row.note or "", "source": row.source})
    return out

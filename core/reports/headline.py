"""The Usage & cost page's headline figures (its tiles) from a period's usage per model and latency summary."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd

from core.budgets.alerts import tidy_usd
from core.types import USAGE_FIELDS


def _ratio(part, whole) -> float | None:
    return float(part) / float(whole) if whole else None


def _saved(by_model: pd.DataFrame) -> Decimal:
    """Estimated USD the response cache saved: tokens it saved at each model's billed USD per token."""
    total = Decimal(0)
    for row in by_model.itertuples(index=False):
        billed = sum(int(getattr(row, n)) for n in USAGE_FIELDS)
        if row.tokens_saved and billed:
            total += Decimal(int(row.tokens_saved)) * Decimal(row.cost_usd) / billed
    return total.quantize(Decimal("1e-10"))


def figures(by_model: pd.DataFrame, lat: pd.DataFrame) -> dict:
    """The headline figures from a period's usage per model and its overall latency percentiles."""
    s = {n: int(by_model[n].sum()) for n in ("calls", "errors", "cache_hits", "blocked")}
    attempted = s["calls"] - s["blocked"]
    tokens = sum(int(by_model[n].sum()) for n in USAGE_FIELDS)
    return {"spend": tidy_usd(sum(by_model["cost_usd"], Decimal(0))), "calls": s["calls"], "tokens": tokens,
            "cache_hit_rate": _ratio(s["cache_hits"], attempted), "saved": tidy_usd(_saved(by_model)),
            "error_rate": _ratio(s["errors"], attempted),
            "p95_latency": None if lat.empty else lat["p95_latency_ms"].iloc[0]}

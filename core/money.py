"""Money for people: one formatter for every dollar amount the console and messages show.

Exact figures stay in the ledger and the exports; what is shown is rounded so it reads at a
glance: ``$0.00`` for nothing, cents from a dollar up (``$1,000,000,000.00``, never ``$1e9``),
and under a dollar three significant digits (``$0.0123``, ``$0.000423``), never ``$0.000000``.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

CENT = Decimal("0.01")


def usd(amount, *, none: str = "—") -> str:
    """``amount`` (Decimal, int, float or numeric str) as dollars; ``none`` when missing or not a number."""
    if amount is None:
        return none
    try:
        d = amount if isinstance(amount, Decimal) else Decimal(str(amount))
    except (InvalidOperation, ValueError):
        return none
    if not d.is_finite():
        return none
    sign, d = ("-" if d < 0 else ""), abs(d)
    if d == 0:
        return "$0.00"
    if d >= 1:
        return f"{sign}${d.quantize(CENT, ROUND_HALF_UP):,.2f}"
    # Under a dollar: three significant digits (at least cents), so small costs stay apart.
    places = max(2, -d.adjusted() + 2)
    text = f"{d.quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP):f}"
    whole, frac = text.split(".")
    frac = frac.rstrip("0").ljust(2, "0")
    return f"{sign}${whole}.{frac}"

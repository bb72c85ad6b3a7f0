"""Two runs over the same rows side by side: outputs, cost and latency per row, totals and a verdict.

Runs pair by row number, and only runs over the same input rows (the same ``compare_key``, the
hash of the rows) can be compared: two prompt versions or two models on one spreadsheet. Pure:
it takes each run's status and ``BatchRuns.results`` rows and computes; it reads nothing.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from core.errors import ValidationError

# The keys of a result row that are not the input's columns (core.batches.service results()).
RESULT_KEYS = ("row", "prompt", "output", "outcome", "cost_usd", "latency_ms", "error")


@dataclass(frozen=True)
class Side:
    """One run's totals: USD spent on its rows, latency of its succeeded rows in ms, wall time in s."""

    run_id: str
    name: str | None
    model: str
    mode: str
    rows: int
    succeeded: int
    cost_usd: Decimal
    latency_median_ms: float | None
    latency_mean_ms: float | None
    elapsed_s: float | None  # created to ended (None while it runs)


@dataclass(frozen=True)
class Comparison:
    """The two sides, the paired rows, and which side is cheaper and faster ("a", "b" or None for a tie)."""

    a: Side
    b: Side
    rows: list[dict]
    cheaper: str | None
    faster: str | None
    verdict: str


def _get(obj, name, default=None):
    return obj.get(name, default) if isinstance(obj, Mapping) else getattr(obj, name, default)


def _usd(v) -> Decimal:
    return Decimal(0) if v is None else (v if isinstance(v, Decimal) else Decimal(str(v)))


def _side(status, rows: Sequence[Mapping]) -> Side:
    ok = [r for r in rows if r.get("outcome") == "succeeded"]
    lat = [float(r["latency_ms"]) for r in ok if r.get("latency_ms") is not None]
    created, ended = _get(status, "created_at"), _get(status, "ended_at")
    elapsed = (ended - created).total_seconds() if created is not None and ended is not None else None
    return Side(run_id=str(_get(status, "id")), name=_get(status, "name"), model=str(_get(status, "model")),
                mode=str(_get(status, "mode")), rows=len(rows), succeeded=len(ok),
                cost_usd=sum((_usd(r.get("cost_usd")) for r in rows), Decimal(0)),
                latency_median_ms=statistics.median(lat) if lat else None,
                latency_mean_ms=statistics.fmean(lat) if lat else None, elapsed_s=elapsed)


def _winner(a, b) -> str | None:
    """The side with the smaller figure, None when equal or either is unknown."""
    if a is None or b is None or a == b:
        return None
    return "a" if a < b else "b"


def _verdict(a: Side, b: Side, cheaper: str | None, faster: str | None) -> str:
    sides = {"a": a, "b": b}
    if cheaper is None:
        cost = f"Both cost the same (${a.cost_usd})." if a.cost_usd == b.cost_usd else "Cost: not comparable."
    else:
        win, lose = sides[cheaper], sides["b" if cheaper == "a" else "a"]
        pct = (1 - win.cost_usd / lose.cost_usd) * 100 if lose.cost_usd else Decimal(0)
        cost = f"{cheaper.upper()} is {pct:.0f} % cheaper (${win.cost_usd} vs ${lose.cost_usd})."
    if faster is None:
        speed = ("Latency: not known for both." if a.latency_median_ms is None or b.latency_median_ms is None
                 else "Both are as fast (median).")
    else:
        win, lose = sides[faster], sides["b" if faster == "a" else "a"]
        speed = (f"{faster.upper()} is faster: median {win.latency_median_ms:.0f} ms vs "
                 f"{lose.latency_median_ms:.0f} ms a row.")
    return f"{cost} {speed}"


def compare(a_status, a_rows: Sequence[Mapping], b_status, b_rows: Sequence[Mapping]) -> Comparison:
    """Pair two runs' result rows by row number; ValidationError when they are not over the same rows."""
    if str(_get(a_status, "id")) == str(_get(b_status, "id")):
        raise ValidationError("Pick two different runs to compare.", field="runs")
    ka, kb = _get(a_status, "compare_key"), _get(b_status, "compare_key")
    by_a = {int(r["row"]): r for r in a_rows}
    by_b = {int(r["row"]): r for r in b_rows}
    if ka is None or ka != kb or set(by_a) != set(by_b):
        raise ValidationError("These two runs are over different rows: only runs over the same file (the same "
                              "rows) can be compared side by side.", field="runs")
    paired = []
    for n in sorted(by_a):
        ra, rb = by_a[n], by_b[n]
        row = {"row": n, **{k: v for k, v in ra.items() if k not in RESULT_KEYS}}
        for tag, r in (("a", ra), ("b", rb)):
            row.update({f"prompt_{tag}": r.get("prompt"), f"output_{tag}": r.get("output"),
                        f"outcome_{tag}": r.get("outcome"), f"cost_{tag}_usd": r.get("cost_usd"),
                        f"latency_{tag}_ms": r.get("latency_ms"), f"error_{tag}": r.get("error")})
        paired.append(row)
    a, b = _side(a_status, [by_a[n] for n in sorted(by_a)]), _side(b_status, [by_b[n] for n in sorted(by_b)])
    cheaper = _winner(a.cost_usd, b.cost_usd)
    faster = _winner(a.latency_median_ms, b.latency_median_ms)
    return Comparison(a=a, b=b, rows=paired, cheaper=cheaper, faster=faster,
                      verdict=_verdict(a, b, cheaper, faster))

"""Two runs over the same rows, side by side (core.batches.compare): pairing, totals, verdict, refusals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from core.batches.compare import compare
from core.errors import ValidationError

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def _status(run_id, key="k1", model="claude-haiku-5-5", seconds=30):
    return {"id": run_id, "name": run_id, "model": model, "mode": "now", "compare_key": key,
            "created_at": T0, "ended_at": T0 + timedelta(seconds=seconds)}


def _rows(costs, latencies, outcome="succeeded"):
    return [{"row": i, "ticket": f"t{i}", "prompt": f"p{i}", "output": f"o{i}", "outcome": outcome,
             "cost_usd": Decimal(c), "latency_ms": lat, "error": None}
            for i, (c, lat) in enumerate(zip(costs, latencies, strict=True))]


def test_rows_pair_by_number_with_each_sides_output_cost_and_latency():
    a = _rows(["0.002", "0.002"], [100, 300])
    b = list(reversed(_rows(["0.001", "0.0005"], [400, 600])))  # order does not matter, row numbers do
    c = compare(_status("A"), a, _status("B", model="claude-sonnet-5-5", seconds=90), b)
    assert [r["row"] for r in c.rows] == [0, 1]
    assert c.rows[1]["ticket"] == "t1" and c.rows[1]["output_a"] == "o1" and c.rows[1]["output_b"] == "o1"
    assert c.rows[0]["cost_a_usd"] == Decimal("0.002") and c.rows[0]["cost_b_usd"] == Decimal("0.001")
    assert c.a.cost_usd == Decimal("0.004") and c.b.cost_usd == Decimal("0.0015")
    assert c.a.latency_median_ms == 200 and c.b.latency_median_ms == 500
    assert c.b.elapsed_s == 90 and c.b.model == "claude-sonnet-5-5"
    assert (c.cheaper, c.faster) == ("b", "a")
    assert c.verdict.startswith("B is 62 % cheaper ($0.0015 vs $0.004)") and "A is faster: median 200 ms" in c.verdict


def test_latency_counts_succeeded_rows_only_and_a_tie_has_no_winner():
    a = _rows(["0.001"], [100]) + [{"row": 1, "prompt": "p", "output": None, "outcome": "errored",
                                   "cost_usd": Decimal(0), "latency_ms": 5, "error": "boom"}]
    b = _rows(["0.001", "0"], [100, 100])
    c = compare(_status("A"), a, _status("B"), b)
    assert c.a.succeeded == 1 and c.a.latency_median_ms == 100
    assert (c.cheaper, c.faster) == (None, None)
    assert "same" in c.verdict


def test_runs_over_different_rows_are_refused():
    rows = _rows(["0.001"], [10])
    with pytest.raises(ValidationError, match="different rows"):
        compare(_status("A", key="k1"), rows, _status("B", key="k2"), rows)
    with pytest.raises(ValidationError, match="different rows"):
        compare(_status("A"), rows, _status("B"), _rows(["0.001", "0.001"], [10, 10]))
    with pytest.raises(ValidationError, match="two different runs"):
        compare(_status("A"), rows, _status("A"), rows)

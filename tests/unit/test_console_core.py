"""What the console shows is computed in core: error advice, conversation export, the model calculator."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from core import errors
from core.catalog.models import default_catalogue
from core.catalog.pricing import default_price_table
from core.client.quote import cost_on_every_model, price_sheet
from core.console import conversation
from core.console.advice import advice
from core.types import CallResult, Usage

NOW = datetime(2026, 11, 22, 14, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(("err", "expected"), [
    (errors.RateLimited("requests per minute", 12.2), "Wait 12 s"),
    (errors.BudgetExceeded("bob", Decimal("0.0123"), Decimal("0.5")), "$0.0123 left this month"),
    (errors.BudgetExceeded("*", Decimal("0"), Decimal("0.5"), scope="global"), "The organisation's budget"),
    (errors.CircuitOpen(90), "paused after repeated failures until 14:01:30"),
    (errors.SpendCapReached(), "spend cap"),
    (errors.AuthenticationFailed(), "check the API key"),
    (errors.ValidationError("The prompt is empty"), "Change the input"),
    (errors.StreamInterrupted(partial_text="par"), "part that arrived"),
    (errors.Overloaded(), "Send again in a minute"),
])
def test_every_error_says_what_to_do(err, expected):
    assert expected in advice(err, NOW, ZoneInfo("Europe/London"))


def test_upstream_retry_after_becomes_a_wait():
    err = errors.UpstreamRateLimited()
    err.retry_after_s = 30
    assert advice(err, NOW) .startswith("Wait 30 s")


def _result():
    return CallResult(text="**hi** <script>x</script>", model="claude-haiku-5-5",
                      usage=Usage(input_tokens=10, output_tokens=5), cost_usd=Decimal("0.0000035"),
                      price_version="v", latency_ms=12.34, ttft_ms=5.0, request_id="req_1")


def test_conversation_exports_keep_exact_costs():
    turns = [conversation.Turn("user", "hello"), conversation.from_result(_result()),
             conversation.Turn("user", "again"), conversation.from_result(_result())]
    data = json.loads(conversation.to_json(turns, user="bob", system="be brief"))
    assert data["user"] == "bob" and data["system"] == "be brief"
    assert [t["role"] for t in data["turns"]] == ["user", "assistant", "user", "assistant"]
    assert data["turns"][1]["cost_usd"] == "0.0000035" and data["turns"][1]["request_id"] == "req_1"
    md = conversation.to_markdown(turns, user="bob", system="be brief")
    assert "> be brief" in md and "## claude-haiku-5-5" in md and md.rstrip().endswith("Total: $0.0000070")


def test_the_calculator_prices_every_model_cheapest_first():
    table = default_price_table()
    usage = Usage(input_tokens=1_000_000, output_tokens=100_000, cache_read_tokens=500_000)
    rows = cost_on_every_model(table, usage)
    assert [r["model"] for r in rows] == sorted(table.models(), key=lambda m: (table.price(usage, m).cost, m))
    callable_rows = cost_on_every_model(table, usage, catalogue=default_catalogue())
    retired = {m for m, i in default_catalogue().models.items() if i.status == "retired"}
    assert [r["model"] for r in callable_rows] == [r["model"] for r in rows if r["model"] not in retired]
    assert retired & {r["model"] for r in rows}  # there was something to leave out
    assert all(r["cost_usd"] == table.price(usage, r["model"]).cost for r in rows)
    assert [r["cost_usd"] for r in rows] == sorted(r["cost_usd"] for r in rows)


def test_the_price_sheet_marks_the_row_in_effect_and_the_model_status():
    sheet = price_sheet(default_price_table(), default_catalogue())
    in_effect = [r for r in sheet if r["in_effect"]]
    assert len({r["model"] for r in in_effect}) == len(in_effect) == len(default_price_table().models())
    assert {r["status"] for r in sheet} == {"current", "legacy", "older", "retired"}  # the catalogue's own
    haiku = next(r for r in in_effect if r["model"] == "claude-haiku-5-5")
    assert haiku["tiers"] == "simple" and haiku["long_prompt_band"]

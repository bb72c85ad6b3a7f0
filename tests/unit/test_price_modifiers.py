"""Server tools, data residency, service tier and thinking: exact costs worked out by hand."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from anthropic.types import CacheCreation, OutputTokensDetails, ServerToolUsage
from anthropic.types import Usage as SDKUsage

from core.catalog.modifiers import PRIORITY_NOTE
from core.catalog.pricing import COST_PARTS, PriceTable, worst_case_cost
from core.errors import DataFileError
from core.types import SERVER_TOOL_FIELDS, USAGE_FIELDS, Usage

D = Decimal
DAY = date(2026, 11, 22)


@pytest.fixture(scope="module")
def table() -> PriceTable:
    return PriceTable.load()


# --- Usage reads every billed field -------------------------------------------------------

def test_usage_reads_server_tools_tier_and_geo_from_the_sdk_type():
    sdk = SDKUsage(input_tokens=100, output_tokens=50, cache_creation_input_tokens=30, cache_read_input_tokens=7,
                   cache_creation=CacheCreation(ephemeral_5m_input_tokens=10, ephemeral_1h_input_tokens=20),
                   server_tool_use=ServerToolUsage(web_search_requests=3, web_fetch_requests=2),
                   service_tier="priority", inference_geo="us")
    u = Usage.from_api(sdk)
    assert u == Usage(100, 50, 10, 20, 7, web_search_requests=3, web_fetch_requests=2,
                      service_tier="priority", inference_geo="us")
    assert u.to_dict()["web_search_requests"] == 3 and u.to_dict()["inference_geo"] == "us"
    assert Usage(**u.to_dict()) == u  # the cache's round trip


def test_usage_reads_the_same_from_a_dict_and_defaults_when_absent():
    d = {"input_tokens": 5, "output_tokens": 1, "server_tool_use": {"web_search_requests": 1},
         "service_tier": "standard", "inference_geo": "global"}
    assert Usage.from_api(d) == Usage(5, 1, web_search_requests=1, service_tier="standard", inference_geo="global")
    bare = Usage.from_api({"input_tokens": 5, "output_tokens": 1, "server_tool_use": None})
    assert (bare.web_search_requests, bare.web_fetch_requests, bare.service_tier, bare.inference_geo) == (0, 0, None, None)


def test_token_columns_stay_the_token_counts_only():
    assert USAGE_FIELDS == ("input_tokens", "output_tokens", "cache_creation_5m_tokens",
                            "cache_creation_1h_tokens", "cache_read_tokens")
    assert SERVER_TOOL_FIELDS == ("web_search_requests", "web_fetch_requests")


def test_thinking_tokens_are_billed_as_the_output_they_are_part_of(table):
    # 1,200 of the 1,500 output tokens were thinking: output_tokens is the billed total, charged once.
    sdk = SDKUsage(input_tokens=2_000, output_tokens=1_500,
                   output_tokens_details=OutputTokensDetails(thinking_tokens=1_200))
    priced = table.price(Usage.from_api(sdk), "claude-sonnet-5-5", DAY)
    assert priced.parts["output"] == D("0.015")  # 1,500 x 10 / 1e6, not 2,700 x 10
    assert priced.cost == D("0.019")  # + 2,000 x 2 / 1e6


# --- server tools -------------------------------------------------------------------------

def test_web_search_is_ten_dollars_per_thousand_on_top_of_tokens(table):
    u = Usage(1_000, 200, web_search_requests=3)
    priced = table.price(u, "claude-opus-5-5", DAY)
    # 1,000 x 4 + 200 x 20 = 8,000 per-MTok units = 0.008; 3 searches x 0.01 = 0.03
    assert priced.parts["server_tools"] == D("0.03") and priced.cost == D("0.038")
    assert tuple(priced.parts) == COST_PARTS and sum(priced.parts.values()) == priced.cost
    assert table.breakdown(u, table.row_for("claude-opus-5-5", DAY), at=DAY)["server_tools"] == D("0.03")


def test_web_fetch_costs_nothing_beyond_its_tokens(table):
    priced = table.price(Usage(1_000, 200, web_fetch_requests=4), "claude-opus-5-5", DAY)
    assert priced.parts["server_tools"] == 0 and priced.cost == D("0.008")


def test_server_tool_rows_are_dated_and_sourced_and_code_execution_is_not_priced_per_call(table):
    rows = {r.tool: r for r in table.modifiers.server_tool_rows()}
    assert set(rows) == {"web_search", "web_fetch"}  # code execution is billed per container-hour elsewhere
    search = rows["web_search"]
    assert search.usd_per_use == D("0.01") and search.usage_field == "web_search_requests"
    assert "check" in search.note and "2026-11-22" in search.source and search.effective_from == date(2024, 1, 1)


def test_batch_never_discounts_server_tools(table):
    priced = table.price(Usage(1_000, 200, web_search_requests=1, service_tier="batch"), "claude-opus-5-5", DAY)
    assert priced.cost == D("0.014")  # 0.008 / 2 + 0.01


# --- data residency ---------------------------------------------------------------------------

def test_us_inference_is_one_point_one_on_every_token_type(table):
    u = Usage(1_234, 567, 2_000, 3_000, 10_000, inference_geo="us")
    priced = table.price(u, "claude-opus-5-5", DAY)
    # the standard 0.052276 (test_pricing) x 1.1
    assert priced.cost == D("0.0575036") and priced.modifiers == ("inference_geo us x1.1",)
    assert priced.parts["input"] == D("0.0054296") and priced.parts["cache_read"] == D("0.0022")
    assert table.price(Usage(1_234, 567, 2_000, 3_000, 10_000, inference_geo="global"),
                       "claude-opus-5-5", DAY).cost == D("0.052276")


@pytest.mark.parametrize(("model", "factor"), [
    ("claude-opus-4-6", "1.1"), ("claude-opus-4-8", "1.1"), ("claude-haiku-5-5", "1.1"), ("claude-fable-5-1", "1.1"),
    ("claude-opus-4-5", "1"), ("claude-sonnet-4-5-20250929", "1"), ("claude-haiku-4-5", "1"),
])
def test_geo_multiplier_only_where_the_table_has_it(table, model, factor):
    assert table.geo_factor(model, "us", DAY) == D(factor)
    assert table.geo_factor(model, "global", DAY) == 1 and table.geo_factor(model, None, DAY) == 1


def test_us_reported_on_a_model_without_the_row_is_priced_at_standard_and_noted(table):
    priced = table.price(Usage(1_000, 100, inference_geo="us"), "claude-opus-4-5", DAY)
    assert priced.cost == D("0.0075")  # 1,000 x 5 + 100 x 25
    assert priced.notes and "no multiplier" in priced.notes[0]


def test_geo_applies_to_the_long_prompt_band_and_to_batch(table):
    u = Usage(input_tokens=100_001, output_tokens=1_000, inference_geo="us")
    # band: 100,001 x 0.50 + 1,000 x 2.50 = 52,500.5, x 1.1 = 57,750.55
    assert table.price(u, "claude-haiku-5-5", DAY).cost == D("0.05775055")
    both = table.price(Usage(1_000, 200, inference_geo="us", service_tier="batch"), "claude-opus-5-5", DAY)
    assert both.cost == D("0.0044") and both.modifiers == ("batch x0.5", "inference_geo us x1.1")


def test_worst_case_takes_the_geo_factor(table):
    opus = table.row_for("claude-opus-5-5", DAY)
    assert worst_case_cost(opus, 10_000, 1_000, factor=D("1.1")) == D("0.066")
    assert table.worst_case_cost(opus, 10_000, 1_000, factor=table.geo_factor("claude-opus-5-5", "us")) == D("0.066")
    with pytest.raises(TypeError):
        worst_case_cost(opus, 1, 1, factor=1.1)


# --- service tier ---------------------------------------------------------------------------

def test_batch_tier_reported_in_usage_is_half_price(table):
    priced = table.price(Usage(1_234, 567, 2_000, 3_000, 10_000, service_tier="batch"), "claude-opus-5-5", DAY)
    assert priced.cost == D("0.026138") and priced.modifiers == ("batch x0.5",)


def test_priority_tier_is_priced_at_standard_and_says_so(table):
    priced = table.price(Usage(1_234, 567, 2_000, 3_000, 10_000, service_tier="priority"), "claude-opus-5-5", DAY)
    assert priced.cost == D("0.052276") and priced.notes == (PRIORITY_NOTE,)
    standard = table.price(Usage(1_234, 567, service_tier="standard"), "claude-opus-5-5", DAY)
    assert standard.modifiers == () and standard.notes == ()


# --- the file format --------------------------------------------------------------------------

BASE = '''version = "t"
batch_discount = "0.5"
[[prices]]
model = "claude-opus-5-5"
effective_from = 2024-01-01
input = "1"
output = "5"
cache_write_5m = "1.25"
cache_write_1h = "2"
cache_read = "0.10"
source = "test"
'''
TOOL = '''[[server_tools]]
tool = "web_search"
usage_field = "web_search_requests"
effective_from = {eff}
usd_per_use = {price}
source = "test"
'''
GEO = '''[[modifiers]]
field = "inference_geo"
value = "us"
factor = {factor}
models = [{models}]
effective_from = 2024-01-01
source = "test"
'''


def _load(tmp_path, text: str) -> PriceTable:
    path = tmp_path / "p.toml"
    path.write_text(text, encoding="utf-8")
    return PriceTable.load(path)


def test_a_new_server_tool_row_takes_over_from_its_date(tmp_path):
    t = _load(tmp_path, BASE + TOOL.format(eff="2024-01-01", price='"0.01"') + TOOL.format(eff="2026-12-01", price='"0.02"'))
    u = Usage(0, 0, web_search_requests=2)
    assert t.price(u, "claude-opus-5-5", date(2026, 11, 30)).cost == D("0.02")
    assert t.price(u, "claude-opus-5-5", date(2026, 12, 1)).cost == D("0.04")
    assert t.tool_charge({"web_search_requests": 5}, date(2026, 12, 1)) == D("0.10")


SEARCH_ROW, US_ROW = "server_tools[0] (web_search @ 2024-01-01)", "modifiers[0] (inference_geo = us @ 2024-01-01)"


@pytest.mark.parametrize(("extra", "field", "message"), [
    (TOOL.format(eff="2024-01-01", price="0.01"), f"{SEARCH_ROW}.usd_per_use", "expected a decimal string"),
    (TOOL.format(eff="2024-01-01", price='"1"').replace("web_search_requests", "code_hours"),
     f"{SEARCH_ROW}.usage_field", "web_search_requests"),
    (TOOL.format(eff="2024-01-01", price='"1"') * 2, "server_tools[1] (web_search @ 2024-01-01)", "duplicate"),
    (GEO.format(factor='"0"', models='"claude-opus-5-5"'), f"{US_ROW}.factor", "above 0"),
    (GEO.format(factor="1.1", models='"claude-opus-5-5"'), f"{US_ROW}.factor", "expected a decimal string"),
    (GEO.format(factor='"1.1"', models='"claude-opus-4-5"'), f"{US_ROW}.models", "alias"),
    (GEO.format(factor='"1.1"', models=""), f"{US_ROW}.models", "at least 1"),
    (GEO.format(factor='"1.1"', models='"claude-opus-5-5"').replace('field = "inference_geo"', 'field = "speed"'),
     "modifiers[0] (speed = us @ 2024-01-01).field", "inference_geo"),
])
def test_bad_modifier_rows_are_refused_naming_the_field(tmp_path, extra, field, message):
    with pytest.raises(DataFileError) as err:
        _load(tmp_path, BASE + extra)
    assert err.value.field == field and message in str(err.value), str(err.value)

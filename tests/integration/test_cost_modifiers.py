"""Web search, US inference, thinking, images and PDFs through the guard and the real SDK: exact cost,
the ledger row on both backends, and a reservation that covers it (the figure the quote shows)."""

from __future__ import annotations

import base64
from decimal import Decimal

import pytest
import sqlalchemy as sa

from core import errors
from core.client.quote import quote
from core.ledger import records
from core.ledger.schema import calls
from core.simulator.tokenizer import count_request
from tests.integration.conftest import LEDGER_BACKENDS, budget_burst, budgeted_client, count_tokens_calls
from tests.media import pdf, png

D = Decimal
MODEL = "claude-opus-5-5"  # $4 in, $20 out per MTok; US inference at 1.1x
SEARCH = [{"type": "web_search_20250305", "name": "web_search", "max_uses": 2}]
ASK = "Use web_search to find this week's tollgate news"


def by_hand(usage, *, geo: str = "1", searches: int = 0) -> Decimal:
    """Opus 5.5 at the facts file's prices, times the geo factor, plus $0.01 a search."""
    return (D(usage.input_tokens) * 4 + D(usage.output_tokens) * 20) * D(geo) / 1_000_000 + D("0.01") * searches


@pytest.fixture(params=LEDGER_BACKENDS)
def ledger_url(request, tmp_path):
    return f"duckdb:///{tmp_path / 'ledger.duckdb'}" if request.param == "duckdb-file" else request.getfixturevalue("pg_url")


def stored(client, ledger_id: str):
    client.recorder.flush()
    with client.ledger.engine.connect() as conn:
        return records.from_row(conn.execute(sa.select(calls).where(calls.c.id == ledger_id)).one())


@pytest.mark.parametrize("streamed", [False, True], ids=["create", "stream"])
def test_a_web_search_in_us_inference_is_priced_exactly_and_recorded(make_client, fresh_sim, ledger_url, tmp_path,
                                                                     streamed):
    client = make_client(ledger_url=ledger_url, spool_path=str(tmp_path / "spool"), cache="off")
    kw = {"user": "ana", "model": MODEL, "max_tokens": 300, "tools": SEARCH, "inference_geo": "us"}
    if streamed:
        s = client.stream(ASK, **kw)
        assert "".join(s)
        r = s.result
    else:
        r = client.create(ASK, **kw)
    u = r.usage
    assert (u.web_search_requests, u.inference_geo, u.service_tier) == (1, "us", "standard")
    assert r.cost_usd == by_hand(u, geo="1.1", searches=1)
    rec = stored(client, r.ledger_id)
    assert rec.usage == u and rec.cost_usd == r.cost_usd
    assert rec.cost_parts["server_tools"] == D("0.01")
    assert rec.cost_parts["input"] == D(u.input_tokens) * 4 * D("1.1") / 1_000_000
    assert sum(rec.cost_parts.values()) == rec.cost_usd


def test_a_web_fetch_costs_its_tokens_only(make_client, fresh_sim, tmp_path):
    client = make_client(ledger_url=f"duckdb:///{tmp_path / 'l.duckdb'}", spool_path=str(tmp_path / "spool"))
    r = client.create("Use web_fetch to read https://example.com/report", user="ana", model=MODEL, max_tokens=300,
                      tools=[{"type": "web_fetch_20250910", "name": "web_fetch", "max_uses": 1}])
    assert r.usage.web_fetch_requests == 1 and r.usage.web_search_requests == 0
    assert r.cost_usd == by_hand(r.usage)
    rec = stored(client, r.ledger_id)
    assert rec.usage.web_fetch_requests == 1 and rec.cost_parts["server_tools"] == 0


def test_global_inference_is_standard_price(make_client, fresh_sim):
    r = make_client().create(ASK, user="ana", model=MODEL, max_tokens=300, tools=SEARCH)
    assert r.usage.inference_geo == "global" and r.cost_usd == by_hand(r.usage, searches=1)


def test_the_reservation_holds_the_searches_and_the_geo_factor_and_the_quote_says_so(make_client, fresh_sim,
                                                                                     tmp_path):
    client = make_client(real_time=True, ledger_url=f"duckdb:///{tmp_path / 'l.duckdb'}",
                         spool_path=str(tmp_path / "spool"), cache="off")
    client.ledger.open()
    client.budgets.set_budget("ana", D("5"))
    kw = {"user": "ana", "model": MODEL, "max_tokens": 300, "tools": SEARCH}
    plain = quote(client, ASK, **kw).worst_case_usd
    us = quote(client, ASK, **kw, inference_geo="us").worst_case_usd
    no_tools = quote(client, ASK, user="ana", model=MODEL, max_tokens=300).worst_case_usd
    assert (us - D("0.02")) == (plain - D("0.02")) * D("1.1")  # every token price x1.1; searches not
    assert plain - no_tools > D("0.02")  # two searches, and the tool definitions' input
    s = client.stream(ASK, **kw, inference_geo="us")
    next(iter(s))
    assert client.budgets.reserved("ana") == us  # held while the answer streams: what the quote showed
    "".join(s)
    assert s.result.cost_usd <= us and client.budgets.reserved("ana") == 0


def test_searches_that_would_pass_the_budget_are_refused_before_sending(make_client, fresh_sim, tmp_path):
    client = make_client(real_time=True, ledger_url=f"duckdb:///{tmp_path / 'l.duckdb'}",
                         spool_path=str(tmp_path / "spool"), cache="off")
    client.ledger.open()
    tokens_only = quote(client, ASK, user="ana", model=MODEL, max_tokens=50).worst_case_usd
    client.budgets.set_budget("ana", tokens_only + D("0.025"))  # the tokens fit, and two searches, not ten
    many = [{"type": "web_search_20250305", "name": "web_search"}]  # no max_uses: the default of 10 is reserved
    with pytest.raises(errors.BudgetExceeded):
        client.create(ASK, user="ana", model=MODEL, max_tokens=50, tools=many)
    assert fresh_sim.stats()["messages_requests"] == 0
    r = client.create(ASK, user="ana", model=MODEL, max_tokens=50, tools=SEARCH)
    assert r.usage.web_search_requests == 1 and client.budgets.spent("ana") == r.cost_usd


def test_thinking_tokens_are_billed_as_output(make_client, fresh_sim):
    client = make_client()
    r = client.create("What is 2 + 2?", user="ana", model=MODEL, max_tokens=2000,
                      thinking={"type": "enabled", "budget_tokens": 1024})
    bare = client.create("What is 2 + 2?", user="ana", model=MODEL, max_tokens=2000)
    assert r.usage.output_tokens > bare.usage.output_tokens  # the thinking block is in the count
    assert r.cost_usd == by_hand(r.usage)


def image(width: int, height: int) -> dict:
    return {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                        "data": base64.b64encode(png(width, height)).decode()}}


def _budgeted(make_client, tmp_path, usd: str):
    return budgeted_client(make_client, tmp_path, usd, concurrency=None, user_concurrency=None)


def test_a_base64_image_is_bounded_offline_and_the_bound_holds(make_client, fresh_sim, tmp_path):
    client = _budgeted(make_client, tmp_path, "1")
    messages = [{"role": "user", "content": [image(1000, 1000), image(3000, 2000), {"type": "text", "text": "Compare."}]}]
    worst = quote(client, messages=messages, user="ana", model=MODEL, max_tokens=8).worst_case_usd
    r = client.create(messages=messages, user="ana", model=MODEL, max_tokens=8)
    assert count_tokens_calls(fresh_sim) == 0  # no count_tokens needed: the header gives the size
    assert r.usage.input_tokens >= 1333 + 1533 and r.cost_usd <= worst
    assert r.usage.input_tokens <= count_request(None, messages, "v2")  # the simulator's own count


def test_no_overshoot_with_images_of_every_size(make_client, fresh_sim, tmp_path):
    budget = D("0.05")
    client = _budgeted(make_client, tmp_path, str(budget))
    sizes = [(4000, 3000), (1568, 1568), (800, 600), (64, 64), (7900, 200)]

    def send(i):
        w, h = sizes[i % len(sizes)]
        client.create(messages=[{"role": "user", "content": [image(w, h + i), {"type": "text", "text": f"{i}?"}]}],
                      user="ana", model=MODEL, max_tokens=8)

    outcomes = budget_burst(client, send, 40)
    assert outcomes.count("ok") >= 1 and outcomes.count("refused") > 0
    assert client.budgets.spent("ana") <= budget


@pytest.mark.parametrize("block", [
    {"type": "document", "source": {"type": "base64", "media_type": "application/pdf",
                                    "data": base64.b64encode(pdf()).decode()}},
    {"type": "image", "source": {"type": "url", "url": "https://example.com/chart.png"}},
], ids=["pdf", "url-image"])
def test_pdfs_and_url_sources_are_counted_by_anthropic_or_refused(make_client, fresh_sim, tmp_path, block):
    client = _budgeted(make_client, tmp_path, "0.5")
    messages = [{"role": "user", "content": [block, {"type": "text", "text": "Summarise it."}]}]
    r = client.create(messages=messages, user="ana", model=MODEL, max_tokens=8)
    assert count_tokens_calls(fresh_sim) == 1 and client.budgets.spent("ana") == r.cost_usd
    fresh_sim.configure(count_tokens_fault="529")
    with pytest.raises(errors.CostUnbounded):
        client.create(messages=messages, user="ana", model=MODEL, max_tokens=8)
    assert fresh_sim.stats()["messages_requests"] == 1  # refused, not sent on a guess
    assert client.create(messages=messages, user="bo", model=MODEL, max_tokens=8).cost_usd > 0  # no budget: no count


@pytest.mark.parametrize(("tier", "factor", "note"), [
    ("priority", "1", "service_tier priority: no published price, priced at standard"),
    ("batch", "0.5", None),
])
def test_the_tier_usage_reports_is_priced_and_a_priority_call_says_it_used_standard_prices(
        make_client, fresh_sim, tmp_path, tier, factor, note):
    client = make_client(ledger_url=f"duckdb:///{tmp_path / 'l.duckdb'}", spool_path=str(tmp_path / "spool"))
    fresh_sim.configure(service_tier=tier)
    r = client.create("Hello there", user="ana", model=MODEL, max_tokens=50)
    assert r.usage.service_tier == tier and r.cost_usd == by_hand(r.usage) * D(factor)
    rec = stored(client, r.ledger_id)
    assert rec.usage.service_tier == tier and rec.detail == note


def test_a_stream_cut_off_after_a_search_still_bills_the_search(make_client, fresh_sim, tmp_path):
    # The final search count comes in message_delta; a stream cut before it bills each search that began.
    client = make_client(ledger_url=f"duckdb:///{tmp_path / 'l.duckdb'}", spool_path=str(tmp_path / "spool"),
                         cache="off")
    fresh_sim.script_faults([{"fault": "truncate", "after": 14}])  # past the search, in the answer
    s = client.stream(ASK, user="ana", model=MODEL, max_tokens=300, tools=SEARCH)
    with pytest.raises(errors.StreamInterrupted):
        for _ in s.events():
            pass
    client.recorder.flush()
    with client.ledger.engine.connect() as conn:
        row = records.from_row(conn.execute(sa.select(calls)).one())
    assert row.status == "error" and row.usage.web_search_requests == 1
    assert row.cost_parts["server_tools"] == D("0.01") and row.cost_usd == by_hand(row.usage, searches=1)

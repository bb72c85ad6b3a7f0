"""The budget reservation is an upper bound on the real cost, whatever the text.

The simulator bills with a tokenizer of its own (core/simulator/tokenizer.py), unlike the
client's estimate, so an under-estimate shows up here as spend past the budget.
"""

from __future__ import annotations

import base64
import hashlib
from decimal import Decimal

import pytest
import sqlalchemy as sa

from core import errors
from core.client.quote import quote
from core.guards.tokens import bound_request, estimate_request
from core.simulator.tokenizer import count_request
from tests.integration.conftest import budget_burst, budgeted_client, count_tokens_calls

CJK = "予算は決して超えてはならない。東京の会議室で、请在下周五之前提交季度报告。한국어 문장도 있습니다。"
EMOJI = "🚀🔥✨👩‍💻🎉🧪📈🤖💡🙂 ok 👍🏽 🇫🇷 ❤️ "
CODE = ("def reserve(self, user: str, amount: Decimal) -> None:\n"
        "    if amount > self.left[user]:  # {x!r}\n        raise BudgetExceeded(user, amount)\n"
        "    self.left[user] -= amount; return {'ok': [1, 2, 3], \"k\": (a or b)}\n")
BLOB = base64.b64encode(hashlib.sha512(b"tollgate").digest() * 24).decode()  # 2 KB of base64
LONG_DOC = "\n\n".join(f"第{i}章 {CJK} {CODE} Appendix {i}: see {BLOB[:200]}" for i in range(40))

PROMPTS = {"cjk": CJK * 20, "emoji": EMOJI * 40, "code": CODE * 12, "base64": BLOB, "long-doc": LONG_DOC}
MODEL = "claude-opus-5-5"  # $4 in, $20 out per million tokens
# max_tokens=8: every reply is cut at 8 tokens, so the output reservation has no slack to hide
# an input under-estimate. Budgets fit a handful of calls of each kind.
BUDGETS = {"cjk": Decimal("0.05"), "emoji": Decimal("0.05"), "code": Decimal("0.05"),
           "base64": Decimal("0.05"), "long-doc": Decimal("0.25")}


@pytest.mark.parametrize("tokenizer", ["v1", "v2"])
@pytest.mark.parametrize("kind", sorted(PROMPTS))
def test_simulator_tokens_never_pass_the_bound(kind, tokenizer):
    messages = [{"role": "user", "content": PROMPTS[kind]},
                {"role": "assistant", "content": [{"type": "text", "text": CJK}]},
                {"role": "user", "content": [{"type": "text", "text": EMOJI},
                                             {"type": "tool_result", "tool_use_id": "t1", "content": CODE}]}]
    tools = [{"name": "lookup", "description": CJK, "input_schema": {"type": "object"}}]
    for system, tl in ((None, None), (CJK + BLOB, tools), ([{"type": "text", "text": CODE}], tools)):
        billed = count_request(system, messages, tokenizer, tl)
        assert billed <= bound_request(system, messages, tl)


@pytest.mark.parametrize("kind", ["cjk", "emoji", "code", "base64"])
def test_simulator_counts_differently_from_the_estimate(kind):
    """Without this, no test could see an under-estimate: the estimate must be too low here."""
    messages = [{"role": "user", "content": PROMPTS[kind]}]
    assert count_request(None, messages, "v2") > estimate_request(None, messages, "v2") * Decimal("1.25")


def _spent(url: str, user: str) -> Decimal:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        total = conn.execute(sa.text("SELECT COALESCE(SUM(cost_usd), 0) FROM calls WHERE user_id = :u"),
                             {"u": user}).scalar_one()
    engine.dispose()
    return Decimal(str(total))


@pytest.mark.parametrize("kind", sorted(PROMPTS))
def test_no_overshoot_with_hard_to_estimate_text(kind, make_client, fresh_sim, tmp_path):
    url = f"duckdb:///{tmp_path / 'ledger.duckdb'}"
    client = make_client(real_time=True, ledger_url=url, spool_path=str(tmp_path / "spool"), cache="off",
                         concurrency=None, user_concurrency=None)
    client.ledger.open()
    budget = BUDGETS[kind]
    client.budgets.set_budget("ana", budget)

    outcomes, spent = _burst(client, url, lambda i: client.create(f"{i}: {PROMPTS[kind]}", user="ana",
                                                                   model=MODEL, max_tokens=8))
    assert outcomes.count("ok") >= 1 and outcomes.count("refused") > 0
    assert spent <= budget, f"{kind}: spent ${spent} of ${budget} ({outcomes.count('ok')} of 60 let through)"


@pytest.mark.postgres
def test_no_overshoot_on_postgres_with_streams_and_mixed_text(make_client, fresh_sim, pg_url, tmp_path):
    client = make_client(real_time=True, ledger_url=pg_url, spool_path=str(tmp_path / "spool"), cache="off",
                         concurrency=None, user_concurrency=None)
    client.ledger.open()
    budget = Decimal("0.06")
    client.budgets.set_budget("ana", budget)
    kinds = ["cjk", "emoji", "base64", "code"]

    def send(i):
        prompt = f"{i}: {PROMPTS[kinds[i % 4]]}"
        if i % 2:
            "".join(client.stream(prompt, user="ana", model=MODEL, max_tokens=8))
        else:
            client.create(prompt, user="ana", model=MODEL, max_tokens=8)

    outcomes, spent = _burst(client, pg_url, send)
    assert outcomes.count("ok") >= 1 and outcomes.count("refused") > 0
    assert spent <= budget, f"spent ${spent} of ${budget} ({outcomes.count('ok')} of 60 let through)"


def _burst(client, url: str, send) -> tuple[list[str], Decimal]:
    """60 calls by ana on 8 threads (``send(i)`` makes call ``i``): how each ended, and what ana was charged."""
    return budget_burst(client, send, 60), _spent(url, "ana")


def test_the_cheap_path_never_asks_count_tokens(make_client, fresh_sim, tmp_path):
    client = budgeted_client(make_client, tmp_path, "5")
    for i in range(3):
        client.create(f"{i} {PROMPTS['cjk']}", user="ana", model=MODEL, max_tokens=8)
    assert fresh_sim.stats()["messages_requests"] == 3 and count_tokens_calls(fresh_sim) == 0


def test_count_tokens_decides_when_the_byte_bound_does_not_fit(make_client, fresh_sim, tmp_path):
    # About $0.0052 counted (x1.25) but $0.0119 by the byte bound: only the count fits $0.008.
    client = budgeted_client(make_client, tmp_path, "0.008")
    q = quote(client, PROMPTS["cjk"], user="ana", model=MODEL, max_tokens=8)
    assert q.fits and q.worst_case_usd < Decimal("0.008") and count_tokens_calls(fresh_sim) == 1
    r = client.create(PROMPTS["cjk"], user="ana", model=MODEL, max_tokens=8)
    assert count_tokens_calls(fresh_sim) == 2 and r.cost_usd <= q.worst_case_usd
    with pytest.raises(errors.BudgetExceeded) as refused:  # $0.0028 left: not even the counted figure fits
        client.create(PROMPTS["cjk"], user="ana", model=MODEL, max_tokens=8)
    assert refused.value.needed_usd == q.worst_case_usd
    assert fresh_sim.stats()["messages_requests"] == 1


def test_no_count_tokens_when_even_the_output_does_not_fit(make_client, fresh_sim, tmp_path):
    client = budgeted_client(make_client, tmp_path, "0.008")  # 500 output tokens alone: $0.01
    with pytest.raises(errors.BudgetExceeded):
        client.create(PROMPTS["cjk"], user="ana", model=MODEL, max_tokens=500)
    assert not quote(client, PROMPTS["cjk"], user="ana", model=MODEL, max_tokens=500).fits
    assert count_tokens_calls(fresh_sim) == 0 and fresh_sim.stats()["messages_requests"] == 0


def test_a_failed_count_tokens_refuses_rather_than_guess(make_client, fresh_sim, tmp_path):
    client = budgeted_client(make_client, tmp_path, "0.008")
    fresh_sim.configure(count_tokens_fault="503")
    with pytest.raises(errors.BudgetExceeded) as refused:
        client.create(PROMPTS["cjk"], user="ana", model=MODEL, max_tokens=8)
    assert refused.value.needed_usd > Decimal("0.008")  # the byte bound, which does not fit
    assert count_tokens_calls(fresh_sim) == 1 and fresh_sim.stats()["messages_requests"] == 0


# A base64 image is bounded by its header's pixel size (tests/integration/test_cost_modifiers.py); one the
# API fetches itself cannot be looked at offline.
IMAGE = [{"role": "user", "content": [
    {"type": "image", "source": {"type": "url", "url": "https://example.com/picture.png"}},
    {"type": "text", "text": "What is in this picture?"}]}]


def test_a_url_image_has_no_offline_bound_so_count_tokens_is_asked(make_client, fresh_sim, tmp_path):
    client = budgeted_client(make_client, tmp_path, "0.05")
    r = client.create(messages=IMAGE, user="ana", model=MODEL, max_tokens=8)
    assert count_tokens_calls(fresh_sim) == 1 and r.usage.input_tokens > 1600
    assert client.budgets.spent("ana") == r.cost_usd
    fresh_sim.configure(count_tokens_fault="529")
    with pytest.raises(errors.CostUnbounded) as refused:
        client.create(messages=IMAGE, user="ana", model=MODEL, max_tokens=8)
    assert refused.value.retryable and fresh_sim.stats()["messages_requests"] == 1
    r = client.create(messages=IMAGE, user="bob", model=MODEL, max_tokens=8)  # no budget: no count needed
    assert r.cost_usd > 0 and count_tokens_calls(fresh_sim) == 2

"""Cache scope through the real SDK: one user's answer is never served to another unless the cache is shared."""

from __future__ import annotations

import pytest

from tests.integration.conftest import messages_seen

PROMPT = "Summarise the confidential Q3 plan in one line."
ASK = dict(model="simple", temperature=0, max_tokens=40)  # greedy: cacheable


@pytest.fixture(params=["memory", "sql", pytest.param("redis", marks=pytest.mark.redis)])
def backend(request, tmp_path) -> dict:
    """Settings for one cache backend: in memory, SQL in the (DuckDB) ledger, or Redis."""
    if request.param == "memory":
        return {"cache": "memory"}
    if request.param == "sql":
        return {"cache": "sql", "ledger_url": f"duckdb:///{tmp_path / 'ledger.duckdb'}",
                "spool_path": str(tmp_path / "spool" / "ledger.spool")}
    return {"cache": "redis", "redis_url": request.getfixturevalue("redis_url")}


@pytest.fixture(params=[pytest.param("postgres", marks=pytest.mark.postgres),
                        pytest.param("redis", marks=pytest.mark.redis)])
def shared_backend(request, tmp_path) -> dict:
    """A backend two replicas (two clients, two engines or connections) share: SQL on PostgreSQL, or Redis."""
    if request.param == "postgres":
        return {"cache": "sql", "ledger_url": request.getfixturevalue("pg_url"),
                "spool_path": str(tmp_path / "spool" / "ledger.spool")}
    return {"cache": "redis", "redis_url": request.getfixturevalue("redis_url")}


def test_another_user_is_not_answered_from_the_first_users_cache(make_client, fresh_sim, backend):
    client = make_client(**backend)
    first = client.create(PROMPT, user="ana", **ASK)
    again = client.create(PROMPT, user="ana", **ASK)
    other = client.create(PROMPT, user="bob", **ASK)
    assert (first.cached, again.cached) == (False, True)  # the cache works for the same user
    assert other.cached is False and other.cost_usd > 0
    assert messages_seen(fresh_sim) == 2  # bob's call really went to the API


def test_scope_holds_across_replicas(make_client, fresh_sim, shared_backend):
    replica_1, replica_2 = make_client(**shared_backend), make_client(**shared_backend)
    replica_1.create(PROMPT, user="ana", **ASK)
    assert replica_2.create(PROMPT, user="ana", **ASK).cached is True  # the backend is really shared
    assert replica_2.create(PROMPT, user="bob", **ASK).cached is False
    assert messages_seen(fresh_sim) == 2


def test_shared_scope_serves_one_users_answer_to_another(make_client, fresh_sim, backend):
    client = make_client(cache_scope="shared", **backend)
    first = client.create(PROMPT, user="ana", **ASK)
    other = client.create(PROMPT, user="bob", **ASK)
    assert other.cached is True and other.text == first.text and other.cost_usd == 0
    assert messages_seen(fresh_sim) == 1

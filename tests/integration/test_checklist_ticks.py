"""Checklist ticks in the ledger database (DuckDB and PostgreSQL): who ticked what and when; admins only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.accounts.users import Principal
from core.checklist.store import history, standing, tick, untick
from core.errors import ValidationError
from core.ledger.engine import make_engine

ALICE = Principal("alice", "Alice Admin", "admin")
DAN = Principal("dan", "Dan Admin", "admin")
BOB = Principal("bob", "Bob Analyst", "analyst")
T0 = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


@pytest.fixture(params=["duckdb-file", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request, tmp_path):
    url = (f"duckdb:///{tmp_path / 'ledger.duckdb'}" if request.param == "duckdb-file"
           else request.getfixturevalue("pg_url"))
    eng = make_engine(url)
    yield eng
    eng.dispose()


def test_tick_untick_and_history(engine):
    t = tick(engine, "https", ALICE, note="  TLS at the ingress  ", now=T0)
    assert (t.item_id, t.ticked_by, t.ticked_at, t.note) == ("https", "alice", T0, "TLS at the ingress")
    assert standing(engine) == {"https": t}
    # Ticking again keeps the first tick: who vouched first, and when, is not overwritten.
    assert tick(engine, "https", DAN, now=T0 + timedelta(hours=1)) == t
    assert untick(engine, "https", DAN, now=T0 + timedelta(days=1)) is True
    assert untick(engine, "https", DAN) is False  # nothing stands any more
    assert standing(engine) == {}
    tick(engine, "https", DAN, now=T0 + timedelta(days=2))
    old, new = history(engine, "https")
    assert (old.ticked_by, old.unticked_by, old.unticked_at) == ("alice", "dan", T0 + timedelta(days=1))
    assert (new.ticked_by, new.unticked_at) == ("dan", None)
    assert standing(engine)["https"] == new


def test_ticks_on_several_items(engine):
    tick(engine, "https", ALICE, now=T0)
    tick(engine, "separate_keys", DAN, now=T0 + timedelta(minutes=5))
    assert {k: v.ticked_by for k, v in standing(engine).items()} == {"https": "alice", "separate_keys": "dan"}
    assert [t.item_id for t in history(engine)] == ["https", "separate_keys"]


def test_an_analyst_can_neither_tick_nor_untick(engine):
    with pytest.raises(ValidationError, match="Only an admin"):
        tick(engine, "https", BOB)
    tick(engine, "https", ALICE, now=T0)
    with pytest.raises(ValidationError, match="Only an admin"):
        untick(engine, "https", BOB)
    assert standing(engine)["https"].ticked_by == "alice"


def test_an_unknown_item_cannot_be_ticked(engine):
    with pytest.raises(ValidationError, match="No checklist item"):
        tick(engine, "made_up", ALICE)
    assert history(engine) == []

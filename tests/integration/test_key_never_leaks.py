"""A recognisable fake key, calls that fail in every way: the key is in no log, error, result or ledger row."""

from __future__ import annotations

import json
import logging

import pytest
import sqlalchemy as sa

from core import errors
from core.health.report import check
from core.upstream.keys import ApiKey

CANARY = ApiKey("canary", "sk-ant-test-fake-CANARY-7f3a9b2c5d")
BACKUP = ApiKey("backup", "sk-ant-test-fake-BACKUP-1e2d3c4b5a")
NEEDLES = ("CANARY-7f3a9b2c5d", "BACKUP-1e2d3c4b5a", "7f3a9b2c", "1e2d3c4b")

FAULTS = ["429", "529", "500", "503", "timeout", "disconnect", "stream-error", "spend-cap", "400", "401",
          "403", "404", "413"]


def test_key_appears_nowhere(make_client, fresh_sim, tmp_path, caplog, capsys):
    caplog.set_level(logging.DEBUG)  # every logger, the SDK's and httpx2's included
    fresh_sim.configure(reject_keys=[CANARY.secret])  # the canary is rejected: rotation to the backup
    ledger_url = f"duckdb:///{tmp_path / 'ledger.duckdb'}"
    client = make_client(keys=(CANARY, BACKUP), ledger_url=ledger_url, timeout_s=0.3, max_attempts=2,
                         spool_path=str(tmp_path / "ledger.spool"))
    seen: list[str] = []

    def run(fn):
        try:
            r = fn()
            if hasattr(r, "__iter__") and not hasattr(r, "to_dict"):
                r = r.final()
            seen.append(json.dumps(r.to_dict(), default=str))
            seen.append(repr(r))
        except errors.TollgateError as err:
            seen.extend([str(err), repr(err), json.dumps(err.to_dict()), repr(err.__dict__)])

    for i, fault in enumerate(FAULTS):
        for streamed in (False, True):
            fresh_sim.script_faults([{"fault": fault, "hold_s": 1.0}] * 2)
            kw = dict(user="ana", model="claude-haiku-5-5", max_tokens=32)
            prompt = f"Question {i} {streamed}"
            run(lambda kw=kw, prompt=prompt, s=streamed: (client.stream if s else client.create)(prompt, **kw))
    run(lambda: client.create("bad \x07 control", user="ana", model="claude-haiku-5-5"))
    run(lambda: client.create("hi", user="ana", model="no-such-model"))
    # Every key rejected: the authentication error itself must not carry a key.
    fresh_sim.configure(reject_keys=[CANARY.secret, BACKUP.secret])
    # The faults above may have opened the circuit; past its recovery the probe reaches the API.
    client.fake_clock.advance(client.breaker.window_s + client.breaker.recovery_s + 1)
    run(lambda: client.create("after rotation", user="ana", model="claude-haiku-5-5"))
    client.recorder.flush()

    seen.append(json.dumps(check(client), default=str))
    seen.append(repr(client.settings))
    seen.append(repr(client.transport.keyring.snapshot()))
    seen.extend(r.getMessage() + repr(r.args) for r in caplog.records)
    out = capsys.readouterr()
    seen.extend([out.out, out.err])
    engine = sa.create_engine(ledger_url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT * FROM calls")).fetchall()
    engine.dispose()
    seen.append(repr(rows))
    spool = tmp_path / "ledger.spool"
    if spool.exists():
        seen.append(spool.read_text())

    assert len(rows) >= len(FAULTS)  # the calls really were recorded
    assert any("authentication_error" in s for s in seen)
    blob = "\n".join(seen)
    for needle in NEEDLES:
        assert needle not in blob, f"key material {needle!r} leaked"


def test_masked_form_is_all_that_is_shown():
    assert str(CANARY) != CANARY.secret and CANARY.secret not in repr(CANARY) and CANARY.secret not in f"{CANARY}"
    assert CANARY.masked.startswith("sk-ant-…") and CANARY.masked.endswith(CANARY.secret[-4:])


@pytest.mark.parametrize("text", [CANARY.secret, f"Bearer {CANARY.secret} rejected"])
def test_scrub_removes_key_shaped_text(text):
    assert "CANARY" not in errors.scrub(text)

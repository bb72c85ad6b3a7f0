"""Observability end to end: the console's own server (server.py's st.App) scraped while calls run.

The st.App is served in this process by uvicorn on a free port, in a background thread, so
the guarded clients the tests build share the process's Prometheus registry and client
registry with the server: /metrics and /readyz see exactly the calls made here. (A
``streamlit run`` subprocess would have its own registry, and calls could not be made in it.)
Streamlit allows one runtime per process, hence one server for the module.
"""

from __future__ import annotations

import http.server
import json
import logging
import socket
import threading
import time
import urllib.error
import urllib.request
import zlib
from decimal import Decimal

import pytest
from prometheus_client.parser import text_string_to_metric_families

from core import errors
from core.observability import sentry
from tests.integration.conftest import PRIMARY

MODEL = "claude-haiku-5-5"
KEY_CANARY = "sk-ant-api03-CANARYzq8Xk2LmN4pR7sT1vW3yB5dF6gH9jK0-ZZZZ"
EMAIL_CANARY = "canary.person@example.org"
PHONE_CANARY = "+44 20 7946 0958"
PROMPT = f"My key is {KEY_CANARY}, mail me at {EMAIL_CANARY} or ring {PHONE_CANARY}. Summarise Q3."
NEEDLES = (KEY_CANARY, "CANARYzq8Xk2", EMAIL_CANARY, "canary.person", "7946 0958", PRIMARY.secret)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def console():
    """server.py's app, served by uvicorn in a thread; the 'tollgate' logger is restored afterwards."""
    import uvicorn

    log = logging.getLogger("tollgate")
    saved = (log.handlers[:], log.propagate, log.level)
    import server  # configures logging and builds the routes, as `make run` does

    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(server.app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert srv.started, "the console server did not start"
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(15)
    for h in log.handlers[:]:
        if h not in saved[0]:
            log.removeHandler(h)
            h.close()
    log.propagate, log.level = saved[1], saved[2]


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def scrape(base: str) -> dict[tuple, float]:
    status, body = get(base + "/metrics")
    assert status == 200
    out = {}
    for fam in text_string_to_metric_families(body):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def delta(before: dict, after: dict, name: str, **labels) -> float:
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)


def _ledgered(make_client, tmp_path, **kw):
    return make_client(ledger_url=f"duckdb:///{tmp_path / 'db' / 'ledger.duckdb'}",
                       spool_path=str(tmp_path / "spool" / "ledger.spool"), cache="memory", **kw)


def test_health_routes_answer(console):
    assert get(console + "/healthz") == (200, '{"status":"alive"}')
    assert get(console + "/_stcore/health")[0] == 200  # the console itself is served on the same port


def test_the_gateway_shares_the_console_port(console):
    req = urllib.request.Request(console + "/v1/messages", data=b"{}", method="POST",
                                 headers={"content-type": "application/json"})
    try:
        urllib.request.urlopen(req, timeout=10)
        status, body = 200, ""
    except urllib.error.HTTPError as e:
        status, body = e.code, e.read().decode()
    assert status == 401 and json.loads(body)["error"]["type"] == "authentication_error"
    status, body = get(console + "/api/openapi.json")
    assert status == 200 and "/api/usage" in json.loads(body)["paths"]


def test_metrics_move_by_exactly_the_calls_made(console, make_client, fresh_sim, tmp_path, json_logs):
    client = _ledgered(make_client, tmp_path, metrics_per_user=True, metrics_budget_gauge=True)
    client.ledger.open()
    client.budgets.set_budget("ana", Decimal("100"))
    client.budgets.set_budget("bob", Decimal("0.000001"))
    kw = dict(model=MODEL, max_tokens=64, temperature=0)
    before = scrape(console)

    ok = [client.create(PROMPT, user="ana", **kw), client.create("Second question", user="ana", **kw)]
    fresh_sim.script_faults([{"fault": "529", "retry_after": 0}])
    ok.append(client.create("Third question, after an overload", user="ana", **kw))
    hit = client.create(PROMPT, user="ana", **kw)
    with pytest.raises(errors.BudgetExceeded):
        client.create("Bob has no budget left", user="bob", **kw)
    client.recorder.flush()
    after = scrape(console)

    assert ok[2].retries == 1 and hit.cached
    d = lambda name, **labels: delta(before, after, name, **labels)  # noqa: E731
    assert d("tollgate_calls_total", model=MODEL, status="ok", code="") == 3
    assert d("tollgate_calls_total", model=MODEL, status="cached", code="") == 1
    assert d("tollgate_calls_total", model=MODEL, status="blocked", code="budget_exceeded") == 1
    assert d("tollgate_calls_total", model=MODEL, status="error", code="overloaded") == 0
    assert d("tollgate_retries_total", model=MODEL, code="overloaded") == 1
    assert d("tollgate_cache_lookups_total", result="hit") == 1
    assert d("tollgate_cache_lookups_total", result="miss") == 4  # three sent calls and the refused one
    assert d("tollgate_call_duration_seconds_count", model=MODEL, status="ok") == 3
    assert d("tollgate_tokens_total", model=MODEL, type="input") == sum(r.usage.input_tokens for r in ok)
    assert d("tollgate_tokens_total", model=MODEL, type="output") == sum(r.usage.output_tokens for r in ok)
    cost = float(sum(r.cost_usd for r in ok))
    assert cost > 0
    assert d("tollgate_cost_usd_total", model=MODEL) == pytest.approx(cost, rel=1e-9)
    assert d("tollgate_user_cost_usd_total", user="ana") == pytest.approx(cost, rel=1e-9)
    assert d("tollgate_user_cost_usd_total", user="bob") == 0
    assert after[("tollgate_calls_in_flight", ())] == 0
    assert after[("tollgate_breaker_state", (("state", "closed"),))] >= 1
    assert after[("tollgate_breaker_state", (("state", "open"),))] == 0
    assert after[("tollgate_budget_used_ratio", (("user", "ana"),))] == pytest.approx(cost / 100, rel=1e-6)
    assert after[("tollgate_budget_used_ratio", (("user", "bob"),))] == 0

    lines = json_logs.text().splitlines()
    parsed = [json.loads(x) for x in lines]  # every line is JSON
    calls = [p for p in parsed if p["event"] == "call"]
    assert [c["status"] for c in calls] == ["ok", "ok", "ok", "cached", "blocked"]
    assert {"ts", "level", "user", "model", "code", "input_tokens", "output_tokens", "cache_creation_5m_tokens",
            "cache_creation_1h_tokens", "cache_read_tokens", "cost_usd", "latency_ms", "ttft_ms", "retries",
            "request_id", "key_label", "cached"} <= set(calls[0])
    assert calls[2]["retries"] == 1 and calls[3]["cached"] is True and calls[4]["code"] == "budget_exceeded"
    assert Decimal(calls[0]["cost_usd"]) == ok[0].cost_usd and calls[0]["key_label"] == "primary"
    assert "prompt" not in calls[0] and "reply" not in calls[0]  # TOLLGATE_LOG_PROMPTS is off
    assert [p["code"] for p in parsed if p["event"] == "retry"] == ["overloaded"]
    blob = json_logs.text()
    for needle in NEEDLES:
        assert needle not in blob


def test_logged_prompts_are_redacted(make_client, fresh_sim, json_logs):
    client = make_client(log_prompts=True, cache="off")
    r = client.create(PROMPT, user="ana", model=MODEL, max_tokens=64)
    parsed = [json.loads(x) for x in json_logs.text().splitlines()]
    call = next(p for p in parsed if p["event"] == "call")
    assert "[key]" in call["prompt"] and "[email]" in call["prompt"] and "[phone]" in call["prompt"]
    assert "Summarise Q3" in call["prompt"] and call["reply"] == r.text  # the rest is kept as written
    blob = json_logs.text()
    for needle in NEEDLES:
        assert needle not in blob


def test_readyz_turns_503_while_the_ledger_is_unwritable(console, make_client, fresh_sim, tmp_path):
    client = _ledgered(make_client, tmp_path)
    client.create("Warm the ledger", user="ana", model=MODEL, max_tokens=16)
    client.recorder.flush()
    assert get(console + "/readyz")[0] == 200
    db, away = tmp_path / "db", tmp_path / "db-away"
    client.ledger.engine.dispose()  # pooled connections would hide the loss until they are reopened
    db.rename(away)
    try:
        status, body = get(console + "/readyz")
        assert status == 503
        report = json.loads(body)
        assert report["ready"] is False and any(r.startswith("ledger") for r in report["reasons"])
    finally:
        client.ledger.engine.dispose()
        away.rename(db)
    status, body = get(console + "/readyz")
    assert status == 200, body


@pytest.mark.postgres
def test_readyz_turns_503_while_the_postgres_schema_is_gone(console, make_client, fresh_sim, tmp_path):
    import sqlalchemy as sa

    from tests.conftest import PG_URL, pg_schema

    with pg_schema("t_ready_") as url:
        schema = url.rsplit("%3D", 1)[1]
        client = make_client(ledger_url=url, spool_path=str(tmp_path / "spool" / "ledger.spool"))
        client.create("Warm the ledger", user="ana", model=MODEL, max_tokens=16)
        assert get(console + "/readyz")[0] == 200
        admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as c:
                c.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
            status, body = get(console + "/readyz")
            assert status == 503 and json.loads(body)["reasons"][0].startswith("ledger")
            with admin.connect() as c:
                c.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
            status, body = get(console + "/readyz")  # the probe migrates the empty schema again
            assert status == 200, body
        finally:
            admin.dispose()
            client.close()


def test_readyz_turns_503_while_the_circuit_is_open(console, make_client, fresh_sim):
    client = make_client(breaker_failures=1, breaker_recovery_s=30, max_attempts=1)
    fresh_sim.script_faults([{"fault": "529"}])
    with pytest.raises(errors.Overloaded):
        client.create("Overloaded", user="ana", model=MODEL, max_tokens=16)
    status, body = get(console + "/readyz")
    assert status == 503 and any("circuit open" in r for r in json.loads(body)["reasons"])
    client.fake_clock.advance(31)  # the probe call is allowed, succeeds and closes the circuit
    client.create("Recovered", user="ana", model=MODEL, max_tokens=16)
    assert get(console + "/readyz")[0] == 200


class _Envelopes(http.server.BaseHTTPRequestHandler):
    received: list[bytes] = []

    def do_POST(self):  # noqa: N802 - the stdlib's name
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.headers.get("Content-Encoding") == "gzip":
            body = zlib.decompress(body, 16 + zlib.MAX_WBITS)
        type(self).received.append(body)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


def test_sentry_gets_failures_without_prompts(make_client, fresh_sim):
    _Envelopes.received = []
    httpd = http.server.HTTPServer(("127.0.0.1", 0), _Envelopes)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        assert sentry.init(f"http://publickey@127.0.0.1:{httpd.server_port}/1")
        client = make_client(max_attempts=1)
        fresh_sim.script_faults([{"fault": "500"}])
        with pytest.raises(errors.UpstreamServerError):
            client.create(PROMPT, user="ana", model=MODEL, max_tokens=16)
        try:
            raise RuntimeError(f"a page failed while showing {EMAIL_CANARY}")
        except RuntimeError as exc:
            sentry.on_script_error(exc)
        import sentry_sdk

        sentry_sdk.flush(timeout=5)
    finally:
        sentry.shutdown()
        httpd.shutdown()
    blob = b"\n".join(_Envelopes.received).decode("utf-8", "replace")
    assert "UpstreamServerError" in blob and "upstream_server_error" in blob  # the call failure, tagged
    assert "RuntimeError" in blob and "a page failed" in blob  # the script error
    assert "Summarise Q3" not in blob  # no prompt text at all
    for needle in NEEDLES:
        assert needle not in blob

"""One probe per thing a call depends on, each an ``ok``/``warn``/``fail`` verdict with a one-line reason.

Every function takes the guarded client, never raises (a probe that breaks is itself a
``fail``), costs nothing upstream and shows keys only masked. ``core.health.report`` runs them,
all for the health page and the CLI, and the ledger and breaker probes for /readyz
(``ledger_ready``, ``circuit_open``: the same round trip and breaker snapshot, as reasons).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from core.clock import naive_utc
from core.errors import TollgateError, scrub
from core.upstream.sdk_errors import translate

OK, WARN, FAIL = "ok", "warn", "fail"
UPSTREAM_TIMEOUT_S = 5.0  # the page must not hang for the client's full call timeout
SLOW_UPSTREAM_MS = 2000.0
SLOW_LEDGER_MS = 500.0
LOW_HEADROOM = 0.10  # below this share of a limit left: warn
MAX_KEY_AGE_DAYS = 90
RECENT_WINDOW = timedelta(hours=1)  # errors newer than this make the part a warning


def part(status: str, reason: str, **detail) -> dict:
    """A verdict: status, one-line reason, and whatever the page shows beside it."""
    return {"status": status, "reason": reason, **detail}


def _failed(exc: BaseException) -> str:
    err = exc if isinstance(exc, TollgateError) else translate(exc)
    return err.message


def upstream(client) -> dict:
    """``GET /v1/models`` (free, counts against no token limit): reachable, and how fast (ms)."""
    where = "the simulator" if client.demo else (client.base_url or "https://api.anthropic.com")
    t0 = time.perf_counter()
    try:
        sdk = client.transport.sdk(client.transport.keyring.current())
        sdk.with_options(timeout=UPSTREAM_TIMEOUT_S).models.list(limit=1)
    except Exception as exc:  # noqa: BLE001 - any failure is the verdict
        return part(FAIL, f"{where} did not answer GET /v1/models: {_failed(exc)}", base_url=where)
    ms = round((time.perf_counter() - t0) * 1000, 1)
    status = WARN if ms > SLOW_UPSTREAM_MS else OK
    return part(status, f"{where} answered GET /v1/models in {ms:.0f} ms", base_url=where, latency_ms=ms)


def write_probe(engine) -> tuple[dict | None, BaseException | None]:
    """The one ledger round trip (its own probe row, never ``calls``): ``({"write_ms", "read_ms"}, None)`` or ``(None, fault)``."""
    from core.ledger.probe import round_trip

    try:
        return round_trip(engine), None
    except Exception as exc:  # noqa: BLE001 - a failed round trip is the verdict
        return None, exc


def ledger(client) -> dict:
    """Reachable, a timed write and read of the probe row, and the spool backlog."""
    if client.ledger is None:
        return part(WARN, "The ledger is off (TOLLGATE_LEDGER_URL=off): no usage is recorded.")
    h = client.ledger.health()
    detail = {"backend": h.get("backend"), "url": h.get("url"), "rows": h.get("rows"),
              "spool_pending": h.get("spool_pending", 0), "schema_version": h.get("schema_version")}
    if not h.get("ok"):
        return part(FAIL, f"The ledger database is unreachable ({h.get('last_error') or 'no answer'}); "
                    f"{detail['spool_pending']} record(s) wait in the spool.", **detail)
    timing, fault = write_probe(client.ledger.engine)
    if fault is not None:
        return part(FAIL, f"The ledger answered but a probe write failed ({type(fault).__name__}).", **detail)
    detail.update(timing)
    backlog = detail["spool_pending"]
    if backlog:
        return part(WARN, f"{backlog} record(s) wait in the spool for the database.", **detail)
    if timing["write_ms"] > SLOW_LEDGER_MS:
        return part(WARN, f"Slow ledger: a write took {timing['write_ms']:.0f} ms.", **detail)
    return part(OK, f"{detail['backend']}: write {timing['write_ms']:.1f} ms, read {timing['read_ms']:.1f} ms, "
                "spool empty", **detail)


def ledger_ready(led) -> str | None:
    """/readyz's ledger probe: None when the ledger opens (schema, spool replay) and takes the probe write, else why not."""
    if not led.open():  # unlike ``ledger``, retakes a recovered database at once
        return scrub(f"ledger unavailable: {led.last_error}")
    _, fault = write_probe(led.engine)
    if fault is None:
        return None
    first = str(fault).strip().splitlines()[0] if str(fault).strip() else ""
    return scrub(f"ledger not writable: {type(fault).__name__}: {first}"[:300])


def cache(client) -> dict:
    """Backend, entries and hit rate since this process started."""
    if client.cache is None:
        return part(WARN, "The response cache is off (TOLLGATE_CACHE=off): repeated prompts are paid again.",
                    backend="off")
    s = client.cache.stats()
    lookups = s.get("hits", 0) + s.get("misses", 0)
    rate = s["hits"] / lookups if lookups else None
    detail = {"backend": s.get("backend"), "entries": s.get("size"), "hits": s.get("hits", 0),
              "misses": s.get("misses", 0), "hit_rate": rate, "errors": s.get("errors", 0)}
    entries = "entries not counted" if s.get("size") is None else f"{s['size']} entries"
    shown = "no lookups yet" if rate is None else f"hit rate {rate:.0%} of {lookups} lookups"
    if detail["errors"]:
        return part(WARN, f"{detail['backend']} cache: {detail['errors']} backend error(s); calls went "
                    "through uncached.", **detail)
    return part(OK, f"{detail['backend']} cache: {entries}, {shown}", **detail)


def _share(remaining, limit) -> float | None:
    return None if not limit else max(0.0, float(remaining)) / float(limit)


def limiter(client) -> dict:
    """Headroom left: the local buckets and concurrency, and the server's last rate-limit headers."""
    snap = client.limiter.snapshot()
    local = {kind: _share(b["level"], b["capacity"]) for kind, b in snap["global"].items()
             if kind != "concurrency" and b}
    conc = snap["global"]["concurrency"]
    if conc["limit"]:
        local["concurrency"] = _share(conc["limit"] - conc["in_use"], conc["limit"])
    server = {family: _share(r["remaining"], r["limit"]) for family, r in snap["server"].items()
              if r.get("remaining") is not None and r.get("limit")}
    detail = {"local": local, "server": server, "server_reports": snap["server"]}
    exhausted = [f for f, v in server.items() if v == 0]
    if exhausted:
        return part(FAIL, f"The API reports no {', '.join(exhausted)} left until its reset.", **detail)
    low = [f"{k} {v:.0%}" for k, v in {**local, **{f"server {f}": v for f, v in server.items()}}.items()
           if v is not None and v < LOW_HEADROOM]
    if low:
        return part(WARN, "Little headroom left: " + ", ".join(low), **detail)
    tightest = min((v for v in [*local.values(), *server.values()] if v is not None), default=None)
    said = "no server report yet" if not server else f"server reports {min(server.values()):.0%} left"
    left = "no local limits set" if tightest is None else f"tightest limit {tightest:.0%} left"
    return part(OK, f"{left}; {said}", **detail)


def shared(client) -> dict:
    """Where limits, lock-outs and key failover live; with Redis, a PING and what runs degraded without it."""
    state = getattr(client.limiter, "shared_state", None)
    if state is None:
        return part(OK, "Limits are kept per process (TOLLGATE_LIMITS=memory): each replica admits the "
                    "full limits.", backend="memory", degraded={})
    why = state.probe()  # a success also recovers every part at once
    snap = state.snapshot()
    if why is None:
        return part(OK, "Redis answers: limits, lock-outs and key failover are shared by every replica.", **snap)
    return part(FAIL if state.failure == "closed" else WARN, f"degraded: {_degraded_effect(state)} ({why}).",
                **snap)


def _degraded_effect(state) -> str:
    if state.failure == "closed":
        return "Redis does not answer, so calls are refused (TOLLGATE_SHARED_STATE_FAILURE=closed)"
    return (f"Redis does not answer, so each process keeps 1/{state.replicas} of every limit "
            "(TOLLGATE_SHARED_STATE_FAILURE=open)")


def shared_degraded(client) -> str | None:
    """/readyz's shared-state probe: "degraded: …" while Redis does not answer, else None."""
    state = getattr(client.limiter, "shared_state", None)
    if state is None or state.probe() is None:
        return None
    return f"degraded: {_degraded_effect(state)}"


def breaker(client) -> dict:
    """Circuit state and, when open, the wall-clock time of the next probe call."""
    s = client.breaker.snapshot()
    nxt = None
    if s["next_probe_in_s"] is not None:
        nxt = client.clock.now().astimezone(UTC) + timedelta(seconds=s["next_probe_in_s"])
    detail = {"state": s["state"], "failures_in_window": s["failures_in_window"],
              "failure_threshold": s["failure_threshold"], "next_probe_at": nxt}
    if s["state"] == "open":
        return part(FAIL, f"Circuit open after {s['failure_threshold']} failures: calls are refused; next "
                    f"probe at {nxt:%H:%M:%S} UTC.", **detail)
    if s["state"] == "half_open":
        return part(WARN, "Circuit half-open: one probe call decides whether it closes.", **detail)
    return part(OK, f"Circuit closed ({s['failures_in_window']} of {s['failure_threshold']} failures "
                "in the window)", **detail)


def circuit_open(client) -> str | None:
    """/readyz's breaker probe: why calls are refused while the circuit is open (the ``breaker`` part's fail), else None."""
    s = client.breaker.snapshot()
    if s["state"] != "open":
        return None
    return f"circuit open: calls to the API are broken off for {s['next_probe_in_s'] or 0:.0f} s more"


def keys(client) -> dict:
    """Each key masked, with its source, age when known, and whether it is marked failing."""
    rows = [{k: v for k, v in row.items() if k != "since"} | {"failing_since": row["since"]}
            for row in client.transport.keyring.snapshot()]
    failing = [r["label"] for r in rows if r["failing"]]
    old = [r["label"] for r in rows if (r["age_days"] or 0) > MAX_KEY_AGE_DAYS]
    if client.demo:
        return part(OK, "Demo mode: the simulator's placeholder key.", keys=rows)
    if failing and len(failing) == len(rows):
        return part(FAIL, "Every API key is marked failing (401): set a valid key.", keys=rows)
    if failing:
        return part(WARN, f"Key(s) {', '.join(failing)} marked failing; calls use the next one.", keys=rows)
    if old:
        return part(WARN, f"Key(s) {', '.join(old)} older than {MAX_KEY_AGE_DAYS} days: rotate them.", keys=rows)
    return part(OK, f"{len(rows)} key(s), none failing", keys=rows)


def errors(client, user: str | None = None, n: int = 10) -> dict:
    """The ``n`` newest failed calls (only ``user``'s when given); recent ones make a warning."""
    from core.ledger.recent import recent_errors

    if client.ledger is None:
        return part(OK, "No ledger: failed calls are not recorded.", rows=[])
    try:
        rows = recent_errors(client.ledger.engine, n=n, user=user)
    except Exception as exc:  # noqa: BLE001 - the ledger part reports the outage itself
        return part(WARN, f"Recent errors unavailable ({type(exc).__name__}).", rows=[])
    since = naive_utc(client.clock.now()) - RECENT_WINDOW
    fresh = [r for r in rows if r["ts"] >= since]
    whose = "your" if user is not None else "all users'"
    if fresh:
        return part(WARN, f"{len(fresh)} of {whose} calls failed in the last hour "
                    f"(latest: {fresh[0]['error_code']}).", rows=rows)
    return part(OK, f"No failed calls in the last hour ({whose} calls).", rows=rows)


def stamp(client) -> datetime:
    """When the report was made (aware UTC, from the client's clock)."""
    return client.clock.now().astimezone(UTC)

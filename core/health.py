"""Health of everything a call depends on: API, cache, ledger (and its spool), breaker, limiter, keys."""

from __future__ import annotations

import time

from core.errors import TollgateError


def check_api(client) -> dict:
    """Ask the API for its model list (free); report latency or the typed error."""
    t0 = time.perf_counter()
    try:
        key = client.transport.keyring.current()
        client.transport.sdk(key).models.list(limit=1)
        return {"ok": True, "latency_ms": round((time.perf_counter() - t0) * 1000, 1),
                "base_url": client.base_url or "https://api.anthropic.com", "demo": client.demo}
    except Exception as exc:  # noqa: BLE001 - any failure is the report
        from core.errors import translate

        err = exc if isinstance(exc, TollgateError) else translate(exc)
        return {"ok": False, "error": err.to_dict(), "base_url": client.base_url, "demo": client.demo}


def check(client) -> dict:
    """The whole report; ``ok`` is False when the API or the ledger is down or the circuit is open."""
    from core.metrics import METRICS

    api = check_api(client)
    ledger = client.ledger.health() if client.ledger is not None else {"ok": True, "backend": "off"}
    cache = client.cache.stats() if client.cache is not None else {"backend": "off"}
    breaker = client.breaker.snapshot()
    report = {"api": api, "ledger": ledger, "cache": cache, "breaker": breaker,
              "limiter": client.limiter.snapshot(), "keys": client.transport.keyring.snapshot(),
              "metrics": METRICS.snapshot()}
    report["ok"] = bool(api["ok"] and ledger.get("ok", False) and breaker.get("state") != "open")
    return report

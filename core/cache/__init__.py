"""Response cache: keys for equivalent requests, and interchangeable backends.

``request_key`` + ``cacheable`` decide what may be shared; ``MemoryCache`` (one
process), ``SqlCache`` (the ledger database) and ``RedisCache`` implement the small
``ResponseCache`` interface. No backend ever raises from get/set: a cache must never
break a call.
"""

from __future__ import annotations

from core.cache.entry import CachedResponse, ResponseCache
from core.cache.keys import NEUTRAL_PARAMS, cacheable, canonical_request, request_key
from core.cache.memory import MemoryCache
from core.cache.redis_cache import RedisCache
from core.cache.sql import SqlCache
from core.clock import Clock
from core.errors import NotConfigured

KINDS = ("memory", "sql", "redis", "off")

__all__ = ["KINDS", "NEUTRAL_PARAMS", "CachedResponse", "MemoryCache", "RedisCache",
           "ResponseCache", "SqlCache", "build_cache", "cacheable", "canonical_request",
           "request_key"]


def build_cache(kind: str, *, engine=None, redis=None, max_entries: int = 1024,
                prefix: str = "tollgate:cache:", clock: Clock | None = None) -> ResponseCache | None:
    """The configured backend, or None for "off" (so the caller skips keys entirely).

    ``engine``: a SQLAlchemy engine (the ledger's) for "sql"; ``redis``: a URL or a
    client for "redis". Nothing connects here: backends connect on first use.
    """
    kind = (kind or "off").strip().lower()
    if kind == "off":
        return None
    if kind == "memory":
        return MemoryCache(max_entries=max_entries, clock=clock)
    if kind == "sql":
        if engine is None:
            raise NotConfigured("The SQL response cache needs the ledger database engine.")
        return SqlCache(engine, clock=clock)
    if kind == "redis":
        if not redis:
            raise NotConfigured("The Redis response cache needs a Redis URL "
                                "(e.g. redis://127.0.0.1:6379/0).")
        return RedisCache(redis, prefix=prefix, clock=clock)
    raise NotConfigured(f"Unknown response cache kind {kind!r}; choose one of {', '.join(KINDS)}.")

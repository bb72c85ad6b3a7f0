"""In-process response cache: LRU with a TTL, thread-safe, O(1) get and set."""

from __future__ import annotations

import threading
from collections import OrderedDict

from core.cache.entry import CachedResponse
from core.clock import Clock, SystemClock


class MemoryCache:
    """Up to ``max_entries`` answers, the least recently used evicted first.

    Expiry uses the injected clock's ``monotonic`` seconds, so wall-clock jumps never
    revive or kill entries; an expired entry is never returned (dropped when met).
    """

    backend = "memory"

    def __init__(self, max_entries: int = 1024, clock: Clock | None = None) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.max_entries = max_entries
        self._monotonic = (clock or SystemClock()).monotonic
        self._data: OrderedDict[str, tuple[float, CachedResponse]] = OrderedDict()
        self._lock = threading.Lock()
        self._hits = self._misses = self._evictions = 0

    def get(self, key: str) -> CachedResponse | None:
        now = self._monotonic()
        with self._lock:
            item = self._data.get(key)
            if item is not None:
                if item[0] > now:
                    self._data.move_to_end(key)
                    self._hits += 1
                    return item[1]
                del self._data[key]
            self._misses += 1
            return None

    def set(self, key: str, value: CachedResponse, ttl_s: float) -> None:
        if ttl_s <= 0:
            self.delete(key)
            return
        expires = self._monotonic() + ttl_s
        with self._lock:
            self._data[key] = (expires, value)
            self._data.move_to_end(key)
            while len(self._data) > self.max_entries:
                self._data.popitem(last=False)
                self._evictions += 1

    def delete(self, key: str) -> None:
        with self._lock:
            self._data.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._data)

    def stats(self) -> dict:
        with self._lock:
            return {"backend": self.backend, "hits": self._hits, "misses": self._misses,
                    "size": len(self._data), "max_entries": self.max_entries,
                    "evictions": self._evictions}

"""Rate limits shared by every replica: the in-process limiter's buckets and slots, kept in Redis.

Each call is checked and charged against every bucket (requests, input and output tokens per
minute; global and the caller's) and takes a concurrency slot in one Lua script, so two
replicas can never both take the last unit. Buckets refill continuously, like
``core.guards.buckets.TokenBucket``, on Redis's own clock (``TIME`` in the script), so the
replicas' clocks do not matter. A concurrency slot is a lease: a member of a sorted set
scored by its expiry, renewed every third of ``lease_s`` while the call runs; a replica that
dies stops renewing, and its slots free themselves within ``lease_s``. Redis errors are
raised to the caller (``core.guards.failover`` applies the failure mode).
"""

from __future__ import annotations

import logging
import math
import threading
import uuid
import weakref
from collections.abc import Callable, Mapping

from core.clock import Clock
from core.errors import RateLimited
from core.guards.limits import _FAMILIES, _KINDS, _NAMES, CONCURRENCY, LimitConfig, never_fits, server_reports
from core.guards.redis_scripts import ACQUIRE, RENEW, SETTLE, TIGHTEN
from core.observability import events

log = logging.getLogger(__name__)

_SLOT_RETRY_HINT_S = 1.0
_EPS = 1e-9


class SharedPermit:
    """An admitted call's reservation in Redis; ``settle`` corrects it, ``release`` frees its slot."""

    def __init__(self, limiter: RedisRateLimiter, charged: list[tuple[str, str, float]], slots: list[str],
                 slot: str, input_tokens: int, max_tokens: int) -> None:
        self._limiter, self._charged, self.slots, self.slot = limiter, charged, slots, slot
        self._input, self._output = input_tokens, max_tokens
        self._pending = {"input_tokens": 0, "output_tokens": 0}  # settled, not yet sent (tokens)
        self._released = False

    def settle(self, input_tokens: int, output_tokens: int) -> None:
        """Correct the reservation to the real counts; never raises.

        While the slot is held the correction waits for ``release`` (the two share one round trip;
        every call path releases right after settling); after it, it is sent at once.
        """
        self._pending["input_tokens"] += input_tokens - self._input
        self._pending["output_tokens"] += output_tokens - self._output
        self._input, self._output = input_tokens, output_tokens
        if self._released:
            self._flush(free=False)

    def release(self) -> None:
        """Free the concurrency slot (and send a pending correction); safe to call more than once; never raises."""
        if self._released:
            return
        self._released = True
        self._limiter._forget(self)
        self._flush(free=True)

    def _flush(self, *, free: bool) -> None:
        moves = [(key, cap, self._pending[kind]) for kind, key, cap in self._charged if self._pending.get(kind)]
        self._pending = {"input_tokens": 0, "output_tokens": 0}
        slots = self.slots if free else []
        if moves or slots:
            self._limiter._quietly("settle", lambda: self._limiter._settle(moves, slots, self.slot))

    @property
    def released(self) -> bool:
        return self._released

    def __enter__(self) -> SharedPermit:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


class RedisRateLimiter:
    """The ``RateLimiter`` interface over Redis; ``clock`` times waits (s), and with ``use_clock_time`` (tests
    on a fake clock) its monotonic time also replaces Redis TIME in the scripts."""

    def __init__(self, config: LimitConfig, redis_client, *, sleep: Callable[[float], None], clock: Clock,
                 prefix: str = "tollgate:", lease_s: float = 30.0, use_clock_time: bool = False,
                 poll_s: float = 0.02, on_error: Callable[[str, BaseException], None] | None = None,
                 heartbeat: bool = True) -> None:
        if not (math.isfinite(lease_s) and lease_s > 0):
            raise ValueError(f"lease_s must be a positive number, not {lease_s!r}")
        self._config, self._r, self._sleep, self._clock = config, redis_client, sleep, clock
        self._prefix, self.lease_s, self._poll_s = prefix + "lim:", lease_s, poll_s
        self._use_clock = use_clock_time
        self._on_error = on_error
        self._scripts = {name: redis_client.register_script(src) for name, src in
                         (("acquire", ACQUIRE), ("settle", SETTLE), ("tighten", TIGHTEN), ("renew", RENEW))}
        # Weakly: a permit nobody can release any more (its call collected) stops being renewed and expires.
        self._held: weakref.WeakSet[SharedPermit] = weakref.WeakSet()
        self._held_lock = threading.Lock()
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None
        self._heartbeat = heartbeat
        self._server: dict[str, dict] = {}

    @property
    def config(self) -> LimitConfig:
        return self._config

    def _now(self) -> str:
        return repr(self._clock.monotonic()) if self._use_clock else ""

    def _key(self, user: str | None, kind: str) -> str:
        return f"{self._prefix}g:{kind}" if user is None else f"{self._prefix}u:{user}:{kind}"

    def _plan(self, user: str, amounts: dict[str, int]):
        """The buckets (kind, key, capacity or -1, amount, owner) and slot sets (key, limit, owner) of a call."""
        buckets, slots = [], []
        for owner, spec in ((None, self._config.global_), (user, self._config.per_user)):
            for kind, limit in spec.per_minute().items():
                if limit is None and owner is not None:
                    continue  # only global buckets may be created by the server's headers
                if limit is not None and amounts[kind] > limit:
                    raise never_fits(kind, limit, amounts[kind], owner)
                buckets.append((kind, self._key(owner, kind), -1.0 if limit is None else float(limit),
                                amounts[kind], owner))
            if spec.concurrency is not None:
                slots.append((self._key(owner, "slots"), spec.concurrency, owner))
        return buckets, slots

    def acquire(self, user: str, input_tokens: int, max_tokens: int) -> SharedPermit:
        """Admit one call, waiting up to ``max_wait_s`` in total, or raise RateLimited (Redis errors raise)."""
        if input_tokens < 0 or max_tokens < 0:
            raise ValueError("token counts cannot be negative")
        start = self._clock.monotonic()
        amounts = {"requests": 1, "input_tokens": input_tokens, "output_tokens": max_tokens}
        buckets, slots = self._plan(user, amounts)
        slot = uuid.uuid4().hex
        keys = [b[1] for b in buckets] + [s[0] for s in slots]
        waited: list[str] = []
        try:
            while True:
                args = [len(buckets), len(slots), self._now(), slot, self.lease_s]
                args += [x for b in buckets for x in (b[2], b[3])] + [s[1] for s in slots]
                out = [x.decode() if isinstance(x, bytes) else str(x)
                       for x in self._scripts["acquire"](keys=keys, args=args)]
                if out[0] == "ok":
                    break
                if out[0] == "never":
                    kind, _, _, amount, owner = buckets[int(out[1]) - 1]
                    raise never_fits(kind, float(out[2]), amount, owner)
                binding, wait, busy = int(out[1]), float(out[2]), int(out[3])
                left = self._config.max_wait_s - (self._clock.monotonic() - start)
                if binding and wait > left + _EPS:
                    kind, owner = buckets[binding - 1][0], buckets[binding - 1][4]
                    raise RateLimited(_NAMES[kind], retry_after_s=wait, user=owner)
                if not busy:
                    waited[:] = [_NAMES[buckets[binding - 1][0]]]
                    self._sleep(wait)
                elif left <= _EPS:
                    raise RateLimited(CONCURRENCY, retry_after_s=max(wait, _SLOT_RETRY_HINT_S),
                                      user=slots[busy - 1][2])
                else:
                    waited[:] = [CONCURRENCY]
                    self._sleep(min(max(wait, self._poll_s), left))
        except RateLimited as err:
            events.limiter_rejected(user, err.limit, err.retry_after_s)
            raise
        if waited:
            events.limiter_waited(user, self._clock.monotonic() - start, waited[-1])
        permit = SharedPermit(self, [(b[0], b[1], b[2]) for b in buckets], [s[0] for s in slots], slot,
                              input_tokens, max_tokens)
        self._hold(permit)
        return permit

    # --- settling, releasing and renewing (called by permits and the heartbeat) ---------

    def _settle(self, moves: list[tuple[str, float, int]], slots: list[str], slot: str) -> None:
        self._scripts["settle"](keys=[m[0] for m in moves] + slots,
                                args=[self._now(), len(moves), slot, *[x for m in moves for x in (m[1], m[2])]])

    def _quietly(self, op: str, fn: Callable[[], object]) -> None:
        """Run a permit's Redis step; an error is logged and reported, never raised into a finished call."""
        try:
            fn()
        except Exception as exc:  # noqa: BLE001 - the call is over; the lease and refill repair what is lost
            log.warning("shared limiter could not %s a permit: %s", op, type(exc).__name__)
            if self._on_error is not None:
                self._on_error(op, exc)

    def _hold(self, permit: SharedPermit) -> None:
        with self._held_lock:
            self._held.add(permit)
            if permit.slots and self._heartbeat and (self._beat is None or not self._beat.is_alive()):
                self._beat = threading.Thread(target=self._beat_loop, name="tollgate-lease-heartbeat",
                                              daemon=True)
                self._beat.start()

    def _forget(self, permit: SharedPermit) -> None:
        with self._held_lock:
            self._held.discard(permit)

    def renew(self) -> int:
        """Extend the lease of every slot this process holds; returns how many permits were renewed."""
        with self._held_lock:
            held = list(self._held)
        by_key: dict[str, list[str]] = {}
        for p in held:
            for key in p.slots:  # a permit without slots has no lease to renew
                by_key.setdefault(key, []).append(p.slot)
        for key, ids in by_key.items():
            self._scripts["renew"](keys=[key], args=[self._now(), self.lease_s, *ids])
        return len(held)

    def _beat_loop(self) -> None:
        while not self._stop.wait(self.lease_s / 3):
            self._quietly("renew", self.renew)

    def close(self) -> None:
        self._stop.set()

    # --- the server's headers and the health page ----------------------------------------

    def observe_headers(self, headers: Mapping[str, str], user: str | None = None) -> None:
        """Tighten the shared global buckets to what the server reports (Redis errors raise)."""
        reports = server_reports(headers)
        keys, args = [], [self._now()]
        for family, kind in _FAMILIES.items():
            report = reports.get(family)
            if report is None:
                continue
            self._server[family] = report
            limit = self._config.global_.per_minute()[kind]
            keys.append(self._key(None, kind))
            args += [-1.0 if limit is None else float(limit),
                     -1.0 if report["limit"] is None else report["limit"],
                     -1.0 if report["remaining"] is None else report["remaining"]]
        if keys:
            self._scripts["tighten"](keys=keys, args=args)

    def snapshot(self) -> dict:
        """The shared buckets' capacity, level and refill, and slots in use (all replicas), for the health page."""
        if self._use_clock:
            now = self._clock.monotonic()
        else:
            sec, usec = self._r.time()
            now = sec + usec / 1e6
        pipe = self._r.pipeline(transaction=False)
        for kind in _KINDS:
            pipe.hmget(self._key(None, kind), "level", "t", "cap")
        pipe.zcount(self._key(None, "slots"), f"({now!r}", "+inf")  # leases not yet expired
        out = pipe.execute()
        snap: dict = {}
        for kind, (level, t, srv) in zip(_KINDS, out[:3], strict=True):
            cap = self._config.global_.per_minute()[kind]
            if srv is not None and (cap is None or float(srv) < cap):
                cap = float(srv)
            if cap is None:
                snap[kind] = None
                continue
            lvl = cap if level is None else min(cap, float(level) + max(0.0, now - float(t)) * cap / 60)
            snap[kind] = {"capacity": cap, "level": lvl, "refill_per_s": cap / 60}
        with self._held_lock:
            mine = len(self._held)
        snap["concurrency"] = {"limit": self._config.global_.concurrency, "in_use": int(out[3]),
                               "local_in_use": mine}
        server = {f: {**r, "reset": r["reset"].isoformat() if r["reset"] else None}
                  for f, r in self._server.items()}
        return {"max_wait_s": self._config.max_wait_s, "global": snap, "users": {}, "server": server,
                "backend": "redis", "lease_s": self.lease_s}

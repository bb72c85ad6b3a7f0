"""Tollgate keys for the gateway: issued per user, stored as SHA-256 hashes only, checked in constant time.

A key reads ``sk-tg-<id>_<secret>``: the 12-hex ``id`` is public (it names the key in lists, on
ledger rows and in ``key revoke``), the 43-character secret is 256 random bits that only the
holder has. The ``sk-`` start is what the log and trace scrubbing (core.observability.redact)
masks, so a key pasted into a prompt or an error never reaches a log line. Later a key is shown
only as ``sk-tg-…`` plus its last four characters.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update

from core.clock import Clock, SystemClock, naive_utc
from core.errors import InvalidApiKey, ValidationError
from core.ledger.schema import api_keys, calls

PREFIX = "sk-tg-"
_ID_LEN = 12
MAX_EXPIRES_DAYS = 3660
TOUCH_EVERY_S = 60.0  # last use is written at most this often per key: not one write per request


@dataclass(frozen=True)
class KeyInfo:
    """One key as stored (never the secret): who it belongs to and what it may do."""

    id: str
    user: str
    name: str | None
    last_four: str
    models: tuple[str, ...]  # empty: every model
    created_at: datetime  # naive UTC, as the ledger keeps time
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None = None

    @property
    def shown(self) -> str:
        """The key as it may be shown after it was created: prefix and last four."""
        return f"{PREFIX}…{self.last_four}"

    def allows(self, model: str) -> bool:
        return not self.models or model in self.models


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse(key: str) -> tuple[str, str] | None:
    """(id, secret) of a well-formed Tollgate key, else None."""
    if not isinstance(key, str) or not key.startswith(PREFIX):
        return None
    body = key[len(PREFIX):]
    key_id, sep, secret = body[:_ID_LEN], body[_ID_LEN:_ID_LEN + 1], body[_ID_LEN + 1:]
    if sep != "_" or len(secret) < 32 or not all(c in "0123456789abcdef" for c in key_id):
        return None
    return key_id, secret


def looks_like_key(token: str) -> bool:
    return isinstance(token, str) and token.startswith(PREFIX)


def _check_user(user) -> str:
    user = user.strip() if isinstance(user, str) else ""
    if not user or user == "*" or len(user) > 200 or not user.isprintable():
        raise ValidationError('--user must be 1 to 200 printable characters, and not "*".', field="user")
    return user


def _info(row) -> KeyInfo:
    m = row._mapping
    return KeyInfo(id=m["id"], user=m["user_id"], name=m["name"], last_four=m["last_four"],
                   models=tuple(p for p in (m["models"] or "").split(",") if p),
                   created_at=m["created_at"], expires_at=m["expires_at"], revoked_at=m["revoked_at"],
                   last_used_at=m["last_used_at"])


class KeyStore:
    """The ``api_keys`` table of the ledger database, with a short in-memory cache for request checks.

    ``cache_s``: how long a checked key is trusted without reading the table again (a key revoked
    by another process stops working within that time; one revoked here stops at once).
    """

    def __init__(self, engine, *, clock: Clock | None = None, cache_s: float = 5.0) -> None:
        self.engine, self.clock, self.cache_s = engine, clock or SystemClock(), cache_s
        self._cache: dict[str, tuple[float, str, KeyInfo]] = {}  # id -> (read at, digest, info)
        self._touched: dict[str, float] = {}
        self._lock = threading.Lock()

    def create(self, user: str, *, name: str | None = None, expires_days: int | None = None,
               models: tuple[str, ...] = (), by: str | None = None) -> tuple[KeyInfo, str]:
        """A new key for ``user``: its stored form and the key itself (shown once, never stored)."""
        user = _check_user(user)
        if expires_days is not None and not 1 <= expires_days <= MAX_EXPIRES_DAYS:
            raise ValidationError(f"--expires-days must be from 1 to {MAX_EXPIRES_DAYS}, got {expires_days}.",
                                  field="expires_days")
        if name is not None and (len(name) > 200 or not name.isprintable()):
            raise ValidationError("--name must be at most 200 printable characters.", field="name")
        key_id, secret = secrets.token_hex(_ID_LEN // 2), secrets.token_urlsafe(32)
        now = naive_utc(self.clock.now())
        expires = None if expires_days is None else now + timedelta(days=expires_days)
        models = tuple(dict.fromkeys(m.strip() for m in models if m and m.strip()))
        with self.engine.begin() as conn:
            conn.execute(api_keys.insert().values(
                id=key_id, user_id=user, name=name or None, secret_sha256=_digest(secret), last_four=secret[-4:],
                models=",".join(models) or None, created_at=now, created_by=by, expires_at=expires))
        info = KeyInfo(id=key_id, user=user, name=name or None, last_four=secret[-4:], models=models,
                       created_at=now, expires_at=expires, revoked_at=None)
        return info, f"{PREFIX}{key_id}_{secret}"

    def revoke(self, key_id: str) -> bool:
        """Revoke a key at once (False: no such key, or already revoked)."""
        with self.engine.begin() as conn:
            done = conn.execute(update(api_keys).where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
                                .values(revoked_at=naive_utc(self.clock.now()))).rowcount
        with self._lock:
            self._cache.pop(key_id, None)
        return bool(done)

    def get(self, key_id: str) -> KeyInfo | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(api_keys).where(api_keys.c.id == key_id)).first()
        return None if row is None else _info(row)

    def list(self) -> list[dict]:
        """Every key, newest first, with its last use and its spend (USD, from the ledger's calls)."""
        spend = (select(calls.c.api_key_id, func.coalesce(func.sum(calls.c.cost_usd), 0).label("spent_usd"),
                        func.count().label("calls"))
                 .where(calls.c.api_key_id.is_not(None)).group_by(calls.c.api_key_id).subquery())
        q = (select(api_keys, spend.c.spent_usd, spend.c.calls)
             .select_from(api_keys.outerjoin(spend, spend.c.api_key_id == api_keys.c.id))
             .order_by(api_keys.c.created_at.desc(), api_keys.c.id))
        now = naive_utc(self.clock.now())
        with self.engine.connect() as conn:
            rows = conn.execute(q).all()
        out = []
        for row in rows:
            info, m = _info(row), row._mapping
            out.append({"id": info.id, "key": info.shown, "user": info.user, "name": info.name,
                        "models": ",".join(info.models) or "(all)", "created": info.created_at,
                        "expires": info.expires_at, "last_used": info.last_used_at,
                        "status": _status(info, now), "calls": int(m["calls"] or 0),
                        "spent_usd": m["spent_usd"] if m["spent_usd"] is not None else 0})
        return out

    def fresh(self, key: str) -> bool:
        """True when ``verify(key)`` would answer from the cache, with no database read (a caller may skip a thread)."""
        parsed = parse(key)
        if parsed is None:
            return True  # refused without a read
        mono = self.clock.monotonic()
        with self._lock:
            cached, touched = self._cache.get(parsed[0]), self._touched.get(parsed[0])
        touch_due = touched is not None and mono - touched >= TOUCH_EVERY_S
        return cached is not None and mono - cached[0] <= self.cache_s and not touch_due

    def verify(self, key: str) -> KeyInfo:
        """The key's stored form, or InvalidApiKey (unknown, revoked or expired); the secret compared in constant time."""
        parsed = parse(key)
        if parsed is None:
            raise InvalidApiKey("the key is not a Tollgate key")
        key_id, secret = parsed
        mono = self.clock.monotonic()
        with self._lock:
            cached = self._cache.get(key_id)
        if cached is None or mono - cached[0] > self.cache_s:
            with self.engine.connect() as conn:
                row = conn.execute(select(api_keys).where(api_keys.c.id == key_id)).first()
            if row is None:
                # Compare anyway, so an unknown id takes as long as a wrong secret.
                hmac.compare_digest(_digest(secret), "0" * 64)
                raise InvalidApiKey("the key is not known")
            cached = (mono, row._mapping["secret_sha256"], _info(row))
            with self._lock:
                self._cache[key_id] = cached
        _, digest, info = cached
        if not hmac.compare_digest(_digest(secret), digest):
            raise InvalidApiKey("the key is not known")
        state = _status(info, naive_utc(self.clock.now()))
        if state != "active":
            raise InvalidApiKey(f"the key is {state}")
        self._touch(info.id, mono)
        return info

    def _touch(self, key_id: str, mono: float) -> None:
        """Note the key's last use, at most once a minute per key (a failure here never refuses the call)."""
        with self._lock:
            last = self._touched.get(key_id)
            if last is not None and mono - last < TOUCH_EVERY_S:
                return
            self._touched[key_id] = mono
        try:
            with self.engine.begin() as conn:
                conn.execute(update(api_keys).where(api_keys.c.id == key_id)
                             .values(last_used_at=naive_utc(self.clock.now())))
        except Exception:  # noqa: BLE001 - last use is a convenience; the call goes on
            pass


def _status(info: KeyInfo, now: datetime) -> str:
    if info.revoked_at is not None:
        return "revoked"
    if info.expires_at is not None and info.expires_at <= now:
        return "expired"
    return "active"

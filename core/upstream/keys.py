"""API keys: held so they never show, rotated on authentication failure, loaded from config.

An ``ApiKey``'s repr, str and format show only its label and a masked tail. A ``KeyRing``
hands out the first key not marked failing, so with ``[old, new]`` a 401 on ``old``
moves calls to ``new`` without downtime. ``load_keys`` merges every configured source
(readers in ``core.upstream.key_sources``) in precedence order and never quotes a value.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from core.clock import Clock, SystemClock
from core.errors import NotConfigured, scrub
from core.observability import events
from core.upstream import key_sources

log = logging.getLogger("tollgate.keys")

ANTHROPIC_PREFIX = "sk-ant-"
SHARED_PART = "key failover"
_SHARED_FAILING_S = 86_400  # a key nobody has retried for a day is forgotten as failing (s)


def mask(secret) -> str:
    """A display form that identifies a key without revealing it: 'sk-ant-…abcd'."""
    if not isinstance(secret, str) or len(secret) < 6:
        return "****"
    if any(unicodedata.category(ch)[0] in "CZ" for ch in secret[-4:]):
        return "****"  # odd characters in the tail: show nothing rather than garble
    if secret.startswith(ANTHROPIC_PREFIX) and len(secret) >= len(ANTHROPIC_PREFIX) + 12:
        return f"{ANTHROPIC_PREFIX}…{secret[-4:]}"
    if len(secret) >= 16:
        return f"…{secret[-4:]}"
    return f"…{secret[-2:]}"


@dataclass(frozen=True)
class ApiKey:
    """One API key; the secret is never part of repr, str or format."""

    label: str
    secret: str = field(repr=False)
    source: str = "explicit"  # where it was configured: st.secrets, env, file, aws
    created: datetime | None = field(default=None, compare=False)  # aware UTC, when known (key age)

    def __post_init__(self) -> None:
        if not isinstance(self.label, str) or not self.label:
            raise NotConfigured("An API key needs a non-empty label.")
        if check_secret(self.secret, f"key {scrub(self.label)!r}") != self.secret:
            raise NotConfigured(f"The API key in key {scrub(self.label)!r} has surrounding whitespace.")

    @property
    def masked(self) -> str:
        return mask(self.secret)

    def __repr__(self) -> str:
        return f"ApiKey(label={self.label!r}, masked={self.masked!r})"

    def __str__(self) -> str:
        return f"{self.label} ({self.masked})"

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)

    def __reduce__(self):
        # Pickling stays possible (multiprocessing) but goes through the checks again.
        return (ApiKey, (self.label, self.secret, self.source, self.created))


def check_secret(value, where: str) -> str:
    """The value stripped of surrounding whitespace, or NotConfigured that names only ``where``."""
    if not isinstance(value, str):
        raise NotConfigured(f"The API key in {where} must be a string, not {type(value).__name__}.")
    stripped = value.strip()
    if not stripped:
        raise NotConfigured(f"The API key in {where} is empty.")
    if any(ch.isspace() or unicodedata.category(ch) == "Cc" for ch in stripped):
        raise NotConfigured(f"The API key in {where} contains whitespace or a line break inside it; "
                            "a key is a single word.")
    return stripped


class KeyRing:
    """Thread-safe rotation: ``current()`` is the first key not marked failing."""

    def __init__(self, keys: list[ApiKey], clock: Clock | None = None, shared=None,
                 shared_refresh_s: float = 1.0) -> None:
        """``shared``: a ``core.guards.shared.SharedState`` (TOLLGATE_LIMITS=redis): a key marked failing by
        any replica is failing for all, seen within ``shared_refresh_s`` (the set is re-read at most that often)."""
        self._keys = list(keys)
        labels = [k.label for k in self._keys]
        if len(set(labels)) != len(labels):
            raise ValueError("KeyRing labels must be unique.")
        self._clock = clock or SystemClock()
        self._lock = threading.Lock()
        # label -> (monotonic, wall) of the latest failure; absent means healthy
        self._failing: dict[str, tuple[float, datetime]] = {}
        self._shared, self._refresh_s = shared, shared_refresh_s
        self._shared_seen: dict[str, float] = {}  # label -> epoch s it was marked failing (by any replica)
        self._shared_read_at: float | None = None

    def __repr__(self) -> str:
        return f"KeyRing({self.labels()!r})"

    def __len__(self) -> int:
        return len(self._keys)

    def labels(self) -> list[str]:
        return [k.label for k in self._keys]

    def _check(self, label: str) -> None:
        if label not in {k.label for k in self._keys}:
            raise KeyError(f"No API key labelled {label!r}.")

    def current(self) -> ApiKey:
        """The first healthy key; if every key failed, the one that failed longest ago."""
        with self._lock:
            if not self._keys:
                raise NotConfigured("No API key is configured. Set ANTHROPIC_API_KEY (or see the "
                                    "README for st.secrets, key files and AWS Secrets Manager).")
            if self._shared is None:  # the in-process path: no copy, no second lock
                for key in self._keys:
                    if key.label not in self._failing:
                        return key
                return min(self._keys, key=lambda k: self._failing[k.label][0])
        shared = self._shared_failing()
        with self._lock:
            failing = {label: at for label, (at, _) in self._failing.items()}
            for label, epoch in shared.items():  # another replica's mark, on this process's monotonic scale
                failing.setdefault(label, self._clock.monotonic() - (self._clock.now().timestamp() - epoch))
            for key in self._keys:
                if key.label not in failing:
                    return key
            return min(self._keys, key=lambda k: failing[k.label])

    def mark_failing(self, label: str) -> None:
        """Record an authentication failure on ``label``; later calls move to the next key."""
        self._check(label)
        with self._lock:
            self._failing[label] = (self._clock.monotonic(), self._clock.now())
            healthy = len(self._keys) - len(self._failing)
        self._share(label, failing=True)
        events.key_failing(label, healthy, len(self._keys))

    def mark_ok(self, label: str) -> None:
        """Record a success on ``label``: it is healthy again."""
        self._check(label)
        with self._lock:
            was_failing = self._failing.pop(label, None) is not None
            was_failing = self._shared_seen.pop(label, None) is not None or was_failing
        if was_failing:
            self._share(label, failing=False)
            log.info("API key %r is healthy again", label)

    # --- failover shared across replicas: a Redis hash of key fingerprints (never the secret) -----

    def _fingerprints(self) -> dict[str, str]:
        return {hashlib.sha256(k.secret.encode()).hexdigest()[:16]: k.label for k in self._keys}

    def _share(self, label: str, *, failing: bool) -> None:
        if self._shared is None:
            return
        key = self._shared.key("keys", "failing")
        fingerprint = next(f for f, lab in self._fingerprints().items() if lab == label)
        at = self._clock.now().timestamp()

        def write(r):
            if failing:
                r.pipeline(transaction=False).hset(key, fingerprint, repr(at)).expire(key, _SHARED_FAILING_S).execute()
            else:
                r.hdel(key, fingerprint)
        self._shared.run(SHARED_PART, write, lambda: None, refuse_when_closed=False)
        self._shared_read_at = None  # read the set afresh on the next call

    def _shared_failing(self) -> dict[str, float]:
        """Labels other replicas marked failing (epoch s), re-read at most every ``shared_refresh_s``."""
        if self._shared is None:
            return {}
        now = self._clock.monotonic()
        if self._shared_read_at is not None and now - self._shared_read_at < self._refresh_s:
            return self._shared_seen
        key = self._shared.key("keys", "failing")
        raw = self._shared.run(SHARED_PART, lambda r: r.hgetall(key), lambda: None, refuse_when_closed=False)
        if raw is not None:
            prints = self._fingerprints()
            self._shared_seen = {prints[f.decode()]: float(v) for f, v in raw.items() if f.decode() in prints}
        self._shared_read_at = now
        return self._shared_seen

    def snapshot(self) -> list[dict]:
        """Per key, for the health page: label, masked, source, failing, since (UTC), current, age."""
        shared = self._shared_failing()
        with self._lock:
            failing = dict(self._failing)
        for label, epoch in shared.items():
            failing.setdefault(label, (0.0, datetime.fromtimestamp(epoch, UTC)))
        try:
            current = self.current().label
        except NotConfigured:
            current = None
        now = self._clock.now()
        return [{"label": k.label, "masked": k.masked, "source": k.source,
                 "failing": k.label in failing,
                 "since": failing[k.label][1] if k.label in failing else None,
                 "current": k.label == current, "created": k.created,
                 "age_days": (now - k.created).days if k.created else None} for k in self._keys]


def load_keys(*, env: Mapping[str, str], secrets: Mapping | None = None, aws=None) -> list[ApiKey]:
    """Every configured key, in ring order: st.secrets, env, key file, AWS; identical secrets once.

    ``aws`` is an optional Secrets Manager client (anything with ``get_secret_value``) used
    instead of building one with boto3; it is consulted only when TOLLGATE_AWS_SECRET_ID is set.
    A label used by an earlier source is suffixed with the later source, e.g. 'primary@env'.
    """
    readers = [("st.secrets", lambda: key_sources.from_secrets(secrets)),
               ("env", lambda: key_sources.from_env(env)),
               ("file", lambda: key_sources.from_file(env)),
               ("aws", lambda: key_sources.from_aws(env, secrets, client=aws))]
    keys: list[ApiKey] = []
    seen_secrets: set[str] = set()
    labels: set[str] = set()
    dated = key_sources.created_dates(env, secrets)
    for source, read in readers:
        for label, raw, where, *known in read():  # AWS adds the secret version's CreatedDate
            secret = check_secret(raw, where)
            if secret in seen_secrets:
                log.debug("API key from %s is a duplicate; kept once", where)
                continue
            seen_secrets.add(secret)
            created = dated.get(label, known[0] if known else None)
            label = _unique(label, source, labels)
            labels.add(label)
            keys.append(ApiKey(label, secret, source, created))
    if keys:
        log.info("Loaded %d API key(s): %s", len(keys), ", ".join(str(k) for k in keys))
    return keys


def _unique(label: str, source: str, taken: set[str]) -> str:
    """``label``, or ``label@source`` (then a counter) when an earlier key has it."""
    if label not in taken:
        return label
    candidate, n = f"{label}@{source}", 2
    while candidate in taken:
        candidate, n = f"{label}@{source}{n}", n + 1
    return candidate

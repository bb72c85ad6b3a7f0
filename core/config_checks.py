"""Checks on every setting when the settings are built: a bad value is a ConfigError naming its variable.

A value that parses but cannot be meant (NaN, a negative wait, a 0 that would silently
mean "unlimited" or "fail every call", a database Tollgate does not support, a file that
is not there) is refused here, once, instead of surfacing later as a crash or a
misleading error on every call.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import re
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path

from core.errors import ConfigError

# Durations (seconds or days) where 0 would silently disable or break the feature: must be > 0.
POSITIVE = ("timeout_s", "connect_timeout_s", "retry_deadline_s", "breaker_window_s", "cache_ttl_s",
            "reservation_ttl_s", "cookie_expiry_days", "lease_s", "batch_poll_s",
            "batch_heartbeat_s", "idempotency_stale_s")
# (gateway_key_cache_s may be 0: every request reads the key again.)
# Durations and rates where 0 has a plain meaning (no wait, retry at once, instant): must be >= 0.
NON_NEGATIVE = ("backoff_base_s", "backoff_cap_s", "breaker_recovery_s", "limit_max_wait_s", "sim_ttft_s",
                "sim_tokens_per_s", "sim_batch_seconds", "unbudgeted_ttl_s", "gateway_key_cache_s",
                "rollup_refresh_s")
# Optional durations: unset (None) turns the feature off; a value must be > 0.
OPTIONAL_POSITIVE = ("stream_idle_timeout_s", "stream_timeout_s")
# Whole numbers >= 1 (0 log backups or bytes would silently mean "never rotate").
COUNTS = ("max_attempts", "breaker_failures", "max_prompt_chars", "cache_max_entries", "default_max_tokens",
          "log_file_max_bytes", "log_file_backups", "replicas",
          "gateway_max_body_bytes", "batch_workers", "batch_max_rows")
# Limits: empty (or "none") means no limit; 0 is refused rather than read as either "unlimited" or "nothing".
LIMITS = ("rpm", "input_tpm", "output_tpm", "concurrency", "user_rpm", "user_input_tpm", "user_output_tpm",
          "user_concurrency")
CHOICES = {"injection_mode": ("flag", "block", "off"), "log_format": ("json", "text"),
           "tracing": ("auto", "on", "off"), "cache": ("memory", "sql", "redis", "off"),
           "cache_scope": ("user", "shared"), "limits": ("memory", "redis"),
           "shared_state_failure": ("closed", "open")}
LEDGER_DIALECTS = ("duckdb", "postgresql")
# Each database's drivers (as a URL names them after "+"; "" is SQLAlchemy's default) and the module each needs.
LEDGER_DRIVERS = {"duckdb": {"": "duckdb_engine"},
                  "postgresql": {"": "psycopg2", "psycopg": "psycopg", "psycopg2": "psycopg2", "pg8000": "pg8000"}}
_URL_SCHEME = re.compile(r"^(?P<backend>[A-Za-z][A-Za-z0-9]*)(?:\+(?P<driver>[A-Za-z0-9_]+))?://")
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


def _shown(name: str, values: Mapping, raws: Mapping) -> str:
    """The value as the user wrote it (the raw text for a variable, the repr for an explicit argument)."""
    return repr(raws[name]) if name in raws else repr(values[name])


def _is_number(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float, Decimal))


def _is_int(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, int)


def check_values(values: Mapping, raws: Mapping[str, str], envs: Mapping[str, str]) -> None:
    """Raise ConfigError for the first setting in ``values`` (field name -> value) that cannot be used."""
    def fail(name: str, rule: str) -> None:
        raise ConfigError(envs[name], f"{rule}, got {_shown(name, values, raws)}")

    for name in POSITIVE:
        v = values[name]
        if not (_is_number(v) and math.isfinite(v) and v > 0):
            fail(name, "must be a finite number > 0")
    for name in NON_NEGATIVE:
        v = values[name]
        if not (_is_number(v) and math.isfinite(v) and v >= 0):
            fail(name, "must be a finite number ≥ 0")
    for name in OPTIONAL_POSITIVE:
        v = values[name]
        if v is not None and not (_is_number(v) and math.isfinite(v) and v > 0):
            fail(name, "must be a finite number > 0, or empty for none")
    for name in COUNTS:
        if not (_is_int(values[name]) and values[name] >= 1):
            fail(name, "must be a whole number ≥ 1")
    for name in LIMITS:
        v = values[name]
        if v is not None and not (_is_int(v) and v >= 1):
            fail(name, "must be a whole number ≥ 1, or empty for no limit")
    margin = values["estimate_margin"]
    if not (_is_number(margin) and Decimal(margin).is_finite() and Decimal(margin) >= 1):
        fail("estimate_margin", "must be a finite number ≥ 1 (it only ever adds headroom)")
    thresholds = values["budget_thresholds"]
    if not all(_is_int(t) and t >= 1 for t in thresholds):
        fail("budget_thresholds", "must be whole percentages ≥ 1, comma-separated")
    for name, allowed in CHOICES.items():
        if name in values and values[name] not in allowed:
            fail(name, f"must be one of {', '.join(allowed)}")
    level = values["log_level"]
    if not (isinstance(level, str) and level.upper() in logging.getLevelNamesMapping()):
        fail("log_level", "must be a logging level (DEBUG, INFO, WARNING, ERROR or CRITICAL)")
    _check_zone(values, fail)
    _check_ledger_url(values, envs)
    if "redis" in (values["cache"], values["limits"]) and not str(values["redis_url"]).startswith(REDIS_SCHEMES):
        # the value is not quoted: a Redis URL may carry a password
        raise ConfigError(envs["redis_url"], "must be a redis://, rediss:// or unix:// URL")
    _check_gateway(values, envs)
    for name, optional in (("pricing_file", False), ("budget_file", True)):
        path = values[name]
        if path is None and optional:
            continue
        if not (isinstance(path, str | Path) and _is_file(path)):
            fail(name, "must name a file that exists")


def _is_file(path: str | Path) -> bool:
    """Path.is_file, but False for names the OS refuses outright (too long, NUL, undecodable)."""
    try:
        return Path(path).is_file()
    except (OSError, ValueError):
        return False


def _check_gateway(values: Mapping, envs: Mapping[str, str]) -> None:
    """A JWT secret long enough to resist guessing, and http(s) URLs for the JWKS and the CLI's gateway."""
    from core.config_model import reveal

    secret = reveal(values.get("jwt_secret"))
    if secret is not None and len(secret) < 32:  # the value is a secret: never quoted
        raise ConfigError(envs["jwt_secret"], "must be at least 32 characters (an HS256 key shorter than its "
                                              "hash can be guessed)")
    for name in ("jwt_jwks_url", "gateway_url"):
        url = values.get(name)
        if url is not None and not (isinstance(url, str) and url.startswith(("http://", "https://"))):
            raise ConfigError(envs[name], "must be an http:// or https:// URL")


def _check_zone(values: Mapping, fail) -> None:
    from zoneinfo import ZoneInfo

    try:
        ZoneInfo(values["budget_tz"])
    except Exception:  # noqa: BLE001 - ZoneInfoNotFoundError, ValueError, TypeError, OSError on odd names
        fail("budget_tz", "must be an IANA time zone such as UTC or Europe/Paris")


def _check_ledger_url(values: Mapping, envs: Mapping[str, str]) -> None:
    """The ledger URL names a supported database and an installed driver (the message masks any password).

    Parsed by its scheme alone, without importing SQLAlchemy: settings are built by commands
    (a refused ``ask``) that must not pay for it; the engine checks the rest when it is made.
    """
    url = values["ledger_url"]
    if url is None:
        return
    env = envs["ledger_url"]
    m = _URL_SCHEME.match(url) if isinstance(url, str) else None
    if m is None:
        # not quoted back: an unparsable URL cannot be masked reliably and may hold a password
        raise ConfigError(env, "must be a database URL (duckdb:///path or postgresql+psycopg://…) or off; "
                               "the value given is not one")
    backend, driver = m["backend"].lower(), (m["driver"] or "").lower()
    if backend not in LEDGER_DIALECTS:
        raise ConfigError(env, f"uses the database {backend!r}, which the ledger does not support "
                               f"(supported: {', '.join(LEDGER_DIALECTS)})")
    module = LEDGER_DRIVERS[backend].get(driver)
    if module is None or importlib.util.find_spec(module) is None:
        raise ConfigError(env, f"names the driver {driver or 'default'!r}, which is not installed "
                               "(use postgresql+psycopg://…)")

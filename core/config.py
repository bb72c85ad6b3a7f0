"""Tollgate's settings: one frozen pydantic-settings model, built once, every variable documented where declared.

Precedence, highest first: explicit arguments > ``st.secrets`` > the environment and
``.env`` > the defaults below (pydantic-settings sources, in that order). Each variable's text
is read by its parser (``core.config_parse``) and checked on construction (``core.config_checks``);
a bad one is a ConfigError naming its variable. Secrets are ``SecretStr`` (``reveal`` unwraps
them). API keys are loaded by ``core.upstream.keys`` from the same sources and held only as
``ApiKey`` objects.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import FrozenInstanceError
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, NoDecode, SettingsConfigDict

from core.config_checks import check_values
from core.config_model import MappingSource, SettingField, config_error, replace, reveal, secrets_flat  # noqa: F401 - re-exported
from core.config_model import fields as _fields
from core.config_parse import PARSE_RULES, as_bool, ints, opt_float, opt_int, opt_str, var
from core.errors import ConfigError
from core.paths import PACKAGE_DATA, SOURCE_ROOT, data_files, default_data_dir

ROOT = SOURCE_ROOT
DEFAULT_DATA_DIR = default_data_dir()
_DATA_DEFAULTS = data_files(DEFAULT_DATA_DIR)
DEFAULT_LEDGER_URL = _DATA_DEFAULTS["ledger_url"]


# The sources of the settings being built by load_settings (unset: a direct Settings() sees only its arguments).
_SOURCES: ContextVar[tuple[Mapping[str, str], Mapping[str, str]] | None] = ContextVar("_SOURCES", default=None)


class Settings(BaseSettings):
    """Every setting of the guarded client and console (durations in seconds, money in USD)."""

    model_config = SettingsConfigDict(frozen=True, extra="forbid", validate_by_name=True, validate_by_alias=True,
                              arbitrary_types_allowed=True, case_sensitive=True,
                              hide_input_in_errors=True)  # an error must never echo the cookie key or a token

    base_url: str | None = var("ANTHROPIC_BASE_URL", None,
        "API address. Unset and no key configured: demo mode against the built-in simulator.", opt_str)
    timeout_s: float = var("TOLLGATE_TIMEOUT_S", 60.0,
        "Total time allowed for one non-streamed attempt, however slowly the reply arrives.", float)
    stream_idle_timeout_s: float | None = var("TOLLGATE_STREAM_IDLE_TIMEOUT_S", None,
        "Longest wait for a stream's next event, the first included (unset: TOLLGATE_TIMEOUT_S).", opt_float)
    stream_timeout_s: float | None = var("TOLLGATE_STREAM_TIMEOUT_S", None,
        "Total time allowed for one streamed attempt (unset: no limit while events keep coming).", opt_float)
    connect_timeout_s: float = var("TOLLGATE_CONNECT_TIMEOUT_S", 10.0, "Time allowed to connect.", float)
    max_attempts: int = var("TOLLGATE_MAX_ATTEMPTS", 4, "Attempts per call, the first included.", int)
    retry_deadline_s: float = var("TOLLGATE_RETRY_DEADLINE_S", 120.0,
        "No retry starts after this long since the first attempt.", float)
    backoff_base_s: float = var("TOLLGATE_BACKOFF_BASE_S", 0.5, "First retry wait (doubles each time).", float)
    backoff_cap_s: float = var("TOLLGATE_BACKOFF_CAP_S", 8.0, "Longest retry wait without retry-after.", float)
    breaker_failures: int = var("TOLLGATE_BREAKER_FAILURES", 5,
        "System failures within the window that open the circuit.", int)
    breaker_window_s: float = var("TOLLGATE_BREAKER_WINDOW_S", 60.0, "Window for counting failures.", float)
    breaker_recovery_s: float = var("TOLLGATE_BREAKER_RECOVERY_S", 30.0,
        "How long the circuit stays open before one probe call.", float)
    rpm: int | None = var("TOLLGATE_RPM", None, "Requests per minute, all users (unset: no limit).", opt_int)
    input_tpm: int | None = var("TOLLGATE_INPUT_TPM", None, "Input tokens per minute, all users.", opt_int)
    output_tpm: int | None = var("TOLLGATE_OUTPUT_TPM", None, "Output tokens per minute, all users.", opt_int)
    concurrency: int | None = var("TOLLGATE_CONCURRENCY", 32, "Calls in flight at once, all users.", opt_int)
    user_rpm: int | None = var("TOLLGATE_USER_RPM", None, "Requests per minute per user.", opt_int)
    user_input_tpm: int | None = var("TOLLGATE_USER_INPUT_TPM", None, "Input tokens per minute per user.",
                                     opt_int)
    user_output_tpm: int | None = var("TOLLGATE_USER_OUTPUT_TPM", None, "Output tokens per minute per user.",
                                      opt_int)
    user_concurrency: int | None = var("TOLLGATE_USER_CONCURRENCY", 8, "Calls in flight per user.", opt_int)
    limit_max_wait_s: float = var("TOLLGATE_LIMIT_MAX_WAIT_S", 10.0,
        "How long a call may wait for the limiter before RateLimited.", float)
    max_prompt_chars: int = var("TOLLGATE_MAX_PROMPT_CHARS", 400_000, "Longest prompt accepted, in characters.",
                                int)
    injection_mode: str = var("TOLLGATE_INJECTION_MODE", "flag",
        "Prompt-injection screen: flag (record, let through), block, or off.")
    public_url: str | None = var("TOLLGATE_PUBLIC_URL", None,
        "Address users open the console at (e.g. https://tollgate.example.com); the checklist checks HTTPS.",
        opt_str)
    key_created: str | None = var("TOLLGATE_KEY_CREATED", None,
        "When the API keys were created, for the 90-day age check: YYYY-MM-DD, or label=YYYY-MM-DD,…",
        opt_str)
    cache: str = var("TOLLGATE_CACHE", "memory", "Response cache: memory, sql (ledger database), redis, off.")
    cache_ttl_s: float = var("TOLLGATE_CACHE_TTL_S", 3600.0, "How long a cached answer is reused.", float)
    cache_max_entries: int = var("TOLLGATE_CACHE_MAX_ENTRIES", 1024, "In-memory cache size.", int)
    cache_scope: str = var("TOLLGATE_CACHE_SCOPE", "user",
        "Who may share a cached answer: user (only the user who asked) or shared (anyone: one user's "
        "prompt and answer can be served to another).")
    cache_sampling: bool = var("TOLLGATE_CACHE_SAMPLING", False,
        "Also cache calls with temperature > 0 (off: they differ each time).", as_bool)
    redis_url: str = var("TOLLGATE_REDIS_URL", "redis://127.0.0.1:6379/0",
        "Redis for TOLLGATE_CACHE=redis and TOLLGATE_LIMITS=redis.")
    # --- batch runs (issue 15; core.batches) ---
    batch_broker_url: str | None = var("TOLLGATE_BATCH_BROKER_URL", None,
        "Dramatiq broker for now-mode batch rows: redis://… or amqp://… (workers: python -m core worker); "
        "unset: worker threads inside the console or CLI process.", opt_str)
    batch_queue: str = var("TOLLGATE_BATCH_QUEUE", "tollgate-batch", "The broker's queue name for batch rows.")
    batch_workers: int = var("TOLLGATE_BATCH_WORKERS", 4, "Rows of a now-mode run in flight at once, per process.", int)
    batch_max_rows: int = var("TOLLGATE_BATCH_MAX_ROWS", 10_000, "Most rows one batch run may have.", int)
    batch_poll_s: float = var("TOLLGATE_BATCH_POLL_S", 10.0, "How often batch-mode runs are polled upstream.", float)
    idempotency_stale_s: float = var("TOLLGATE_IDEMPOTENCY_STALE_S", 600.0,
        "A keyed call still unanswered after this long belonged to a process that died: another may send it.",
        float)
    batch_heartbeat_s: float = var("TOLLGATE_BATCH_HEARTBEAT_S", 60.0,
        "Redis broker: a worker silent this long is dead, and its unfinished rows go to another.", float)
    # --- state shared across replicas (issue 14; core.guards.shared) ---
    limits: str = var("TOLLGATE_LIMITS", "memory",
        "Where rate limits, login lock-outs and key failover live: memory (this process) or redis "
        "(TOLLGATE_REDIS_URL, shared by every replica).")
    shared_state_failure: str = var("TOLLGATE_SHARED_STATE_FAILURE", "closed",
        "With TOLLGATE_LIMITS=redis and Redis unreachable: closed (refuse, shared_state_unavailable) or open "
        "(this process's own limits, each divided by TOLLGATE_REPLICAS).")
    replicas: int = var("TOLLGATE_REPLICAS", 1,
        "How many processes share the limits; in open failure mode each keeps 1/N of every limit.", int)
    shared_breaker: bool = var("TOLLGATE_SHARED_BREAKER", False,
        "With TOLLGATE_LIMITS=redis, a circuit opened by one replica is open for all of them.", as_bool)
    redis_prefix: str = var("TOLLGATE_REDIS_PREFIX", "tollgate:",
        "Prefix of every key Tollgate keeps in Redis for shared state (deployments sharing a database differ).")
    lease_s: float = var("TOLLGATE_LEASE_S", 30.0,
        "Concurrency slot lease in Redis: renewed while the call runs, freed this long after a replica dies.",
        float)
    data_dir: str = var("TOLLGATE_DATA_DIR", str(DEFAULT_DATA_DIR),
        "Folder of the ledger, spool, journal and users file when their own settings are unset "
        "(default: data/ of a source checkout, else $XDG_DATA_HOME/tollgate or ~/.local/share/tollgate).")
    ledger_url: str | None = var("TOLLGATE_LEDGER_URL", DEFAULT_LEDGER_URL,
        "Usage ledger (SQLAlchemy URL: duckdb:///file or postgresql+psycopg://…); 'off' disables it.",
        opt_str)
    spool_path: str = var("TOLLGATE_SPOOL_PATH", _DATA_DEFAULTS["spool_path"],
        "Append-only file that holds records while the ledger is unreachable.")
    journal_sync_ms: float = var("TOLLGATE_JOURNAL_SYNC_MS", 0.0,
        "0: a cache hit or refusal is fsync'd to the journal before it returns; N > 0: written before it "
        "returns (survives a killed process), fsync'd within N ms (an OS crash may lose those).", float)
    rollup_refresh_s: float = var("TOLLGATE_ROLLUP_REFRESH_S", 60.0, "Seconds between the folds of new ledger "
        "rows into the rollups the usage figures and budget checks read, by the console and each `core serve` "
        "replica (core/ledger/rollup.py); 0: never (figures stay exact, slower).", float)
    store_prompts: bool = var("TOLLGATE_STORE_PROMPTS", False,
        "Store prompt text in the ledger (off: only its SHA-256).", as_bool)
    budget_file: str | None = var("TOLLGATE_BUDGET_FILE", None, "TOML file of monthly budgets to load.",
                                  opt_str)
    budget_tz: str = var("TOLLGATE_BUDGET_TZ", "UTC", "Time zone whose calendar months budgets follow.")
    budget_thresholds: Annotated[tuple[int, ...], NoDecode] = var("TOLLGATE_BUDGET_THRESHOLDS", (50, 80, 100),
        "Budget alert thresholds, percent.", ints)
    budget_webhook_url: SecretStr | None = var("TOLLGATE_BUDGET_WEBHOOK_URL", None,
        "URL that receives budget alerts as JSON.", opt_str, secret=True)
    durable_holds: bool = var("TOLLGATE_DURABLE_HOLDS", False,
        "PostgreSQL: 1 commits each budget hold with synchronous_commit (waits for the disk); off, a hold's "
        "commit does not wait, and a server crash may lose the holds of calls in flight (see the README).", as_bool)
    reservation_ttl_s: float = var("TOLLGATE_RESERVATION_TTL_S", 3600.0,
        "How long a budget hold outlives a crashed process; longer than any call (long streams).", float)
    estimate_margin: Decimal = var("TOLLGATE_ESTIMATE_MARGIN", Decimal("1.25"),
        "Safety factor on Anthropic's count_tokens figure, used for a budget when the byte bound does not fit.",
        Decimal)
    unbudgeted_ttl_s: float = var("TOLLGATE_UNBUDGETED_TTL_S", 30.0,
        "How long a process trusts its memory that a user has no budget, for calls while the ledger is down.",
        float)
    pricing_file: str = var("TOLLGATE_PRICING_FILE", str(PACKAGE_DATA / "pricing.toml"),
        "Price table (USD per million tokens, dated).")
    default_model: str = var("TOLLGATE_DEFAULT_MODEL", "claude-sonnet-5-5", "Model when none is given.")
    default_max_tokens: int = var("TOLLGATE_DEFAULT_MAX_TOKENS", 1024, "max_tokens when none is given.", int)
    tier_simple: str = var("TOLLGATE_TIER_SIMPLE", "claude-haiku-5-5", "Model for the 'simple' tier.")
    tier_balanced: str = var("TOLLGATE_TIER_BALANCED", "claude-sonnet-5-5", "Model for the 'balanced' tier.")
    tier_complex: str = var("TOLLGATE_TIER_COMPLEX", "claude-opus-5-5", "Model for the 'complex' tier.")
    environment: str = var("TOLLGATE_ENVIRONMENT", "development",
        "development, staging or production. Production refuses a missing or example cookie key.")
    users_file: str = var("TOLLGATE_USERS_FILE", _DATA_DEFAULTS["users_file"],
        "Console accounts: usernames, bcrypt password hashes, roles (python -m core user …).")
    cookie_key: SecretStr | None = var("TOLLGATE_COOKIE_KEY", None,
        "Secret that signs the console's login cookie (32+ characters; from st.secrets or env).", opt_str,
        secret=True)
    cookie_expiry_days: float = var("TOLLGATE_COOKIE_EXPIRY_DAYS", 1.0,
        "How long a console login lasts without logging in again, days.", float)
    demo_accounts: bool = var("TOLLGATE_DEMO_ACCOUNTS", True,
        "In demo mode with no users file, create the documented demo accounts.", as_bool)
    sim_ttft_s: float = var("TOLLGATE_SIM_TTFT_S", 0.25, "Demo simulator: time to first token.", float)
    sim_tokens_per_s: float = var("TOLLGATE_SIM_TOKENS_PER_S", 120.0, "Demo simulator: output speed.", float)
    sim_batch_seconds: float = var("TOLLGATE_SIM_BATCH_SECONDS", 30.0,
                                   "Demo simulator: seconds a Message Batch stays in_progress before it ends.", float)
    log_level: str = var("TOLLGATE_LOG_LEVEL", "INFO", "Log level of the 'tollgate' logger.")
    log_format: str = var("TOLLGATE_LOG_FORMAT", "json",
        "Format of the log lines the console writes: json (one object a line) or text.")
    log_prompts: bool = var("TOLLGATE_LOG_PROMPTS", False,
        "Put prompts and replies in call logs, redacted (keys, emails, phones, cards masked).", as_bool)
    log_file: str | None = var("TOLLGATE_LOG_FILE", None, "Also write logs to this file, rotated by size.",
                               opt_str)
    log_file_max_bytes: int = var("TOLLGATE_LOG_FILE_MAX_BYTES", 10_000_000,
        "Size at which the log file is rotated, in bytes.", int)
    log_file_backups: int = var("TOLLGATE_LOG_FILE_BACKUPS", 5, "Rotated log files kept.", int)
    metrics_per_user: bool = var("TOLLGATE_METRICS_PER_USER", False,
        "Prometheus: also count cost by user (one series per user: mind the cardinality).", as_bool)
    metrics_budget_gauge: bool = var("TOLLGATE_METRICS_BUDGET_GAUGE", False,
        "Prometheus: each budgeted user's share of their monthly budget used (one ledger query a scrape).",
        as_bool)
    tracing: str = var("TOLLGATE_TRACING", "auto",
        "OpenTelemetry spans per call: auto (when an SDK tracer provider is configured), on, or off.")
    # --- console exposure (issue 10: sessions and probes) ---
    metrics_token: SecretStr | None = var("TOLLGATE_METRICS_TOKEN", None,
        "Bearer token /metrics requires (Authorization: Bearer …); unset: /metrics is open.", opt_str,
        secret=True)
    address: str | None = var("TOLLGATE_ADDRESS", None,
        "Address `make run` binds. Unset: 127.0.0.1 in demo mode (its password is on the login page), "
        "else 0.0.0.0.", opt_str)
    sentry_dsn: SecretStr | None = var("SENTRY_DSN", None,
        "Send script errors and failed calls to Sentry (prompts never included).", opt_str, secret=True)
    # --- the gateway (issue 13: Anthropic-compatible /v1 routes, Tollgate keys, JWTs) ---
    gateway_max_body_bytes: int = var("TOLLGATE_GATEWAY_MAX_BODY_BYTES", 32_000_000,
        "Largest request body the gateway reads, in bytes (larger: 413), as Anthropic's 32 MB.", int)
    gateway_cors_origins: str | None = var("TOLLGATE_GATEWAY_CORS_ORIGINS", None,
        "Browser origins allowed to call the gateway, comma-separated (unset: CORS closed).", opt_str)
    gateway_key_cache_s: float = var("TOLLGATE_GATEWAY_KEY_CACHE_S", 5.0,
        "How long the gateway trusts a checked key before reading it again (a key revoked elsewhere "
        "stops within this time; one revoked in the same process stops at once).", float)
    gateway_url: str | None = var("TOLLGATE_GATEWAY_URL", None,
        "A running gateway the CLI's ask, usage and budget show go through (with TOLLGATE_GATEWAY_KEY).",
        opt_str)
    gateway_key: SecretStr | None = var("TOLLGATE_GATEWAY_KEY", None,
        "The Tollgate key (sk-tg-…) the CLI sends to TOLLGATE_GATEWAY_URL.", opt_str, secret=True)
    jwt_secret: SecretStr | None = var("TOLLGATE_JWT_SECRET", None,
        "Shared secret of HS256 tokens the gateway accepts (32+ characters; unset: no HS256).", opt_str,
        secret=True)
    jwt_jwks_url: str | None = var("TOLLGATE_JWT_JWKS_URL", None,
        "JWKS URL of the identity provider whose RS256/ES256 tokens the gateway accepts (unset: none).",
        opt_str)
    jwt_audience: str | None = var("TOLLGATE_JWT_AUDIENCE", None,
        "The aud a token must carry (unset: tokens with an aud are refused).", opt_str)
    jwt_issuer: str | None = var("TOLLGATE_JWT_ISSUER", None, "The iss a token must carry (unset: not checked).",
                                 opt_str)
    jwt_user_claim: str = var("TOLLGATE_JWT_USER_CLAIM", "sub", "The token claim that names the Tollgate user.")
    keys: tuple = Field(default=(), repr=False, json_schema_extra={"doc": "API keys (core.upstream.keys); never shown"})

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings,
                                   file_secret_settings):
        """Explicit arguments > st.secrets > the environment over .env (as load_settings gathered them)."""
        sources = _SOURCES.get()
        if sources is None:
            return (init_settings,)
        secrets, environ = sources
        env = EnvSettingsSource(settings_cls, case_sensitive=True)
        env.env_vars = dict(environ)
        return init_settings, MappingSource(settings_cls, secrets), env

    @model_validator(mode="before")
    @classmethod
    def _parse_and_check(cls, data: Any) -> Any:
        """Parse each variable's text with its parser, then run every check (messages name the variable)."""
        data, raws, values = dict(data), {}, {}
        for f in fields(cls):
            name = f.metadata.get("env")
            if f.name in data:  # an explicit argument, taken as given (it outranks every source)
                values[f.name] = data.pop(f.name)
                data.pop(name, None)
            elif name and name in data:
                raw = data.pop(name)
                if not isinstance(raw, str):  # st.secrets numbers and booleans arrive as their text
                    raw = str(raw)
                try:
                    values[f.name] = f.metadata["parse"](raw)
                except (ValueError, ArithmeticError, TypeError) as exc:
                    rule = PARSE_RULES.get(f.metadata["parse"])
                    raise ConfigError(name, f"{rule}, got {raw!r}" if rule else f"cannot be read: {exc}") from None
                raws[f.name] = raw
        if data:
            raise TypeError(f"unknown settings: {', '.join(sorted(map(str, data)))}")
        ledger = values.get("ledger_url", "")
        if isinstance(ledger, str) and ledger.lower() == "off":
            values["ledger_url"] = None
        # Data files left unset follow the data directory (TOLLGATE_DATA_DIR may come from any source).
        for name, default in data_files(values.get("data_dir", DEFAULT_DATA_DIR)).items():
            values.setdefault(name, default)
        declared = [f for f in fields(cls) if "env" in f.metadata]
        check_values({f.name: values.get(f.name, f.default) for f in declared}, raws,
                     {f.name: f.metadata["env"] for f in declared})
        return values

    def __init__(self, **values) -> None:
        """Build and check; a bad value raises its ConfigError (naming the variable), not pydantic's wrapper."""
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise config_error(exc, type(self)) from None

    def __setattr__(self, name: str, value) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}: settings are built once")

    @property
    def demo(self) -> bool:
        """True when no key is configured: calls go to the built-in simulator."""
        return not self.keys

    @property
    def tiers(self) -> dict[str, str]:
        return {"simple": self.tier_simple, "balanced": self.tier_balanced, "complex": self.tier_complex}


def fields(cls: type[Settings] | None = None) -> list[SettingField]:
    """Every declared setting of ``cls`` (default Settings) in declaration order."""
    return _fields(cls or Settings)


def environment(env: Mapping[str, str] | None = None, dotenv_path: str | Path | None = None) -> dict[str, str]:
    """The environment with ``.env`` underneath it (real variables win; os.environ is not changed)."""
    from dotenv import dotenv_values

    path = Path(dotenv_path) if dotenv_path else ROOT / ".env"
    merged = {k: v for k, v in dotenv_values(path).items() if v is not None} if path.exists() else {}
    merged.update(os.environ if env is None else env)
    return merged


def load_settings(*, env: Mapping[str, str] | None = None, secrets: Mapping | None = None,
                  dotenv_path: str | Path | None = None, load_keys: bool = True, **explicit) -> Settings:
    """Build the settings once: explicit > st.secrets > env/.env > defaults; bad values name the variable."""
    base = environment(env, dotenv_path)
    sources = _SOURCES.set((secrets_flat(secrets), base))
    try:
        settings = Settings(**explicit)
    finally:
        _SOURCES.reset(sources)
    if load_keys and "keys" not in explicit:
        from core.upstream.keys import load_keys as _load

        settings = replace(settings, keys=tuple(_load(env=base, secrets=secrets)))
    return settings


def bind_address(settings: Settings | None = None) -> str:
    """The address the console listens on: TOLLGATE_ADDRESS, else loopback in demo mode, else every interface."""
    settings = settings or load_settings()
    if settings.address:
        return settings.address
    return "127.0.0.1" if settings.demo else "0.0.0.0"


if __name__ == "__main__":  # `python -m core.config address`: what `make run` binds
    import sys

    if sys.argv[1:] == ["address"]:
        print(bind_address())

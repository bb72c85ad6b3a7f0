"""The production checklist: each item's why and fix, and a pure check against gathered ``Facts``.

A check returns ``(status, reason)`` with status ``pass``, ``warn``, ``fail``, or
``manual`` when no code can know (an admin ticks it; ``core.checklist.store``). Facts
are gathered from the running process by ``core.checklist.facts``; tests build them.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from ipaddress import ip_address
from urllib.parse import urlsplit

PASS, WARN, FAIL, MANUAL = "pass", "warn", "fail", "manual"
MAX_KEY_AGE_DAYS = 90
KEY_AGE_WARN_DAYS = 75  # time to plan the rotation
TIMEOUT_RANGE_S = (30.0, 60.0)
ENVIRONMENTS = ("development", "staging", "production")
_ENV_WORDS = {"development": ("dev", "development", "local"), "staging": ("staging", "stage", "stg"),
              "production": ("prod", "production", "live")}


@dataclass(frozen=True)
class Facts:
    """What the checks look at, gathered once per render (every field plain data)."""

    settings: object  # core.config.Settings
    now: datetime  # aware UTC
    findings: tuple = ()  # core.checklist.scan.Finding
    auth: dict | None = None  # core.accounts.users.auth_status(); None when login is not available
    budget_users: tuple[str, ...] | None = None  # users with a budget ("*": everyone); None: unknown
    log_level: int = 20
    log_handlers: bool = True
    forwarded_proto: str | None = None  # the X-Forwarded-Proto the console was reached with
    euid: int | None = None
    in_container: bool = False
    extra: dict = field(default_factory=dict)


Result = tuple[str, str]


@dataclass(frozen=True)
class Item:
    id: str
    title: str
    why: str
    fix: str
    check: Callable[[Facts], Result]


def _loopback(host: str | None) -> bool:
    if host in ("localhost", None, ""):
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


def key_source(f: Facts) -> Result:
    keys = f.settings.keys
    if not keys:
        return WARN, "No API key is configured: the console runs in demo mode against the simulator."
    inline = [k.label for k in keys if k.source == "explicit"]
    if inline:
        return FAIL, f"Key(s) {', '.join(inline)} were passed in code, not read from the environment or a secret store."
    return PASS, "Keys come from " + ", ".join(sorted({k.source for k in keys})) + "."


def no_key_in_repo(f: Facts) -> Result:
    tracked = [x for x in f.findings if x.tracked]
    local = [x for x in f.findings if not x.tracked]
    if tracked:
        return FAIL, "Key-shaped strings in tracked files: " + ", ".join(f"{x.path}:{x.line} ({x.masked})"
                                                                         for x in tracked) + "."
    if local:
        where = ", ".join(sorted({x.path for x in local}))
        status = FAIL if f.settings.environment == "production" else WARN
        return status, f"A key sits in a plain local file ({where}), untracked."
    return PASS, "No key-shaped string in the repository's files, .env or .streamlit/*.toml."


def key_age(f: Facts) -> Result:
    keys = f.settings.keys
    if not keys:
        return WARN, "No API key is configured (demo mode)."
    unknown = [k.label for k in keys if k.created is None]
    ages = {k.label: (f.now - k.created).days for k in keys if k.created is not None}
    old = [f"{label} ({days} d)" for label, days in ages.items() if days >= MAX_KEY_AGE_DAYS]
    if old:
        return FAIL, f"Older than {MAX_KEY_AGE_DAYS} days: {', '.join(old)}."
    if unknown:
        return MANUAL, (f"Creation date unknown for {', '.join(unknown)} (set TOLLGATE_KEY_CREATED); "
                        "confirm their age in the Anthropic Console.")
    near = [f"{label} ({days} d)" for label, days in ages.items() if days >= KEY_AGE_WARN_DAYS]
    if near:
        return WARN, f"Due for rotation soon: {', '.join(near)}."
    return PASS, "Every key is younger than 90 days (oldest: " + f"{max(ages.values())} d)."


def separate_keys(f: Facts) -> Result:
    env = f.settings.environment
    if env not in ENVIRONMENTS:
        return FAIL, f"TOLLGATE_ENVIRONMENT is {env!r}; expected development, staging or production."
    if not f.settings.keys:
        return WARN, "No API key is configured (demo mode)."
    others = [w for e, words in _ENV_WORDS.items() if e != env for w in words]
    foreign = [k.label for k in f.settings.keys if set(re.split(r"[-_.@]", k.label)) & set(others)]
    if foreign:
        return FAIL, f"This {env} deployment holds key(s) labelled for another environment: {', '.join(foreign)}."
    return MANUAL, (f"This deployment says it is {env}; only a person can confirm that no other "
                    "environment uses the same key.")


def retries(f: Facts) -> Result:
    s = f.settings
    if s.max_attempts <= 1:
        return FAIL, f"TOLLGATE_MAX_ATTEMPTS={s.max_attempts}: a transient 529 or timeout fails the call."
    if s.backoff_base_s <= 0:
        return FAIL, "TOLLGATE_BACKOFF_BASE_S is 0: retries hammer an overloaded API."
    if s.max_attempts > 6:
        return WARN, f"TOLLGATE_MAX_ATTEMPTS={s.max_attempts}: retry storms keep an outage going."
    return PASS, (f"{s.max_attempts} attempts, exponential backoff from {s.backoff_base_s:g} s "
                  f"(cap {s.backoff_cap_s:g} s), jittered.")


def timeout(f: Facts) -> Result:
    t, (lo, hi) = f.settings.timeout_s, TIMEOUT_RANGE_S
    if lo <= t <= hi:
        return PASS, f"TOLLGATE_TIMEOUT_S={t:g} s."
    if t < 5 or t > 600:
        return FAIL, f"TOLLGATE_TIMEOUT_S={t:g} s is far outside {lo:g}-{hi:g} s."
    return WARN, f"TOLLGATE_TIMEOUT_S={t:g} s is outside {lo:g}-{hi:g} s."


def cost_alerts(f: Facts) -> Result:
    s = f.settings
    if not s.ledger_url:
        return FAIL, "The ledger is off: usage is neither recorded nor monitored."
    if not s.budget_thresholds:
        return FAIL, "TOLLGATE_BUDGET_THRESHOLDS is empty: no budget alert can fire."
    if not s.budget_webhook_url:
        return WARN, ("Usage is recorded and alerts fire at " + "/".join(map(str, s.budget_thresholds)) +
                      " %, but only into the ledger: no webhook tells anyone.")
    return PASS, "Usage recorded; alerts at " + "/".join(map(str, s.budget_thresholds)) + " % go to a webhook."


def logging_on(f: Facts) -> Result:
    if not f.log_handlers:
        return FAIL, "The 'tollgate' logger has no handler: its lines go nowhere."
    level = logging.getLevelName(f.log_level)
    if f.log_level > logging.INFO:
        return WARN, f"The 'tollgate' logger is at {level}: call lines (INFO) are dropped."
    return PASS, f"The 'tollgate' logger is at {level}, with a handler."


def cache_on(f: Facts) -> Result:
    if f.settings.cache == "off":
        return WARN, "TOLLGATE_CACHE=off: identical prompts are paid for again."
    return PASS, f"Response cache: {f.settings.cache}."


def prompts_private(f: Facts) -> Result:
    s = f.settings
    if s.store_prompts:
        return WARN, "TOLLGATE_STORE_PROMPTS=1: prompt text is kept in the ledger, unredacted."
    logged = getattr(s, "log_prompts", False)
    return PASS, "Only a SHA-256 of each prompt is stored" + ("; logged prompts are redacted." if logged else ".")


def relay_url(f: Facts) -> Result:
    url = f.settings.base_url
    if not url and not f.settings.keys:  # demo mode: the factory starts the simulator on loopback
        return WARN, ("Demo mode (no API key): calls go to the built-in simulator on this machine, "
                      "not to Anthropic. Set an API key to reach https://api.anthropic.com.")
    if not url:
        return PASS, "No ANTHROPIC_BASE_URL: calls go straight to https://api.anthropic.com."
    parts = urlsplit(url)
    if parts.scheme == "https":
        return PASS, f"Relay {parts.scheme}://{parts.hostname} over HTTPS."
    if _loopback(parts.hostname):
        return WARN, f"ANTHROPIC_BASE_URL is plain HTTP on this machine ({parts.hostname}): fine for a local relay."
    return FAIL, f"ANTHROPIC_BASE_URL sends keys and prompts over plain HTTP to {parts.hostname}."


def login(f: Facts) -> Result:
    a = f.auth
    if a is None or not a.get("enabled"):
        return FAIL, "Login is not enabled: anyone who reaches the console can use it."
    problems = []
    if a.get("demo_accounts"):
        problems.append("demo accounts exist (" + ", ".join(a["demo_accounts"]) + ")")
    if a.get("cookie_key_default"):
        problems.append("the login cookie key is missing or the example one")
    if problems:
        return FAIL, "Login is on, but " + " and ".join(problems) + "."
    return PASS, "Login is on, no demo accounts, a cookie key of its own."


def budgets(f: Facts) -> Result:
    users = f.budget_users
    if users is None:
        return WARN, "Budgets could not be read (ledger off or unreachable)."
    if "*" in users:
        return PASS, f"A global monthly budget is set, plus {len(users) - 1} per-user budget(s)."
    if users:
        return WARN, f"{len(users)} user budget(s), but no global '*' cap on the whole organisation."
    return FAIL, "No budget is set: nothing stops a runaway script."


def https(f: Facts) -> Result:
    url = f.settings.public_url
    if url:
        parts = urlsplit(url)
        if parts.scheme == "https":
            return PASS, f"TOLLGATE_PUBLIC_URL is {parts.scheme}://{parts.hostname}."
        return FAIL, f"TOLLGATE_PUBLIC_URL is plain HTTP ({parts.hostname}): logins cross the network in clear."
    if f.forwarded_proto == "https":
        return PASS, "This page was served through a proxy that terminated HTTPS (X-Forwarded-Proto)."
    if f.forwarded_proto == "http":
        return FAIL, "This page was reached over plain HTTP through a proxy (X-Forwarded-Proto: http)."
    return MANUAL, "No TOLLGATE_PUBLIC_URL and no proxy header: confirm users reach the console over HTTPS."


def non_root(f: Facts) -> Result:
    where = "in a container" if f.in_container else "outside a container"
    if f.euid is None:
        return MANUAL, "The user id is not available on this platform."
    if f.euid == 0:
        return (FAIL if f.in_container else WARN), f"The console runs as root ({where})."
    return PASS, f"Runs as user id {f.euid} ({where})."


ITEMS: tuple[Item, ...] = (
    Item("key_source", "API key from the environment or a secret manager",
         "A key written into code or an image leaks with it.",
         "Set ANTHROPIC_API_KEY(_<LABEL>), ANTHROPIC_API_KEY_FILE, st.secrets or TOLLGATE_AWS_SECRET_ID.",
         key_source),
    Item("no_key_in_repo", "No key-shaped string in the repository or config",
         "A committed key is a leaked key: git history keeps it.",
         "Remove it, revoke it in the Anthropic Console, and load keys from the environment or a secret store.",
         no_key_in_repo),
    Item("key_age", "Keys younger than 90 days", "Rotation limits how long a leaked key stays useful.",
         "Create a new key, add it as ANTHROPIC_API_KEY_<LABEL> (rotation needs no downtime), revoke the old "
         "one; record dates in TOLLGATE_KEY_CREATED.", key_age),
    Item("separate_keys", "Separate keys per environment",
         "A development leak must not spend production's money or hit its limits.",
         "Give each environment its own key and workspace; set TOLLGATE_ENVIRONMENT on every deployment.",
         separate_keys),
    Item("retries", "Retries with backoff", "Overloaded (529) and timeouts are transient: one retry usually works.",
         "Set TOLLGATE_MAX_ATTEMPTS between 2 and 6 and TOLLGATE_BACKOFF_BASE_S above 0.", retries),
    Item("timeout", "Timeout between 30 and 60 s",
         "Too short cuts off long answers; too long holds a user and a slot on a dead connection.",
         "Set TOLLGATE_TIMEOUT_S between 30 and 60.", timeout),
    Item("cost_alerts", "Usage monitoring and cost alerts",
         "Spend found at the end of the month is spend that could have been stopped.",
         "Keep the ledger on, set TOLLGATE_BUDGET_THRESHOLDS and TOLLGATE_BUDGET_WEBHOOK_URL.", cost_alerts),
    Item("logging", "Logging on", "Without logs, an incident cannot be reconstructed.",
         "Set TOLLGATE_LOG_LEVEL=INFO (or DEBUG) and send the console's stdout to your log system.", logging_on),
    Item("cache", "Response cache on", "Repeated identical prompts cost nothing when cached.",
         "Set TOLLGATE_CACHE to memory, sql or redis.", cache_on),
    Item("prompts_private", "Prompts not stored, or redacted", "Prompts can hold personal or confidential data.",
         "Leave TOLLGATE_STORE_PROMPTS off; the ledger keeps a SHA-256 instead.", prompts_private),
    Item("relay_url", "Relay base URL over HTTPS where needed",
         "A relay on plain HTTP exposes the key and every prompt on the network.",
         "Leave ANTHROPIC_BASE_URL unset, or point it at an https:// relay.", relay_url),
    Item("login", "Login on, no demo accounts, own cookie key",
         "The console spends money: every user must be known, and a forged cookie must be impossible.",
         "Create real accounts (python -m core user add …), remove the demo ones, set TOLLGATE_COOKIE_KEY to 32+ "
         "random characters.", login),
    Item("budgets", "Budgets set", "A budget is what refuses the call that would overspend.",
         "python -m core budget set --user '*' --usd …, and per user where needed.", budgets),
    Item("https", "Console behind HTTPS", "Passwords and login cookies must not cross a network in clear.",
         "Put the console behind a TLS-terminating proxy and set TOLLGATE_PUBLIC_URL=https://….", https),
    Item("non_root", "Container runs as a non-root user", "A compromised process as root owns the container.",
         "Keep the Dockerfile's USER tollgate; don't override it with --user 0.", non_root),
)


def metrics_private(f: Facts) -> Result:
    if getattr(f.settings, "metrics_token", None):
        return PASS, "/metrics asks for a bearer token (TOLLGATE_METRICS_TOKEN)."
    if f.settings.environment == "production":
        return WARN, "/metrics is open: anyone who reaches the console sees spend and tokens by model."
    return PASS, f"/metrics is open, which is fine in {f.settings.environment}."


ITEMS += (Item("metrics_token", "Metrics behind a token in production",
               "Spend, tokens and error rates by model are business data, not for anonymous visitors.",
               "Set TOLLGATE_METRICS_TOKEN to a random string and give it to Prometheus "
               "(authorization: {credentials: …} in the scrape config).", metrics_private),)
BY_ID = {i.id: i for i in ITEMS}

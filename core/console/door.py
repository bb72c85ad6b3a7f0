"""The console's one door: everything a page shows or changes, for a principal, with its role checked here.

``open_console(settings)`` builds it once per process (the console caches it with
``st.cache_resource``); pages call only its methods and never touch the ledger's engine, the
budget book, the clock or the settings. Methods that change something, or show what only an
admin may see, take the ``Principal`` asking and raise ``NotAuthorised`` for anyone else, the
way ``core.accounts.admin`` and ``core.reports.usage`` already do. No Streamlit in here.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from functools import cached_property

from core.accounts import admin
from core.accounts.lockout import LoginGuard, attempts_for
from core.accounts.users import Principal, UserStore, cookie_key, ensure_demo_accounts, require_admin
from core.budgets.alerts import tidy_usd
from core.budgets.amounts import GLOBAL
from core.budgets.snapshot import write_snapshot
from core.client.quote import Quote, cost_on_every_model, price_sheet, quote
from core.clock import SystemClock
from core.config import Settings
from core.console.batches import BatchDoor
from core.factory import build_client, snapshot_path
from core.health import report as health
from core.ledger.rollup import Refresher
from core.reports import usage as usage_report
from core.types import Usage

log = logging.getLogger("tollgate.console")


class Console:
    """The guarded client, the users file and the login guard behind one object, role-checked per call."""

    EVERYONE = GLOBAL  # the budget user that means everyone together

    def __init__(self, client, settings: Settings, accounts: UserStore | None = None) -> None:
        self.client = client  # the guarded client (tests and tools; pages use the methods)
        self._cfg = settings
        self.accounts = accounts or UserStore(settings.users_file)
        self._guard: LoginGuard | None = None
        self._keys = None  # the gateway's KeyStore, made on first use

    def close(self) -> None:
        if getattr(self, "refresher", None) is not None:  # the rollup thread open_console started
            self.refresher.stop()
        if "batches" in self.__dict__:  # its workers first: they call the client
            self.batches.close()
        self.client.close()

    @cached_property
    def batches(self) -> BatchDoor:
        """Batch runs for a principal, roles checked (core.console.batches)."""
        return BatchDoor.open(self.client, self._cfg)

    # --- process facts the pages show -------------------------------------------------

    @property
    def demo(self) -> bool:
        """Calls go to the built-in simulator (no key set)."""
        return bool(self.client.demo)

    @property
    def has_ledger(self) -> bool:
        return self.client.ledger is not None

    @property
    def has_budgets(self) -> bool:
        return self.client.budgets is not None

    @property
    def environment(self) -> str:
        return self._cfg.environment

    @property
    def budget_tz(self) -> str:
        """The zone budget months are counted in (the usage page's default zone)."""
        return self._cfg.budget_tz

    @property
    def source_id(self) -> str:
        """Which ledger the figures come from: part of the console's cache keys, never shown."""
        return str(self.client.ledger.url) if self.client.ledger is not None else "off"

    def now(self):
        """The client's clock (UTC, aware)."""
        return self.client.clock.now()

    # --- login --------------------------------------------------------------------------

    def cookie_key(self) -> str:
        """The login-cookie signing key; raises ``RefuseToStart`` when it is weak or missing."""
        return cookie_key(self._cfg)

    def ensure_demo_accounts(self) -> list[str]:
        return ensure_demo_accounts(self.accounts, self._cfg)

    def demo_accounts(self) -> list[str]:
        """Accounts with the documented demo password (named on the login page in demo mode)."""
        return self.accounts.demo_accounts()

    def login_guard(self) -> LoginGuard:
        """The password check and lock-out, counted where every console process sees it."""
        if self._guard is None:
            try:
                attempts = attempts_for(self._cfg, getattr(self.client.ledger, "engine", None))
            except Exception:  # noqa: BLE001 - no shared store reachable: still lock out, within this process
                log.warning("login lock-out falls back to this process: its shared store is unreachable")
                attempts = None
            self._guard = LoginGuard(self.accounts, clock=SystemClock(), attempts=attempts)
        return self._guard

    # --- spend and budgets --------------------------------------------------------------

    def spend(self, principal: Principal):
        """(spent, left or None) this month for the principal, in USD; raises if the ledger is down."""
        book = self.client.budgets
        return book.spent(principal.username), book.remaining(principal.username)

    def budget_table(self, principal: Principal):
        """Every budget with its month-to-date spend (admins only)."""
        require_admin(principal, "see every budget")
        return self.client.budgets.status()

    def budget_alerts(self, principal: Principal):
        """This month's budget alerts (admins only)."""
        require_admin(principal, "see budget alerts")
        return self.client.budgets.alerts()

    def budget_board(self, principal: Principal):
        """The budgets the principal may see, with progress and alert state (core.reports.usage.budgets)."""
        return usage_report.budgets(self.client.budgets, principal, self.now())

    def _budgets_changed(self) -> None:
        # A fresh snapshot at once, so a ledger outage right after a change still refuses correctly.
        write_snapshot(self.client.ledger.engine, snapshot_path(self._cfg))

    def set_budget(self, principal: Principal, user: str, usd):
        """Create or change a monthly budget in USD ("*" = everyone together)."""
        amount = admin.set_budget(self.client.budgets, principal, user, usd)
        self._budgets_changed()
        return amount

    def remove_budget(self, principal: Principal, user: str) -> bool:
        removed = admin.remove_budget(self.client.budgets, principal, user)
        self._budgets_changed()
        return removed

    # --- accounts -----------------------------------------------------------------------

    def users(self, principal: Principal) -> list[dict]:
        """Every console account (admins only)."""
        require_admin(principal, "see accounts")
        return self.accounts.users()

    def account(self, principal: Principal, username: str) -> Principal | None:
        require_admin(principal, "see accounts")
        return self.accounts.principal(username)

    def add_user(self, principal: Principal, username: str, name: str, role: str, password: str) -> Principal:
        return admin.add_user(self.accounts, principal, username, name, role, password)

    def change_user(self, principal: Principal, username: str, *, role=None, password=None) -> list[str]:
        return admin.change_user(self.accounts, principal, username, role=role, password=password)

    def remove_user(self, principal: Principal, username: str) -> bool:
        return admin.remove_user(self.accounts, principal, username)

    # --- demo data ----------------------------------------------------------------------

    def fill_demo_data(self, principal: Principal) -> int:
        n = admin.fill_demo_data(self.client.ledger.engine, principal)
        self._budgets_changed()
        return n

    def remove_demo_data(self, principal: Principal) -> int:
        n = admin.remove_demo_data(self.client.ledger.engine, principal)
        self._budgets_changed()
        return n

    # --- gateway keys -------------------------------------------------------------------

    @property
    def key_store(self):
        """The gateway keys in the ledger database (None when the ledger is off)."""
        if self._keys is None and self.client.ledger is not None:
            from core.accounts.keys import KeyStore

            self._keys = KeyStore(self.client.ledger.engine, cache_s=self._cfg.gateway_key_cache_s)
        return self._keys

    def keys(self, principal: Principal) -> list[dict]:
        """Every gateway key, masked, with last use and spend (admins only)."""
        return admin.list_keys(self.key_store, principal)

    def create_key(self, principal: Principal, user: str, *, name: str | None = None,
                   expires_days: int | None = None, models: tuple[str, ...] = ()):
        """(stored key, the key itself): the key is shown once and never kept (admins only)."""
        models = tuple(self.client.catalogue.resolve(m) for m in models)
        return admin.create_key(self.key_store, principal, user, name=name, expires_days=expires_days,
                                models=models)

    def revoke_key(self, principal: Principal, key_id: str) -> bool:
        return admin.revoke_key(self.key_store, principal, key_id)

    # --- usage --------------------------------------------------------------------------

    def usage_options(self, principal: Principal):
        """(users, models) the principal may filter on."""
        return usage_report.options(self.client.ledger.engine, principal)

    def usage(self, principal: Principal, filters: usage_report.Filters) -> usage_report.Report:
        """The usage report, scoped to what the principal may see."""
        return usage_report.build(self.client.ledger.engine, principal, filters)

    def usage_rows(self, principal: Principal, filters: usage_report.Filters):
        return usage_report.rows(self.client.ledger.engine, principal, filters)

    def usage_csv(self, principal: Principal, filters: usage_report.Filters) -> bytes:
        return usage_report.to_csv(self.usage_rows(principal, filters))

    def usage_parquet(self, principal: Principal, filters: usage_report.Filters) -> bytes:
        return usage_report.to_parquet(self.usage_rows(principal, filters))

    def what_if(self, principal: Principal, filters: usage_report.Filters, mapping: dict) -> usage_report.WhatIf:
        return usage_report.what_if(self.client.ledger.engine, principal, filters, mapping, self.client.pricing)

    # --- checklist ----------------------------------------------------------------------

    def ticks(self, principal: Principal) -> dict:
        """The standing ticks on manual checklist items (anyone logged in may read them)."""
        from core.checklist.store import standing

        return standing(self.client.ledger.engine)

    def checklist(self, principal: Principal, ticks: dict, headers: Mapping | None = None) -> list:
        """Every checklist item checked against this running console, with its tick."""
        from core.checklist.facts import gather
        from core.checklist.report import evaluate

        return evaluate(gather(self._cfg, self.client, headers=headers), ticks)

    def tick(self, principal: Principal, item_id: str, note: str | None = None):
        require_admin(principal, "tick checklist items")
        from core.checklist.store import tick

        return tick(self.client.ledger.engine, item_id, principal, note=note)

    def untick(self, principal: Principal, item_id: str) -> bool:
        require_admin(principal, "untick checklist items")
        from core.checklist.store import untick

        return untick(self.client.ledger.engine, item_id, principal)

    # --- health -------------------------------------------------------------------------

    def health(self, principal: Principal) -> dict:
        """The health report; an analyst sees only their own recent errors, no key labels and no ledger URL."""
        if principal.is_admin:
            return health.check(self.client)
        report = health.check(self.client, user=principal.username)
        parts = report["parts"]
        parts["ledger"] = {k: v for k, v in parts["ledger"].items() if k != "url"}
        parts["errors"] = {**parts["errors"],
                           "rows": [{k: v for k, v in r.items() if k != "key_label"} for r in parts["errors"]["rows"]]}
        return report

    # --- models and prices --------------------------------------------------------------

    @property
    def price_version(self) -> str:
        return self.client.pricing.version

    def prices(self) -> list[dict]:
        """Every price row with its model's status (core.client.quote.price_sheet)."""
        return price_sheet(self.client.pricing, self.client.catalogue)

    def tiers(self) -> dict[str, str]:
        """Tier -> model, as configured."""
        return dict(self.client.catalogue.tiers)

    def models(self, legacy: bool = False) -> list[str]:
        """The models offered in selectors (legacy ones only when asked; retired never)."""
        return self.client.catalogue.offered(legacy=legacy)

    def priced_models(self) -> list[str]:
        """Models with a price row that the API still answers (targets for what-if re-pricing)."""
        cat = self.client.catalogue
        return [m for m in self.client.pricing.models() if getattr(cat.get(m), "status", None) != "retired"]

    def default_model(self) -> str:
        return self.client.catalogue.resolve(self.client.options.default_model)

    def compare_defaults(self, n: int = 2) -> list[str]:
        return self.client.catalogue.defaults_for_compare(n)

    def max_output_tokens(self, model: str) -> int:
        return self.client.catalogue.get(model).max_output_tokens

    def model_label(self, model: str) -> str:
        """A model with its tier and prices, for selectors: 'claude-haiku-5-5 · simple · $1 in / $5 out per MTok'."""
        tiers = [t for t, m in self.client.catalogue.tiers.items() if m == model]
        row = self.client.pricing.row_for(model)
        price = "unpriced" if row is None else f"${row.input:g} in / ${row.output:g} out per MTok"
        return " · ".join([model, *tiers, price])

    def costs(self, **tokens: int) -> list[dict]:
        """What one call with these token counts costs on every callable model, cheapest first.

        ``cost_usd`` stays the exact Decimal; ``exact_usd`` is the same figure tidied, as text.
        """
        rows = cost_on_every_model(self.client.pricing, Usage(**tokens), catalogue=self.client.catalogue)
        return [{**r, "exact_usd": str(tidy_usd(r["cost_usd"]))} for r in rows]

    # --- the playground -----------------------------------------------------------------

    def quote(self, principal: Principal, **request) -> Quote:
        """Tokens, worst-case cost and budget fit of a request, before sending it."""
        return quote(self.client, user=principal.username, **request)

    def attachment_costs(self, model: str, files) -> list[dict]:
        """Each attachment's estimated input tokens and what they cost on ``model`` (USD; None: unpriced)."""
        now = self.now()
        rows = []
        for f in files:
            priced = self.client.pricing.price(Usage(input_tokens=f.tokens), model, now)
            rows.append({"name": f.name, "detail": f.detail, "tokens": f.tokens,
                         "cost_usd": None if priced.unpriced else priced.cost})
        return rows

    def ask(self, principal: Principal, **request):
        """One call through the guarded client, billed to the principal."""
        return self.client.create(user=principal.username, **request)

    def stream(self, principal: Principal, **request):
        """A streamed call through the guarded client, billed to the principal."""
        return self.client.stream(user=principal.username, **request)


def open_console(settings: Settings, *, client=None) -> Console:
    """The console's door: the guarded client (ledger opened, rollups refreshed in the background), the users file."""
    c = client if client is not None else build_client(settings, source="console")
    console = Console(c, settings)
    if c.ledger is not None:
        c.ledger.open()  # migrate and replay the spool now (False: the Health page says why)
        console.refresher = Refresher.every(c.ledger.engine, settings.rollup_refresh_s)
    return console

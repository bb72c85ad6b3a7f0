"""Admin operations (accounts, budgets, demo data) for a principal: non-admins are refused here, in core.

The console's *Users & budgets* page and the command line go through these functions, never
straight to the stores beneath (``UserStore``, ``BudgetBook``, ``core.reports.demo_data``), the way
``core.reports.usage`` scopes every usage query to its viewer. Each takes the ``Principal`` asking
and raises ``NotAuthorised`` unless it is an admin. The CLI acts as ``core.accounts.users.LOCAL_ADMIN``.
"""

from __future__ import annotations

from decimal import Decimal

from core.accounts.users import LOCAL_ADMIN, Principal, UserStore, require_admin
from core.errors import ValidationError

# --- accounts -------------------------------------------------------------------------


def add_user(store: UserStore, principal, username: str, name: str, role: str, password: str) -> Principal:
    """Create a console account; returns it."""
    require_admin(principal, "add accounts")
    return store.add(username, name, role, password)


def change_user(store: UserStore, principal, username: str, *, role: str | None = None,
                password: str | None = None) -> list[str]:
    """Change only what is given (None or "" = keep); returns what changed ("role", "password").

    An admin cannot take away their own admin role, so the console always keeps one admin who is logged in.
    """
    require_admin(principal, "change accounts")
    current = store.principal(username)
    if current is None:
        raise ValidationError(f"No user {username!r}.", field="username")
    changed = []
    if role is not None and role != current.role:
        if principal != LOCAL_ADMIN and username == principal.username and role != "admin":
            raise ValidationError("You cannot remove your own admin role.", field="role")
        store.set_role(username, role)
        changed.append("role")
    if password:
        store.set_password(username, password)
        changed.append("password")
    return changed


def remove_user(store: UserStore, principal, username: str) -> bool:
    """Delete an account (not one's own); False if there was none."""
    require_admin(principal, "remove accounts")
    if principal != LOCAL_ADMIN and username == principal.username:
        raise ValidationError("You cannot remove your own account.", field="username")
    return store.remove(username)


# --- budgets --------------------------------------------------------------------------


def set_budget(book, principal, user: str, usd: Decimal | str | int) -> Decimal:
    """Create or change a monthly budget in USD ("*" = organisation-wide), recorded as set by ``principal``."""
    require_admin(principal, "set budgets")
    return book.set_budget(user, usd, by=principal.username)


def remove_budget(book, principal, user: str) -> bool:
    """Drop a monthly budget; False if there was none."""
    require_admin(principal, "remove budgets")
    return book.remove_budget(user)


# --- demo data ------------------------------------------------------------------------


def fill_demo_data(engine, principal, **kw) -> int:
    """``core.reports.demo_data.generate`` for an admin; returns the demo calls written."""
    require_admin(principal, "fill the ledger with demo data")
    from core.reports import demo_data  # numpy and pandas: only when asked

    return demo_data.generate(engine, **kw)


def remove_demo_data(engine, principal) -> int:
    """``core.reports.demo_data.remove`` for an admin; returns the demo calls deleted."""
    require_admin(principal, "remove demo data")
    from core.reports import demo_data

    return demo_data.remove(engine)


# --- gateway keys ---------------------------------------------------------------------


def create_key(store, principal, user: str, **kw):
    """``KeyStore.create`` for an admin: (the stored key, the key itself, shown once)."""
    require_admin(principal, "create gateway keys")
    return store.create(user, by=principal.username, **kw)


def list_keys(store, principal) -> list[dict]:
    """Every gateway key (masked), with last use and spend, for an admin."""
    require_admin(principal, "see gateway keys")
    return store.list()


def revoke_key(store, principal, key_id: str) -> bool:
    """Revoke a gateway key for an admin; False if there was no such active key."""
    require_admin(principal, "revoke gateway keys")
    return store.revoke(key_id)

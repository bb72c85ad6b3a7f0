"""Console accounts and roles: a users file of bcrypt hashes, the login cookie's key, demo accounts.

The file keeps streamlit-authenticator's credentials shape (older files read as they are):
``credentials: usernames: {alice: {name, password: <bcrypt hash>, roles: [admin], demo: false,
session: <int>}}``. ``session`` is the session version every login carries (core.accounts.sessions).
Tollgate writes it itself (atomically, mode 0600).
"""

from __future__ import annotations

import os
import re
import secrets
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import bcrypt
import yaml

from core.config import reveal
from core.errors import NotAuthorised, ValidationError

ROLES = ("admin", "analyst")
# Shown in .streamlit/secrets.toml.example; production refuses to start with it.
EXAMPLE_COOKIE_KEY = "replace-me-with-32-or-more-random-characters"
MIN_COOKIE_KEY = 32
MIN_PASSWORD = 10
# Documented in the README: offered only in demo mode, and the checklist fails while they exist.
DEMO_PASSWORD = "tollgate-demo"
DEMO_ACCOUNTS = {"admin": ("Demo Admin", "admin"), "analyst": ("Demo Analyst", "analyst")}
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
_PROCESS_KEY = secrets.token_urlsafe(48)  # no key configured outside production: logins last one process


@dataclass(frozen=True)
class Principal:
    """Who is using the console; ``username`` is the ``user`` of every ledger row they cause."""

    username: str
    name: str
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


# The command line runs on the server with the files' owner's rights: it acts as a local administrator.
LOCAL_ADMIN = Principal("cli", "Command line (local administrator)", "admin")


def require_admin(principal, action: str) -> None:
    """Refuse ``action`` (e.g. "set budgets") with NotAuthorised unless ``principal`` is an admin."""
    if principal is None or not getattr(principal, "username", None) or not getattr(principal, "is_admin", False):
        raise NotAuthorised(action, principal)


class RefuseToStart(RuntimeError):
    """The console's configuration is unsafe for its environment (the message says how to fix it)."""


def hash_password(password: str, rounds: int = 12) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds)).decode()


def check_password(password: str, hashed: str) -> bool:
    try:
        return bcrypt.checkpw(password.encode(), hashed.encode())
    except ValueError:  # not a bcrypt hash
        return False


def _check_username(username: str) -> str:
    username = (username or "").strip().lower()
    if not _USERNAME.match(username):
        raise ValidationError("A username is 2 to 64 characters: lower-case letters, digits, '.', '_' or '-', "
                              "starting with a letter or digit.", field="username")
    return username


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise ValidationError(f"Role must be one of {', '.join(ROLES)}.", field="role")
    return role


def _check_password(password: str) -> None:
    if len(password or "") < MIN_PASSWORD:
        raise ValidationError(f"A password needs at least {MIN_PASSWORD} characters.", field="password")


class UserStore:
    """The users file: read on every lookup (cheap), written atomically under a lock."""

    _lock = threading.Lock()

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def _read(self) -> dict:
        if not self.path.exists():
            return {}
        doc = yaml.safe_load(self.path.read_text(encoding="utf-8")) or {}
        users = (doc.get("credentials") or {}).get("usernames") or {}
        return {str(k): dict(v) for k, v in users.items()}

    def _write(self, users: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        doc = {"credentials": {"usernames": users}}
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".users-", suffix=".yaml")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                yaml.safe_dump(doc, f, sort_keys=True)
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def users(self) -> list[dict]:
        """Every account without its hash: username, name, role, demo."""
        return [{"username": u, "name": v.get("name", u), "role": (v.get("roles") or ["analyst"])[0],
                 "demo": bool(v.get("demo"))} for u, v in sorted(self._read().items())]

    def credentials(self) -> dict:
        """The login widget's credentials dict (a fresh copy: the widget mutates what it gets)."""
        return {"usernames": self._read()}

    def session_version(self, username: str | None) -> int | None:
        """The account's session version (logins carry it; None: no such account)."""
        entry = self._read().get(username or "")
        return None if entry is None else int(entry.get("session", 0))

    def password_hash(self, username: str | None) -> str | None:
        entry = self._read().get(username or "")
        return None if entry is None else entry.get("password")

    def principal(self, username: str | None) -> Principal | None:
        """The account behind a username, or None if it no longer exists."""
        entry = self._read().get(username or "")
        if entry is None:
            return None
        return Principal(username, entry.get("name", username), (entry.get("roles") or ["analyst"])[0])

    def add(self, username: str, name: str, role: str, password: str, *, demo: bool = False,
            rounds: int = 12) -> Principal:
        username, role = _check_username(username), _check_role(role)
        if not demo:
            _check_password(password)
        with self._lock:
            users = self._read()
            if username in users:
                raise ValidationError(f"User {username!r} already exists.", field="username")
            users[username] = {"name": (name or username).strip(), "password": hash_password(password, rounds),
                               "roles": [role], "demo": demo, "email": f"{username}@localhost",
                               # random start: a login of a removed namesake never fits a new account
                               "session": secrets.randbits(31)}
            self._write(users)
        return Principal(username, users[username]["name"], role)

    def _update(self, username: str, **changes) -> None:
        with self._lock:
            users = self._read()
            if username not in users:
                raise ValidationError(f"No user {username!r}.", field="username")
            users[username].update(changes)
            # Every change to an account ends the logins made before it.
            users[username]["session"] = int(users[username].get("session", 0)) + 1
            self._write(users)

    def set_password(self, username: str, password: str) -> None:
        _check_password(password)
        self._update(username, password=hash_password(password), demo=False)

    def set_role(self, username: str, role: str) -> None:
        self._update(username, roles=[_check_role(role)])

    def revoke(self, username: str) -> None:
        """End every login of ``username`` (log-out, lock-out): the session version moves on."""
        self._update(username)

    def remove(self, username: str) -> bool:
        with self._lock:
            users = self._read()
            if users.pop(username, None) is None:
                return False
            self._write(users)
            return True

    def demo_accounts(self) -> list[str]:
        return [u["username"] for u in self.users() if u["demo"]]


def ensure_demo_accounts(store: UserStore, settings) -> list[str]:
    """In demo mode with no accounts yet, create the documented demo accounts; returns their names."""
    if not (settings.demo and settings.demo_accounts) or store.users():
        return []
    for username, (name, role) in DEMO_ACCOUNTS.items():
        store.add(username, name, role, DEMO_PASSWORD, demo=True, rounds=10)
    return list(DEMO_ACCOUNTS)


def cookie_key(settings) -> str:
    """The key that signs login cookies. A weak one (the example's, or under 32 characters) is
    refused in every environment, since it lets anyone mint a login; production also refuses none."""
    key = reveal(settings.cookie_key)
    weak = key == EXAMPLE_COOKIE_KEY or (key is not None and len(key) < MIN_COOKIE_KEY)
    if weak or (settings.environment == "production" and not key):
        raise RefuseToStart(
            ("The login cookie key TOLLGATE_COOKIE_KEY is the example's or shorter than 32 characters, so "
             "anyone could forge a login. " if weak else "Production mode needs its own login cookie key. ")
            + "Set TOLLGATE_COOKIE_KEY in .streamlit/secrets.toml or the environment to 32 or more random "
            "characters (python -c 'import secrets; print(secrets.token_urlsafe(48))')"
            + ("." if weak else ", or leave it unset outside production for a random key per process."))
    return key or _PROCESS_KEY


def auth_status(settings) -> dict:
    """What the production checklist needs to know about login."""
    store = UserStore(settings.users_file)
    key = reveal(settings.cookie_key)
    return {"enabled": True, "accounts": len(store.users()), "demo_accounts": store.demo_accounts(),
            "cookie_key_default": not key or key == EXAMPLE_COOKIE_KEY or len(key) < MIN_COOKIE_KEY}

"""Console login sessions: Tollgate's own signed cookie (PyJWT HS256), tied to each account's state.

A login is a token ``{sub: username, ver: session version, typ, iat, exp}`` signed with the
cookie key. ``ver`` is the account's session version in the users file; a password or role
change, a removal, a lock-out or a log-out bumps it, so every older token stops working at
the next script run. Anything unreadable (bad signature, another algorithm, ``alg: none``,
no expiry, garbage) reads as "logged out", never as an error.

The browser gets the cookie from a route beside the console (``routes()``): after a login
the page posts a one-minute *ticket* to ``/_tollgate/session``, which answers with an
HttpOnly, SameSite=Strict cookie good for ``TOLLGATE_COOKIE_EXPIRY_DAYS``. Streamlit sends
cookies with its websocket, so ``st.context.cookies`` sees the login on a reload, in a new
tab or on a deep link. ``/_tollgate/logout`` clears it.
"""

from __future__ import annotations

from dataclasses import dataclass

import jwt

COOKIE = "tollgate_session"
ALGORITHM = "HS256"
TICKET_S = 60.0  # how long a freshly logged-in page has to trade its ticket for the cookie
SESSION_PATH = "/_tollgate/session"
LOGOUT_PATH = "/_tollgate/logout"
# A cross-site page cannot send a custom header without a CORS preflight this server never grants.
CSRF_HEADER = "x-tollgate-session"


@dataclass(frozen=True)
class Claims:
    username: str
    version: int
    expires: float  # epoch seconds


def _encode(kind: str, username: str, version: int, key: str, now: float, ttl_s: float) -> str:
    return jwt.encode({"sub": username, "ver": int(version), "typ": kind, "iat": int(now),
                       "exp": int(now + ttl_s)}, key, algorithm=ALGORITHM)


def _decode(kind: str, token, key: str, now: float) -> Claims | None:
    if not token or not isinstance(token, str) or len(token) > 4096:
        return None
    try:
        # Only HS256 with our key; exp, sub and ver must be present; now comes from the injected clock.
        claims = jwt.decode(token, key, algorithms=[ALGORITHM], leeway=0,
                            options={"require": ["exp", "sub", "ver", "typ"], "verify_exp": False,
                                     "verify_iat": False, "verify_nbf": False})
    except (jwt.PyJWTError, ValueError, TypeError):
        return None
    exp, ver, sub = claims.get("exp"), claims.get("ver"), claims.get("sub")
    if (claims.get("typ") != kind or not isinstance(sub, str) or not isinstance(ver, int)
            or isinstance(ver, bool) or not isinstance(exp, int | float) or exp <= now):
        return None
    return Claims(sub, ver, float(exp))


def issue(username: str, version: int, key: str, *, now: float, days: float) -> str:
    """The login cookie's value: valid ``days`` days from ``now`` (epoch seconds)."""
    return _encode("session", username, version, key, now, days * 86400.0)


def read(token, key: str, *, now: float) -> Claims | None:
    """The claims of a login cookie, or None for anything not a current, well-formed Tollgate login."""
    return _decode("session", token, key, now)


def ticket(username: str, version: int, key: str, *, now: float) -> str:
    """A one-minute ticket the page trades for the cookie (useless as a cookie itself)."""
    return _encode("ticket", username, version, key, now, TICKET_S)


def read_ticket(token, key: str, *, now: float) -> Claims | None:
    return _decode("ticket", token, key, now)


def principal_for(store, claims: Claims | None):
    """The account behind valid claims if it still exists at that session version, else None."""
    if claims is None:
        return None
    if store.session_version(claims.username) != claims.version:
        return None  # removed, or its password, role or lock changed since this login
    return store.principal(claims.username)

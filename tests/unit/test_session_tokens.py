"""Login cookies: only Tollgate's own current HS256 tokens read as a login; anything else is logged out."""

from __future__ import annotations

import base64
import json

import jwt
import pytest

from core.accounts import sessions
from core.accounts import users as auth

KEY = "unit-test-cookie-key-" + "k" * 48
NOW = 1_800_000_000.0


def _b64(obj) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def test_a_login_cookie_round_trips_until_it_expires():
    token = sessions.issue("ana", 7, KEY, now=NOW, days=1)
    assert sessions.read(token, KEY, now=NOW + 60) == sessions.Claims("ana", 7, NOW + 86400)
    assert sessions.read(token, KEY, now=NOW + 86400) is None
    assert sessions.read(token, "another-key-" + "z" * 32, now=NOW) is None


CLAIMS = {"sub": "ana", "ver": 7, "typ": "session", "iat": int(NOW), "exp": int(NOW) + 3600}


@pytest.mark.parametrize("token", [
    f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(CLAIMS)}.",  # unsigned
    jwt.encode(CLAIMS, KEY, algorithm="HS512"),  # the right key, another algorithm
    jwt.encode({k: v for k, v in CLAIMS.items() if k != "exp"}, KEY, algorithm="HS256"),  # never expires
    jwt.encode({k: v for k, v in CLAIMS.items() if k != "ver"}, KEY, algorithm="HS256"),  # no session version
    jwt.encode({**CLAIMS, "ver": "7"}, KEY, algorithm="HS256"),
    jwt.encode({**CLAIMS, "typ": "ticket"}, KEY, algorithm="HS256"),  # a ticket is not a cookie
    jwt.encode({**CLAIMS, "exp": "soon"}, KEY, algorithm="HS256"),
    "garbage", "a.b.c", "", None, 42, "x" * 10_000, "eyJ.eyJ.",
])
def test_anything_but_a_current_tollgate_login_reads_as_logged_out(token):
    assert sessions.read(token, KEY, now=NOW) is None


def test_a_ticket_is_short_lived_and_not_a_login():
    t = sessions.ticket("ana", 3, KEY, now=NOW)
    assert sessions.read_ticket(t, KEY, now=NOW + sessions.TICKET_S - 1) == sessions.Claims(
        "ana", 3, NOW + sessions.TICKET_S)
    assert sessions.read_ticket(t, KEY, now=NOW + sessions.TICKET_S) is None
    assert sessions.read(t, KEY, now=NOW) is None


def test_a_login_is_good_only_at_the_accounts_current_session_version(tmp_path):
    store = auth.UserStore(tmp_path / "users.yaml")
    store.add("ana", "Ana", "analyst", "long-enough-pw", rounds=4)
    claims = sessions.read(sessions.issue("ana", store.session_version("ana"), KEY, now=NOW, days=1), KEY,
                           now=NOW)
    assert sessions.principal_for(store, claims) == auth.Principal("ana", "Ana", "analyst")
    for change in (lambda: store.set_password("ana", "a-new-long-pw"), lambda: store.set_role("ana", "admin"),
                   lambda: store.revoke("ana"), lambda: store.remove("ana")):
        change()
        assert sessions.principal_for(store, claims) is None
        if store.session_version("ana") is not None:
            claims = sessions.Claims("ana", store.session_version("ana"), claims.expires)  # log in again
    assert sessions.principal_for(store, None) is None

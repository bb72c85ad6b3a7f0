"""Who is calling the gateway: a Tollgate key (``x-api-key`` or ``Authorization: Bearer``) or a JWT.

A Tollgate key is checked against its stored hash (core.accounts.keys); a token with two dots
is a JWT, verified by ``core.gateway.tokens`` when TOLLGATE_JWT_* is configured. Anything else,
or nothing, is ``InvalidApiKey`` (401) before a byte goes upstream. The key itself is never
kept on the caller, logged or put in an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from core.accounts.keys import looks_like_key
from core.errors import InvalidApiKey, ModelNotAllowed


@dataclass(frozen=True)
class Caller:
    """An authenticated gateway caller: the Tollgate user its calls are charged to."""

    user: str
    key_id: str | None  # the Tollgate key's public id; None for a JWT
    models: tuple[str, ...] = ()  # empty: every model
    via: str = "key"  # key | jwt

    def check_model(self, model: str, catalogue) -> None:
        """Refuse a model this caller's key may not use (aliases and tiers resolved first)."""
        if self.models and catalogue.resolve(model) not in self.models:
            raise ModelNotAllowed(model, list(self.models))


def token_of(headers: Mapping[str, str]) -> str | None:
    """The credential of a request: ``x-api-key`` first (what the SDKs send), else a Bearer token."""
    key = headers.get("x-api-key")
    if key:
        return key.strip()
    auth = headers.get("authorization") or ""
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


class Authenticator:
    """Turns a request's headers into a ``Caller``, or raises ``InvalidApiKey``."""

    def __init__(self, keys=None, tokens=None) -> None:
        self.keys = keys  # a KeyStore, or None when the ledger is off (then only JWTs can work)
        self.tokens = tokens  # a core.gateway.tokens.TokenVerifier, or None when no JWT is configured

    def needs_io(self, headers: Mapping[str, str]) -> bool:
        """False when ``authenticate`` is CPU only (a cached key, an HS256 token): no thread needed for it."""
        token = token_of(headers)
        if not token:
            return False
        if looks_like_key(token):
            return self.keys is not None and not self.keys.fresh(token)
        return self.tokens is not None and self.tokens.jwks is not None and not self.tokens.fresh(token)

    def authenticate(self, headers: Mapping[str, str]) -> Caller:
        token = token_of(headers)
        if not token:
            raise InvalidApiKey("no key was given")
        if looks_like_key(token):
            if self.keys is None:
                raise InvalidApiKey("this gateway keeps no keys (the ledger is off)")
            info = self.keys.verify(token)
            return Caller(user=info.user, key_id=info.id, models=info.models, via="key")
        if token.count(".") == 2 and self.tokens is not None:
            return Caller(user=self.tokens.verify(token), key_id=None, via="jwt")
        raise InvalidApiKey("the key is not a Tollgate key")

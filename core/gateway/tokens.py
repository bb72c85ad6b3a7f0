"""JWTs from the company's identity provider: RS256/ES256 from a JWKS URL, or HS256 with a shared secret.

The algorithm a token names must be one its key source allows (HS256 only with the secret,
RS256/ES256 only with the JWKS), so ``alg: none`` and algorithm confusion (an HS256 token
"signed" with the provider's public key) are refused. ``exp`` is required; ``aud`` and ``iss``
are checked when configured (a token with an ``aud`` is refused when none is). The user is
``sub``, or the claim TOLLGATE_JWT_USER_CLAIM names. A verified token is trusted again, without
its signature checked, for TOLLGATE_GATEWAY_KEY_CACHE_S (as keys are), never past its ``exp``.
"""

from __future__ import annotations

import time

import jwt

from core.errors import InvalidApiKey

ASYMMETRIC = ("RS256", "ES256")
_CACHE_MAX = 10_000  # verified tokens kept at most (then forgotten at once, and verified again)


class TokenVerifier:
    """Verifies one token and returns its Tollgate user, or raises ``InvalidApiKey`` saying why."""

    def __init__(self, *, secret: str | None = None, jwks_url: str | None = None, audience: str | None = None,
                 issuer: str | None = None, user_claim: str = "sub", leeway_s: float = 0.0,
                 cache_s: float = 0.0, clock=time.time) -> None:
        self.secret, self.audience, self.issuer = secret, audience, issuer
        self.user_claim, self.leeway_s = user_claim, leeway_s
        self.cache_s, self._clock = cache_s, clock
        self._verified: dict[str, tuple[str, float]] = {}  # token -> (user, trusted until, epoch s)
        self.jwks = jwt.PyJWKClient(jwks_url, cache_keys=True, lifespan=300, timeout=5) if jwks_url else None

    @classmethod
    def from_settings(cls, settings) -> TokenVerifier | None:
        """The verifier TOLLGATE_JWT_* describe, or None when neither a secret nor a JWKS URL is set."""
        from core.config import reveal

        secret = reveal(settings.jwt_secret)
        if not secret and not settings.jwt_jwks_url:
            return None
        return cls(secret=secret, jwks_url=settings.jwt_jwks_url, audience=settings.jwt_audience,
                   issuer=settings.jwt_issuer, user_claim=settings.jwt_user_claim,
                   cache_s=settings.gateway_key_cache_s)

    def fresh(self, token: str) -> bool:
        """True when ``token`` was verified within the cache time and has not expired since."""
        hit = self._verified.get(token)
        return hit is not None and self._clock() < hit[1]

    def verify(self, token: str) -> str:
        """The token's user (a token verified moments ago: from memory), or ``InvalidApiKey``."""
        hit = self._verified.get(token)
        if hit is not None:
            if self._clock() < hit[1]:
                return hit[0]
            self._verified.pop(token, None)
        user, exp = self._check(token)
        if self.cache_s > 0:
            if len(self._verified) >= _CACHE_MAX:
                self._verified.clear()
            self._verified[token] = (user, min(exp, self._clock() + self.cache_s))
        return user

    def _check(self, token: str) -> tuple[str, float]:
        """(user, exp) of a token whose signature and claims hold."""
        try:
            alg = jwt.get_unverified_header(token).get("alg")
        except jwt.PyJWTError:
            raise InvalidApiKey("the token is not a JWT") from None
        if alg == "HS256" and self.secret:
            key, algorithms = self.secret, ["HS256"]
        elif alg in ASYMMETRIC and self.jwks is not None:
            try:
                key = self.jwks.get_signing_key_from_jwt(token).key
            except jwt.PyJWKClientError as exc:
                raise InvalidApiKey(f"the token's signing key could not be found ({type(exc).__name__})") from None
            except jwt.PyJWTError:
                raise InvalidApiKey("the token is not a JWT") from None
            algorithms = list(ASYMMETRIC)
        else:
            raise InvalidApiKey(f"tokens signed with {alg!r} are not accepted")
        try:
            claims = jwt.decode(token, key, algorithms=algorithms, audience=self.audience, issuer=self.issuer,
                                leeway=self.leeway_s, options={"require": ["exp"]})
        except jwt.ExpiredSignatureError:
            raise InvalidApiKey("the token has expired") from None
        except jwt.InvalidAudienceError:
            raise InvalidApiKey("the token is for another audience") from None
        except jwt.InvalidIssuerError:
            raise InvalidApiKey("the token is from another issuer") from None
        except jwt.PyJWTError as exc:
            raise InvalidApiKey(f"the token was refused ({type(exc).__name__})") from None
        user = claims.get(self.user_claim)
        if not isinstance(user, str) or not user.strip() or user.strip() == "*" or len(user) > 200 \
                or not user.isprintable():
            raise InvalidApiKey(f"the token's {self.user_claim!r} claim is not a user id")
        return user.strip(), float(claims["exp"])

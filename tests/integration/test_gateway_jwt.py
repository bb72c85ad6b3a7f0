"""JWTs at the gateway: HS256 with a shared secret, RS256/ES256 from a JWKS served on loopback; each bad token refused."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import anthropic
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from tests.integration.conftest import messages_seen
from tests.integration.gateway_support import free_port, gateway

SECRET = "test-only-shared-secret-0123456789abcdef"
AUD, ISS = "tollgate", "https://idp.example.test"
ASK = dict(model="claude-haiku-5-5", max_tokens=20, messages=[{"role": "user", "content": "Hello"}])
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())


def claims(**over) -> dict:
    return {"sub": "ana", "aud": AUD, "iss": ISS, "exp": int(time.time()) + 300, **over}


@pytest.fixture(scope="module")
def jwks_url():
    """A JWKS with one RSA and one EC public key, served on loopback."""
    keys = [{**json.loads(RSAAlgorithm.to_jwk(RSA_KEY.public_key())), "kid": "rsa1", "use": "sig", "alg": "RS256"},
            {**json.loads(ECAlgorithm.to_jwk(EC_KEY.public_key())), "kid": "ec1", "use": "sig", "alg": "ES256"}]
    body = json.dumps({"keys": keys}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the base class's name
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
    server.shutdown()


@pytest.fixture
def gw(fresh_sim, tmp_path, jwks_url):
    with gateway(fresh_sim, tmp_path, jwt_secret=SECRET, jwt_jwks_url=jwks_url, jwt_audience=AUD,
                 jwt_issuer=ISS) as g:
        yield g


def call(gw, token):
    return anthropic.Anthropic(base_url=gw.url, api_key=token, max_retries=0).messages.create(**ASK)


def _rows(gw):
    import sqlalchemy as sa

    from core.ledger.schema import calls

    gw.client.recorder.flush()
    with gw.client.ledger.engine.connect() as conn:
        return conn.execute(sa.select(calls.c.user_id, calls.c.source, calls.c.api_key_id)).all()


@pytest.mark.parametrize("token", [
    lambda: jwt.encode(claims(), SECRET, algorithm="HS256"),
    lambda: jwt.encode(claims(), RSA_KEY, algorithm="RS256", headers={"kid": "rsa1"}),
    lambda: jwt.encode(claims(), EC_KEY, algorithm="ES256", headers={"kid": "ec1"}),
], ids=["HS256", "RS256", "ES256"])
def test_a_good_token_is_charged_to_its_subject(gw, token):
    assert call(gw, token()).content
    assert _rows(gw) == [("ana", "gateway", None)]


def test_a_configured_claim_names_the_user(fresh_sim, tmp_path):
    with gateway(fresh_sim, tmp_path, jwt_secret=SECRET, jwt_audience=AUD, jwt_user_claim="email") as gw:
        token = {k: v for k, v in claims(email="bo@example.com").items() if k != "iss"}  # iss not configured
        call(gw, jwt.encode(token, SECRET, algorithm="HS256"))
        assert _rows(gw)[0][0] == "bo@example.com"


def _none_token() -> str:
    return jwt.encode(claims(), None, algorithm="none")


def _confused() -> str:
    """HS256 "signed" with the provider's public key: the classic algorithm-confusion forgery."""
    import base64
    import hashlib
    import hmac

    pem = RSA_KEY.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    head = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "rsa1"}).encode())
    body = b64(json.dumps(claims()).encode())
    sig = b64(hmac.new(pem, f"{head}.{body}".encode(), hashlib.sha256).digest())
    return f"{head}.{body}.{sig}"


@pytest.mark.parametrize("token,why", [
    (_none_token, "'none'"),
    (lambda: jwt.encode(claims(exp=int(time.time()) - 10), SECRET, algorithm="HS256"), "expired"),
    (lambda: jwt.encode(claims(aud="someone-else"), SECRET, algorithm="HS256"), "audience"),
    (lambda: jwt.encode(claims(iss="https://evil.example"), SECRET, algorithm="HS256"), "issuer"),
    (lambda: jwt.encode({k: v for k, v in claims().items() if k != "exp"}, SECRET, algorithm="HS256"), "refused"),
    (lambda: jwt.encode(claims(), "another-secret-of-enough-length-000000", algorithm="HS256"), "refused"),
    (lambda: jwt.encode(claims(), RSA_KEY, algorithm="RS256", headers={"kid": "nope"}), "signing key"),
    (lambda: jwt.encode(claims(), RSA_KEY, algorithm="RS512", headers={"kid": "rsa1"}), "not accepted"),
    (lambda: jwt.encode(claims(sub="*"), SECRET, algorithm="HS256"), "not a user id"),
    (_confused, "refused"),
], ids=["alg-none", "expired", "audience", "issuer", "no-exp", "bad-signature", "unknown-kid", "RS512",
        "star-user", "alg-confusion"])
def test_each_bad_token_is_401_and_nothing_is_sent(gw, fresh_sim, token, why):
    with pytest.raises(anthropic.AuthenticationError) as info:
        call(gw, token())
    assert why in info.value.message and messages_seen(fresh_sim) == 0


def test_without_jwt_settings_a_token_is_just_a_bad_key(fresh_sim, tmp_path):
    with gateway(fresh_sim, tmp_path) as gw, pytest.raises(anthropic.AuthenticationError):
        call(gw, jwt.encode(claims(), SECRET, algorithm="HS256"))

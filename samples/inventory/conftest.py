"""The inventory sample's tests run on every provider and store the portafn plugin selects.

A session-wide identity provider stands in for real ones: a loopback HTTP server publishing the
key sets of freshly generated keys (the shop's own issuer's RSA key, an IAP-like EC key and a
Google-like RSA key, each at its own path), and a signer of tokens with those keys.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from portafn import App
from samples.inventory.app import GOOGLE_AUDIENCE, IAP_AUDIENCE, ISSUER, app

JWKS_PATHS = {"shop": "/.well-known/jwks.json", "iap": "/iap/public_key-jwk", "google": "/oauth2/v3/certs"}


@pytest.fixture
def portafn_app() -> App:
    return app


def _jwks(kid: str, public: str, alg: str) -> bytes:
    return json.dumps({"keys": [{**json.loads(public), "kid": kid, "use": "sig", "alg": alg}]}).encode()


class IdentityProvider:
    """Publishes key sets on loopback and signs tokens; counts how often each set was fetched."""

    def __init__(self) -> None:
        import jwt
        from cryptography.hazmat.primitives.asymmetric import ec, rsa

        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.iap_key = ec.generate_private_key(ec.SECP256R1())
        self.google_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.sets = {
            JWKS_PATHS["shop"]: _jwks(
                "k1", jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()), "RS256"
            ),
            JWKS_PATHS["iap"]: _jwks(
                "iap1", jwt.algorithms.ECAlgorithm.to_jwk(self.iap_key.public_key()), "ES256"
            ),
            JWKS_PATHS["google"]: _jwks(
                "g1", jwt.algorithms.RSAAlgorithm.to_jwk(self.google_key.public_key()), "RS256"
            ),
        }
        self.fetched = dict.fromkeys(self.sets, 0)
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = provider.sets.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                provider.fetched[self.path] += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)  # bound: answers once served
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.url = self.base + JWKS_PATHS["shop"]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def token(self, sub: str = "user-1", *, kid: str = "k1", key: Any = None, **claims: Any) -> str:
        import jwt

        now = int(time.time())
        body = {"iss": ISSUER, "aud": "inventory", "sub": sub, "iat": now, "exp": now + 300, **claims}
        return jwt.encode(body, key or self.key, algorithm="RS256", headers={"kid": kid})

    @property
    def fetches(self) -> int:
        """How often the shop's own key set was fetched."""
        return self.fetched[JWKS_PATHS["shop"]]

    def iap_token(self, sub: str = "accounts.google.com:1001", **claims: Any) -> str:
        """An IAP assertion (ES256) for ``sub``; ``claims`` override the defaults."""
        import jwt

        now = int(time.time())
        body = {
            "iss": "https://cloud.google.com/iap",
            "aud": IAP_AUDIENCE,
            "sub": sub,
            "email": "staff@example.com",
            "iat": now,
            "exp": now + 300,
            **claims,
        }
        return jwt.encode(body, self.iap_key, algorithm="ES256", headers={"kid": "iap1"})

    def google_token(self, sub: str = "1002", *, kid: str = "g1", **claims: Any) -> str:
        """A Google ID token (RS256) for ``sub``; ``claims`` override the defaults."""
        import jwt

        now = int(time.time())
        body = {
            "iss": "https://accounts.google.com",
            "aud": GOOGLE_AUDIENCE,
            "sub": sub,
            "email": "scheduler@example.iam.gserviceaccount.com",
            "iat": now,
            "exp": now + 300,
            **claims,
        }
        return jwt.encode(body, self.google_key, algorithm="RS256", headers={"kid": kid})

    def public_pem(self, which: str) -> bytes:
        """The public key of ``which`` ("iap" or "google") as PEM: the secret an alg-confusion
        attacker would HMAC with."""
        from cryptography.hazmat.primitives import serialization

        key = self.iap_key if which == "iap" else self.google_key
        return key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="session")
def identity() -> Iterator[IdentityProvider]:
    provider = IdentityProvider()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("INVENTORY_JWKS_URL", provider.url)
        mp.setenv("INVENTORY_IAP_JWKS_URL", provider.base + JWKS_PATHS["iap"])
        mp.setenv("INVENTORY_GOOGLE_JWKS_URL", provider.base + JWKS_PATHS["google"])
        mp.setenv("INVENTORY_API_KEYS", "pk-alpha-0001=partner-a,pk-beta-0002=partner-b")
        yield provider
    provider.close()


@pytest.fixture
def bearer(identity: IdentityProvider) -> Callable[..., dict[str, str]]:
    """Headers carrying a bearer token signed by the session's identity provider."""
    return lambda sub="user-1", **claims: {"Authorization": "Bearer " + identity.token(sub, **claims)}

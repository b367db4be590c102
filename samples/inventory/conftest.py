"""The inventory sample's tests run on every provider and store the portafn plugin selects.

A session-wide identity provider stands in for a real one: a loopback HTTP server publishing a
JWKS of a freshly generated RSA key, and a signer of tokens with that key.
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
from samples.inventory.app import ISSUER, app


@pytest.fixture
def portafn_app() -> App:
    return app


class IdentityProvider:
    """Publishes a JWKS on loopback and signs tokens; counts how often the JWKS was fetched."""

    def __init__(self) -> None:
        import jwt
        from cryptography.hazmat.primitives.asymmetric import rsa

        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        self.jwks = json.dumps({"keys": [{**public, "kid": "k1", "use": "sig", "alg": "RS256"}]}).encode()
        self.fetches = 0
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                provider.fetches += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(provider.jwks)))
                self.end_headers()
                self.wfile.write(provider.jwks)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)  # bound: answers once served
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/.well-known/jwks.json"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def token(self, sub: str = "user-1", *, kid: str = "k1", key: Any = None, **claims: Any) -> str:
        import jwt

        now = int(time.time())
        body = {"iss": ISSUER, "aud": "inventory", "sub": sub, "iat": now, "exp": now + 300, **claims}
        return jwt.encode(body, key or self.key, algorithm="RS256", headers={"kid": kid})

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="session")
def identity() -> Iterator[IdentityProvider]:
    provider = IdentityProvider()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("INVENTORY_JWKS_URL", provider.url)
        mp.setenv("INVENTORY_API_KEYS", "pk-alpha-0001=partner-a,pk-beta-0002=partner-b")
        yield provider
    provider.close()


@pytest.fixture
def bearer(identity: IdentityProvider) -> Callable[..., dict[str, str]]:
    """Headers carrying a bearer token signed by the session's identity provider."""
    return lambda sub="user-1", **claims: {"Authorization": "Bearer " + identity.token(sub, **claims)}

"""The JWKS cache refetches for an unknown key id at most once per interval, and still follows a
rotation once the interval has passed (a loopback key set counts the fetches; the clock is the
test's, so nothing waits)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from portafn import App, Context
from portafn.auth.bearer import BearerJWT
from portafn.testing import Client

ISSUER = "https://issuer.example/"


class KeyServer:
    """A loopback JWKS whose keys the test changes, counting the fetches."""

    def __init__(self) -> None:
        self.keys: dict[str, Any] = {"k1": rsa.generate_private_key(public_exponent=65537, key_size=2048)}
        self.fetches = 0
        self.down = False
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.fetches += 1
                if server.down:
                    self.send_error(503)
                    return
                body = json.dumps({"keys": [server.jwk(kid) for kid in server.keys]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/jwks"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def jwk(self, kid: str) -> dict[str, Any]:
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.keys[kid].public_key()))
        return {**public, "kid": kid, "use": "sig", "alg": "RS256"}

    def token(self, kid: str, signer: str | None = None) -> dict[str, str]:
        now = int(time.time())
        claims = {"iss": ISSUER, "aud": "api", "sub": "u", "iat": now, "exp": now + 300}
        key = self.keys[signer or kid]
        return {"Authorization": "Bearer " + jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})}


@pytest.fixture
def keys() -> Iterator[KeyServer]:
    server = KeyServer()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def client_for(keys: KeyServer, clock: Clock, **options: Any) -> Client:
    app = App("jwks")

    @app.http("GET", "/me", auth=BearerJWT(keys.url, issuer=ISSUER, audience="api", clock=clock, **options))
    def me(ctx: Context) -> str:
        assert ctx.principal is not None
        return ctx.principal.id

    return Client(app)


def test_unknown_key_ids_refetch_at_most_once_per_interval(keys: KeyServer) -> None:
    clock = Clock()
    client = client_for(keys, clock, refetch_interval=60)
    assert client.get("/me", headers=keys.token("k1")).status == 200
    assert keys.fetches == 1
    for _ in range(10):
        resp = client.get("/me", headers=keys.token("nope", signer="k1"))
        assert resp.status == 401
        assert resp.headers.get("content-type") == "application/problem+json"
        assert "UnknownKey" in resp.json()["detail"]
    assert keys.fetches == 1  # the first fetch was under a minute ago
    clock.now += 60
    assert client.get("/me", headers=keys.token("nope", signer="k1")).status == 401
    assert keys.fetches == 2  # one refetch once the interval passed...
    for _ in range(5):
        assert client.get("/me", headers=keys.token("nope", signer="k1")).status == 401
    assert keys.fetches == 2  # ...and none again within the next


def test_a_rotated_key_is_accepted_once_the_interval_allows_a_refetch(keys: KeyServer) -> None:
    clock = Clock()
    client = client_for(keys, clock, refetch_interval=30)
    assert client.get("/me", headers=keys.token("k1")).status == 200
    keys.keys["k2"] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert client.get("/me", headers=keys.token("k2")).status == 401  # within the interval
    clock.now += 30
    assert client.get("/me", headers=keys.token("k2")).status == 200
    assert client.get("/me", headers=keys.token("k1")).status == 200  # the old key still verifies
    assert keys.fetches == 2


def test_a_zero_interval_refetches_for_every_unknown_key(keys: KeyServer) -> None:
    client = client_for(keys, Clock(), refetch_interval=0)
    assert client.get("/me", headers=keys.token("k1")).status == 200
    for _ in range(3):
        assert client.get("/me", headers=keys.token("nope", signer="k1")).status == 401
    assert keys.fetches == 4


def test_an_issuer_that_is_down_is_asked_again_only_after_the_interval(keys: KeyServer) -> None:
    clock = Clock()
    client = client_for(keys, clock, refetch_interval=60)
    keys.down = True
    for _ in range(5):
        resp = client.get("/me", headers=keys.token("k1"))
        assert resp.status == 503
        assert resp.headers.get("content-type") == "application/problem+json"
    assert keys.fetches == 1  # the failed fetch is not repeated by every request
    keys.down = False
    assert client.get("/me", headers=keys.token("k1")).status == 503  # still within the interval
    clock.now += 60
    assert client.get("/me", headers=keys.token("k1")).status == 200
    assert keys.fetches == 2


def test_every_jwt_authenticator_puts_pyjwt_in_the_package() -> None:
    from portafn.auth.google import GoogleIAP, GoogleIDToken
    from portafn.package.extras import JWT, extra_requirements

    for guard in (GoogleIAP("/projects/1/apps/a"), GoogleIDToken("https://a.example")):
        app = App("g")

        @app.http("GET", "/x", auth=guard)
        def x() -> str:
            return "x"

        assert extra_requirements(app) == [JWT], type(guard).__name__

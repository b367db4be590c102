"""portafn.auth edges: roles, an unreachable key set, platform identity from API Gateway's authorizer."""

from __future__ import annotations

import json
import socket
from typing import Any

from portafn import App, Context, HttpRequest
from portafn.auth import APIKey, Authenticator, PlatformIdentity, Principal
from portafn.auth.bearer import BearerJWT
from portafn.testing import Client


class Header(Authenticator):
    """A test authenticator: the caller and roles named in headers."""

    def identify(self, request: HttpRequest) -> Principal:
        roles = frozenset(request.headers.get_list("x-roles"))
        return Principal(id=request.headers.get("x-user") or "anon", scheme="test", roles=roles)


def test_roles_need_any_one_of_them() -> None:
    app = App("a")

    @app.http("GET", "/x", auth=Header(roles=["admin", "ops"]))
    def x(ctx: Context) -> str:
        assert ctx.principal is not None
        return ctx.principal.id

    client = Client(app)
    assert client.get("/x", headers={"x-user": "u", "x-roles": "ops"}).status == 200
    denied = client.get("/x", headers={"x-user": "u", "x-roles": "viewer"})
    assert denied.status == 403
    assert denied.headers.get("content-type") == "application/problem+json"


def test_app_auth_applies_to_routes_unless_they_opt_out() -> None:
    app = App("a", auth=APIKey(lambda key: "svc" if key == "k" else None))

    @app.http("GET", "/private")
    def private(ctx: Context) -> str:
        return ctx.principal.id if ctx.principal else ""

    @app.http("GET", "/health", auth=False)
    def health(ctx: Context) -> str:
        return "principal" if ctx.principal else "anonymous"

    client = Client(app)
    assert client.get("/private").status == 401
    assert client.get("/private", headers={"X-API-Key": "k"}).text() == "svc"
    assert client.get("/health").text() == "anonymous"


def test_unreachable_key_set_is_a_503_problem() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: nothing listens there
    app = App("a")
    guard = BearerJWT(f"http://127.0.0.1:{port}/jwks", issuer="https://i/", audience="a", timeout=1)

    @app.http("GET", "/x", auth=guard)
    def x() -> str:
        return "x"

    # A well-formed but unverifiable token: the key set must be fetched to judge it.
    header = {"alg": "RS256", "kid": "k1", "typ": "JWT"}
    token = ".".join(_b64(json.dumps(part).encode()) for part in (header, {"sub": "s"})) + ".c2ln"
    resp = Client(app).get("/x", headers={"Authorization": f"Bearer {token}"})
    assert resp.status == 503
    assert resp.headers.get("content-type") == "application/problem+json"


def test_platform_identity_from_api_gateway_jwt_authorizer() -> None:
    from portafn_aws import lambda_handler

    app = App("a")

    @app.http("GET", "/me", auth=PlatformIdentity())
    def me(ctx: Context) -> str:
        assert ctx.principal is not None
        return ctx.principal.id

    handler = lambda_handler(app)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "GET /me",
        "rawPath": "/me",
        "rawQueryString": "",
        "headers": {},
        "requestContext": {
            "http": {"method": "GET", "path": "/me", "sourceIp": "127.0.0.1"},
            "requestId": "r-1",
            "authorizer": {"jwt": {"claims": {"sub": "user-42"}, "scopes": None}},
        },
        "isBase64Encoded": False,
    }
    assert handler(event, None)["statusCode"] == 200
    assert handler(event, None)["body"] == "user-42"
    del event["requestContext"]["authorizer"]
    assert handler(event, None)["statusCode"] == 401


def _b64(raw: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_platform_scopes_from_the_http_api_jwt_authorizer() -> None:
    from portafn_aws import lambda_handler

    app = App("a")

    @app.http("GET", "/me", auth=PlatformIdentity(scopes=["stock:read"]))
    def me(ctx: Context) -> list[str]:
        assert ctx.principal is not None
        return sorted(ctx.principal.scopes)

    handler = lambda_handler(app)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "GET /me",
        "rawPath": "/me",
        "rawQueryString": "",
        "headers": {},
        "requestContext": {
            "http": {"method": "GET", "path": "/me", "sourceIp": "127.0.0.1"},
            "requestId": "r-1",
            "authorizer": {"jwt": {"claims": {"sub": "u", "scope": "stock:read a"}, "scopes": ["b"]}},
        },
        "isBase64Encoded": False,
    }
    answered = handler(event, None)
    assert answered["statusCode"] == 200
    assert json.loads(answered["body"]) == ["a", "b", "stock:read"]
    event["requestContext"]["authorizer"]["jwt"]["claims"]["scope"] = "other"
    event["requestContext"]["authorizer"]["jwt"]["scopes"] = None
    assert handler(event, None)["statusCode"] == 403

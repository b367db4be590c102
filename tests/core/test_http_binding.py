"""Binding rules and every error status, through the runtime the adapters call."""

from __future__ import annotations

import json
import logging
from enum import Enum
from typing import Any

import pytest
from pydantic import BaseModel, Field

from portafn import App, Context, HttpError, HttpRequest, HttpResponse
from portafn.testing import LocalClient


class Color(Enum):
    RED = "red"
    BLUE = "blue"


class Body(BaseModel):
    name: str = Field(min_length=1)
    qty: int = Field(ge=1)


def make_app(max_body: int = 1024) -> App:
    app = App("binding", max_body_bytes=max_body)
    add_typed_parameter_routes(app)
    add_body_routes(app)
    add_request_and_error_routes(app)
    add_path_routes(app)
    return app


def add_typed_parameter_routes(app: App) -> None:
    """Path and query parameters bound to typed arguments."""

    @app.http("GET", "/typed/{n}/{color}")
    def typed(
        n: int, color: Color, flag: bool = False, tags: list[str] | None = None, ratio: float = 1.5
    ) -> dict[str, Any]:
        if tags is None:
            tags = []
        return {"n": n, "color": color.value, "flag": flag, "tags": tags, "ratio": ratio}

    @app.http("GET", "/required")
    def required(q: int) -> dict[str, int]:
        return {"q": q}


def add_body_routes(app: App) -> None:
    """A body bound as a model, bytes, text or a dict, and no body at all."""

    @app.http("POST", "/model")
    def model(body: Body) -> Body:
        return body

    @app.http("POST", "/bytes")
    def raw_bytes(body: bytes) -> HttpResponse:
        return HttpResponse(body[::-1], content_type="application/octet-stream")

    @app.http("POST", "/text")
    def text(body: str) -> str:
        return body.upper()

    @app.http("POST", "/dict")
    def as_dict(body: dict[str, Any]) -> list[str]:
        return sorted(body)

    @app.http("GET", "/none")
    def nothing() -> None:
        return None


def add_request_and_error_routes(app: App) -> None:
    """The whole request and context, an unexpected error and an ``HttpError``."""

    @app.http("GET", "/request")
    def whole(request: HttpRequest, ctx: Context) -> dict[str, Any]:
        return {
            "ua": request.headers.get("USER-AGENT"),
            "cookie": request.cookies.get("session"),
            "fn": ctx.function_name,
            "provider": ctx.provider,
        }

    @app.http("GET", "/boom")
    def boom() -> None:
        raise RuntimeError("secret-db-password=hunter2 in a stack trace")

    @app.http("GET", "/teapot")
    def teapot() -> None:
        raise HttpError(418, "short and stout", headers={"X-Pot": "1"})


def add_path_routes(app: App) -> None:
    """Routes on one path with two methods, a greedy path parameter and an async handler."""

    @app.http("DELETE", "/items/{id}")
    def remove(id: str) -> None: ...

    @app.http("GET", "/items/{id}")
    def fetch(id: str) -> dict[str, str]:
        return {"id": id}

    @app.http("GET", "/files/{path+}")
    def files(path: str) -> dict[str, str]:
        return {"path": path}

    @app.http("GET", "/async")
    async def in_async() -> dict[str, bool]:
        return {"async": True}


@pytest.fixture
def client() -> LocalClient:
    return LocalClient(make_app())


def problem_of(resp: HttpResponse) -> dict[str, Any]:
    assert resp.headers.get("content-type") == "application/problem+json"
    body = resp.json()
    assert body["status"] == resp.status
    return body  # type: ignore[no-any-return]


def test_path_and_query_are_typed(client: LocalClient) -> None:
    resp = client.get("/typed/42/blue", query="flag=true&tags=a&tags=b&ratio=0.25")
    assert resp.status == 200
    assert resp.json() == {
        "n": 42,
        "color": "blue",
        "flag": True,
        "tags": ["a", "b"],
        "ratio": 0.25,
    }


def test_query_defaults(client: LocalClient) -> None:
    assert client.get("/typed/1/red").json() == {
        "n": 1,
        "color": "red",
        "flag": False,
        "tags": [],
        "ratio": 1.5,
    }


def test_bad_path_and_query_values_are_400_naming_each_field(client: LocalClient) -> None:
    resp = client.get("/typed/x/green", query="ratio=abc")
    assert resp.status == 400
    locs = [tuple(e["loc"]) for e in problem_of(resp)["errors"]]
    assert locs == [("path", "n"), ("path", "color"), ("query", "ratio")]


def test_missing_required_query_is_400(client: LocalClient) -> None:
    resp = client.get("/required")
    assert resp.status == 400
    assert problem_of(resp)["errors"] == [{"loc": ["query", "q"], "msg": "Field required", "type": "missing"}]


def test_model_body_round_trips(client: LocalClient) -> None:
    resp = client.post("/model", json={"name": "pen", "qty": 2})
    assert resp.status == 200
    assert resp.headers.get("content-type") == "application/json"
    assert resp.json() == {"name": "pen", "qty": 2}


def test_invalid_model_body_names_each_bad_field(client: LocalClient) -> None:
    resp = client.post("/model", json={"name": "", "qty": 0, "extra": 1})
    assert resp.status == 400
    errors = problem_of(resp)["errors"]
    assert [e["loc"] for e in errors] == [["body", "name"], ["body", "qty"]]
    # Input values never echo back: they may hold secrets.
    assert "input" not in json.dumps(errors)


def test_malformed_json_is_400(client: LocalClient) -> None:
    resp = client.post("/model", body=b"{not json", headers={"content-type": "application/json"})
    assert resp.status == 400
    assert problem_of(resp)["errors"][0]["loc"] == ["body"]


def test_missing_body_is_400(client: LocalClient) -> None:
    resp = client.post("/model")
    assert resp.status == 400


def test_wrong_content_type_is_415(client: LocalClient) -> None:
    resp = client.post(
        "/model", body=b"name=pen", headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert resp.status == 415


def test_body_over_limit_is_413(client: LocalClient) -> None:
    resp = client.post("/text", body=b"x" * 1025, headers={"content-type": "text/plain"})
    assert resp.status == 413
    assert client.post("/text", body=b"x" * 1024, headers={"content-type": "text/plain"}).status == 200


def test_bytes_str_and_dict_bodies(client: LocalClient) -> None:
    binary = bytes(range(256))
    resp = client.post("/bytes", body=binary)
    assert resp.body == binary[::-1]
    assert resp.is_binary
    assert client.post("/text", body="hello", headers={"content-type": "text/plain"}).text() == "HELLO"
    assert client.post("/dict", json={"b": 1, "a": 2}).json() == ["a", "b"]


def test_none_is_204(client: LocalClient) -> None:
    resp = client.get("/none")
    assert resp.status == 204
    assert resp.body == b""


def test_request_and_context_injection(client: LocalClient) -> None:
    resp = client.get("/request", headers={"user-agent": "ua/1", "Cookie": "session=abc; theme=dark"})
    assert resp.json() == {"ua": "ua/1", "cookie": "abc", "fn": "whole", "provider": "local"}


def test_unknown_route_is_404(client: LocalClient) -> None:
    assert problem_of(client.get("/nowhere"))["status"] == 404


def test_wrong_method_is_405_with_allow(client: LocalClient) -> None:
    resp = client.request("PUT", "/items/1")
    assert resp.status == 405
    assert resp.headers.get("Allow") == "DELETE, GET"


def test_greedy_path_parameter(client: LocalClient) -> None:
    assert client.get("/files/a/b/c.txt").json() == {"path": "a/b/c.txt"}


def test_handler_exception_is_500_without_internals(
    client: LocalClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="portafn"):
        resp = client.get("/boom", headers={"X-Correlation-Id": "corr-123"})
    assert resp.status == 500
    body = problem_of(resp)
    assert body["correlation_id"] == "corr-123"
    assert resp.headers.get("X-Correlation-Id") == "corr-123"
    assert "hunter2" not in resp.text()
    assert "Traceback" not in resp.text()
    assert "RuntimeError" not in resp.text()
    # The traceback goes to the log instead.
    assert any(r.exc_info for r in caplog.records)


def test_http_error_sets_status_detail_and_headers(client: LocalClient) -> None:
    resp = client.get("/teapot")
    assert resp.status == 418
    assert problem_of(resp)["detail"] == "short and stout"
    assert resp.headers.get("X-Pot") == "1"


def test_async_handlers(client: LocalClient) -> None:
    assert client.get("/async").json() == {"async": True}


def test_http_response_passes_as_is() -> None:
    app = App("r")

    @app.http("GET", "/r")
    def r() -> HttpResponse:
        return HttpResponse(
            b"\x89PNG",
            status=202,
            headers=[("X-A", "1"), ("X-A", "2")],
            content_type="image/png",
            cookies=["a=1; Path=/"],
        )

    resp = LocalClient(app).get("/r")
    assert (resp.status, resp.body, resp.headers.get_all("x-a"), resp.cookies) == (
        202,
        b"\x89PNG",
        ["1", "2"],
        ["a=1; Path=/"],
    )
    assert resp.is_binary

"""CORS policies: refused when made wrong, free when absent, and safe with hostile headers."""

from __future__ import annotations

import pytest

from portafn import App, RegistrationError
from portafn.cors import CORS
from portafn.testing import Client


@pytest.mark.parametrize(
    "kwargs",
    [
        {"allow_origins": []},
        {"allow_origins": ["https://x.example/path"]},
        {"allow_origins": ["*"], "allow_credentials": True},
        {"allow_origins": ["*"], "allow_methods": ["FETCH"]},
        {"allow_origins": ["*"], "max_age": -1},
        {"allow_origins": ["*"], "allow_headers": ["bad header"]},
    ],
)
def test_a_wrong_policy_is_refused_when_made(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="CORS"):
        CORS(**kwargs)  # type: ignore[arg-type]


def test_route_cors_takes_a_policy_only() -> None:
    app = App("c")
    with pytest.raises(RegistrationError):
        app.http("GET", "/x", cors="*")(lambda: None)  # type: ignore[arg-type]


def test_no_cors_declared_means_no_layer() -> None:
    app = App("c")

    @app.http("GET", "/x")
    def x() -> str:
        return "x"

    assert app.hooks.cors is None
    assert Client(app).get("/x", headers={"Origin": "https://a.example"}).headers.get("Vary") is None


def test_a_route_policy_alone_builds_the_layer() -> None:
    app = App("c")

    @app.http("GET", "/x", cors=CORS(["https://a.example"]))
    def x() -> str:
        return "x"

    assert app.hooks.cors is not None
    resp = Client(app).get("/x", headers={"Origin": "https://a.example"})
    assert resp.headers.get("Access-Control-Allow-Origin") == "https://a.example"


def test_requested_headers_that_are_not_tokens_are_refused() -> None:
    app = App("c", cors=CORS(["*"]))

    @app.http("GET", "/x")
    def x() -> str:
        return "x"

    resp = Client(app).request(
        "OPTIONS",
        "/x",
        headers={
            "Origin": "https://a.example",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "x-ok, bad(header)",
        },
    )
    assert resp.status == 403
    assert "bad(header)" not in resp.text()

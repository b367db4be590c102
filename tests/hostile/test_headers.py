"""Response splitting is refused on every path; the correlation id is echoed only when safe."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from portafn import HttpRequest
from portafn.http import Headers, unsafe_header
from portafn.runtime import CORRELATION_HEADER, Runtime
from tests.hostile.apps import app
from tests.hostile.test_differential import Spec, _lambda_answer, _LambdaContext, http_v2, rest_v1

HOSTILE = ["a\r\nSet-Cookie: evil=1", "a\nb", "a\rb", "a\x00b", "\r\n\r\n<html>"]


def _doc(body: bytes) -> dict[str, Any]:
    return dict(json.loads(body))


@pytest.mark.parametrize("value", HOSTILE)
def test_the_runtime_refuses_a_header_with_cr_lf_or_nul(value: str, caplog: pytest.LogCaptureFixture) -> None:
    runtime = Runtime(app)
    with caplog.at_level(logging.ERROR, logger="portafn.runtime"):
        resp = runtime.handle_http(HttpRequest("GET", "/inject", query={"value": [value]}))
    assert resp.status == 500
    assert resp.content_type == "application/problem+json"
    assert resp.json()["header"] == "X-Echo"
    assert "X-Echo" in resp.json()["detail"]
    assert resp.headers.get("x-echo") is None
    assert any("X-Echo" in r.getMessage() for r in caplog.records)


def test_a_cookie_with_a_newline_is_refused() -> None:
    resp = Runtime(app).handle_http(HttpRequest("GET", "/inject-cookie", query={"value": ["a\r\nX-Evil: 1"]}))
    assert resp.status == 500
    assert resp.json()["header"] == "Set-Cookie"
    assert resp.cookies == []


def test_a_clean_value_passes() -> None:
    resp = Runtime(app).handle_http(HttpRequest("GET", "/inject", query={"value": ["fine value"]}))
    assert resp.status == 200
    assert resp.headers.get("X-Echo") == "fine value"


@pytest.mark.parametrize(
    ("name", "value", "bad"),
    [
        ("X-Ok", "v", None),
        ("X Bad", "v", "X Bad"),
        ("X-Nul\x00", "v", "X-Nul?"),
        ("X:Colon", "v", "X:Colon"),
        ("X-Tab", "a\tb", None),  # a tab is allowed inside a field value (RFC 9110 5.5)
    ],
)
def test_unsafe_header_names_the_header(name: str, value: str, bad: str | None) -> None:
    assert unsafe_header(Headers([(name, value)])) == bad


def test_the_lambda_handler_never_passes_cr_lf_to_api_gateway() -> None:
    from portafn_aws.entry import lambda_handler

    handler = lambda_handler(app)
    for make in (rest_v1, http_v2):
        event = make(Spec("GET", "x", [], [], []))
        event.update(
            {
                "resource": "/inject",
                "path": "/inject",
                "rawPath": "/inject",
                "pathParameters": None,
                "multiValueQueryStringParameters": {"value": [HOSTILE[0]]},
                "queryStringParameters": {"value": HOSTILE[0]},
                "rawQueryString": "value=a%0D%0ASet-Cookie:%20evil=1",
            }
        )
        out = handler(event, _LambdaContext())
        answer = _lambda_answer(out)
        assert answer.status == 500
        assert _doc(answer.body)["header"] == "X-Echo"
        assert not any("\r" in v or "\n" in v for v in answer.headers.values())
        assert "evil" not in json.dumps(out.get("multiValueHeaders") or out.get("headers"))


def test_gcp_answers_problem_json_not_an_html_500() -> None:
    import functions_framework

    from tests.hostile import test_differential

    source = test_differential.Path(test_differential.__file__).with_name("gcp_entry.py")
    client = functions_framework.create_app(target="http", source=str(source)).test_client()  # type: ignore[no-untyped-call]
    resp = client.get("/inject?value=a%0D%0ASet-Cookie:%20evil=1")
    assert resp.status_code == 500
    assert resp.headers["Content-Type"] == "application/problem+json"
    assert resp.get_json()["header"] == "X-Echo"


def test_azure_answers_problem_json() -> None:
    from portafn_azure.driver import AzureDriver

    resp = AzureDriver(app).http(HttpRequest("GET", "/inject", query={"value": [HOSTILE[0]]}))
    assert resp.status == 500
    assert resp.json()["header"] == "X-Echo"


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("abc-123", True),
        ("a.b:c_d", True),
        ("abc\n", False),
        ("abc\r\n", False),
        ("abc\x00", False),
        ("a" * 128, True),
        ("a" * 129, False),
        ("", False),
        ("<script>", False),
        ("abc def", False),
    ],
)
def test_the_correlation_id_must_fullmatch(given: str, kept: bool) -> None:
    resp = Runtime(app).handle_http(HttpRequest("GET", "/seg/a", headers={CORRELATION_HEADER: given}), None)
    echoed = resp.headers.get(CORRELATION_HEADER)
    assert echoed is not None
    assert (echoed == given) is kept
    assert "\n" not in echoed


def test_a_traceparent_with_a_trailing_newline_is_not_trusted() -> None:
    trace = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    good = Runtime(app).handle_http(HttpRequest("GET", "/seg/a", headers={"traceparent": trace}))
    assert good.headers.get(CORRELATION_HEADER) == "0af7651916cd43dd8448eb211c80319c"
    # A stripped value is still the same traceparent; an embedded newline is not.
    bad = Runtime(app).handle_http(
        HttpRequest("GET", "/seg/a", headers={"traceparent": trace.replace("-01", "-01\nX")})
    )
    assert bad.headers.get(CORRELATION_HEADER) != "0af7651916cd43dd8448eb211c80319c"

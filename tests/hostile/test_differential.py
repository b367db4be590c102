"""One request, one answer: generated requests through every path must look the same to the handler.

Each generated request (unicode and percent-encoded path segments, ``%2F``, repeated query keys,
empty values, repeated headers, cookies, binary, empty and large bodies) goes through:

- ``portafn serve`` over a real socket (one subprocess for this module);
- the Lambda handler, as API Gateway REST (payload 1.0), HTTP API (2.0), a function URL, and an
  ALB target group with multi-value headers on and off;
- Azure, through the azure-functions library's request and response converters and the indexed
  ``FunctionApp`` function (the host itself cannot run here);
- Google, through functions-framework's ``create_app`` and its werkzeug test client.

The handler echoes what it saw; every path must give the neutral request the spec defines
(docs/concepts/http.md) and the client the same status, headers and body. Where a provider itself
cannot carry something (ALB single-value keeps the last of repeated query keys and headers), the
expected request is the one the docs promise for it.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.hostile.apps import ECHO_HEADERS, app

EXAMPLES = int(os.environ.get("PORTAFN_DIFFERENTIAL_EXAMPLES", "2000"))
LARGE = random.Random(16).randbytes(40_000)
_TOKEN = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.!~*'"


@dataclass(frozen=True)
class Spec:
    """A request as the client sends it."""

    method: str
    segment: str  # decoded; sent percent-encoded, so "/" inside travels as %2F
    query: list[tuple[str, str]]
    headers: list[tuple[str, str]]
    cookies: list[tuple[str, str]]
    body: bytes = b""
    raw_path: str = field(init=False)
    raw_query: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "raw_path", "/seg/" + quote(self.segment, safe=""))
        raw_query = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in self.query)
        object.__setattr__(self, "raw_query", raw_query)

    @property
    def target(self) -> str:
        return self.raw_path + (f"?{self.raw_query}" if self.raw_query else "")

    @property
    def all_headers(self) -> list[tuple[str, str]]:
        cookie = "; ".join(f"{k}={v}" for k, v in self.cookies)
        return [*self.headers, *([("Cookie", cookie)] if cookie else [])]


def expected(spec: Spec, *, last_only: bool = False) -> dict[str, Any]:
    """The neutral request the handler must see (``last_only``: ALB single-value mode)."""
    query: dict[str, list[str]] = {}
    for k, v in spec.query:
        query.setdefault(k, []).append(v)
    headers = {name: [v for k, v in spec.headers if k.lower() == name] for name in ECHO_HEADERS}
    if last_only:
        query = {k: vs[-1:] for k, vs in query.items()}
        headers = {k: vs[-1:] for k, vs in headers.items()}
    return {
        "method": spec.method,
        "value": spec.segment,
        "query": query,
        "headers": headers,
        "cookies": dict(spec.cookies),
        "body_len": len(spec.body),
        "body_sha": hashlib.sha256(spec.body).hexdigest(),
    }


@dataclass
class Answer:
    """What the client got, normalised only where HTTP itself makes two spellings equal."""

    status: int
    headers: dict[str, str]
    cookies: list[str]
    body: bytes

    def seen(self) -> dict[str, Any]:
        text = base64.b64decode(self.headers["x-seen"]) if "x-seen" in self.headers else self.body
        return dict(json.loads(text))

    def comparable(self) -> tuple[int, dict[str, str], list[list[str]], bytes]:
        keep = {k: v for k, v in self.headers.items() if k in ("content-type", "x-seen", "x-seen-values")}
        # The azure-functions library re-serialises Set-Cookie: attributes may change order and case.
        cookies = [sorted(part.strip().lower() for part in c.split(";")) for c in self.cookies]
        return self.status, keep, cookies, self.body


def _answer(status: int, pairs: list[tuple[str, str]], body: bytes) -> Answer:
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in pairs:
        if name.lower() == "set-cookie":
            cookies.append(value)
        else:
            headers[name.lower()] = value
    return Answer(status, headers, cookies, body)


# -- paths ----------------------------------------------------------------------------------------


_connections: dict[int, http.client.HTTPConnection] = {}


def via_serve(port: int, spec: Spec) -> Answer:
    """One request over a kept-alive connection to the served subprocess."""
    conn = _connections.get(port) or http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    _connections[port] = conn
    try:
        conn.putrequest(spec.method, spec.target, skip_accept_encoding=True)
        for name, value in spec.all_headers:
            conn.putheader(name, value)
        conn.putheader("Content-Length", str(len(spec.body)))
        conn.endheaders(spec.body)
        resp = conn.getresponse()
        answer = _answer(resp.status, resp.getheaders(), resp.read())
    except Exception:
        _connections.pop(port, None)
        conn.close()
        raise
    if resp.will_close:
        _connections.pop(port, None)
        conn.close()
    return answer


class _LambdaContext:
    aws_request_id = "req-1"
    function_name = "hostile"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def _lambda_answer(out: dict[str, Any]) -> Answer:
    body = base64.b64decode(out["body"]) if out.get("isBase64Encoded") else str(out["body"]).encode()
    pairs: list[tuple[str, str]] = []
    for name, values in (out.get("multiValueHeaders") or {}).items():
        pairs.extend((name, v) for v in values)
    pairs.extend((out.get("headers") or {}).items())
    pairs.extend(("Set-Cookie", c) for c in out.get("cookies") or [])
    return _answer(int(out["statusCode"]), pairs, body)


def _body_fields(spec: Spec) -> dict[str, Any]:
    return {"body": base64.b64encode(spec.body).decode(), "isBase64Encoded": True}


def rest_v1(spec: Spec) -> dict[str, Any]:
    """API Gateway REST API (payload 1.0): path and parameters arrive decoded."""
    query: dict[str, list[str]] = {}
    for k, v in spec.query:
        query.setdefault(k, []).append(v)
    multi_headers: dict[str, list[str]] = {}
    spelling: dict[str, str] = {}
    for k, v in spec.all_headers:
        # Header names are case-insensitive: one entry per name, spelled as first seen.
        multi_headers.setdefault(spelling.setdefault(k.lower(), k), []).append(v)
    return {
        "resource": "/seg/{value}",
        "path": "/seg/" + spec.segment,
        "httpMethod": spec.method,
        "headers": {k: vs[-1] for k, vs in multi_headers.items()} or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": {k: vs[-1] for k, vs in query.items()} or None,
        "multiValueQueryStringParameters": query or None,
        "pathParameters": {"value": spec.segment},
        "requestContext": {"httpMethod": spec.method, "identity": {"sourceIp": "192.0.2.1"}, "stage": "prod"},
        **_body_fields(spec),
    }


def http_v2(spec: Spec, *, function_url: bool = False) -> dict[str, Any]:
    """HTTP API / function URL (payload 2.0): raw path and query, headers joined, cookies apart."""
    joined: dict[str, list[str]] = {}
    for k, v in spec.headers:
        joined.setdefault(k.lower(), []).append(v)
    domain = "abc.lambda-url.eu-west-1.on.aws" if function_url else "abc.execute-api.eu-west-1.amazonaws.com"
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": spec.raw_path,
        "rawQueryString": spec.raw_query,
        "headers": {k: ",".join(vs) for k, vs in joined.items()},
        "requestContext": {
            "domainName": domain,
            "http": {"method": spec.method, "path": unquote(spec.raw_path), "sourceIp": "192.0.2.1"},
        },
        **_body_fields(spec),
    }
    if spec.cookies:
        event["cookies"] = [f"{k}={v}" for k, v in spec.cookies]
    return event


def alb(spec: Spec, *, multi: bool) -> dict[str, Any]:
    """ALB: raw path, query still percent-encoded; multi-value mode or last-value-wins."""
    query: dict[str, list[str]] = {}
    for k, v in spec.query:
        query.setdefault(quote(k, safe=""), []).append(quote(v, safe=""))
    headers: dict[str, list[str]] = {}
    for k, v in spec.all_headers:
        headers.setdefault(k.lower(), []).append(v)
    event: dict[str, Any] = {
        "requestContext": {
            "elb": {"targetGroupArn": "arn:aws:elasticloadbalancing:eu-west-1:1:targetgroup/t/1"}
        },
        "httpMethod": spec.method,
        "path": spec.raw_path,
        **_body_fields(spec),
    }
    if multi:
        event["multiValueQueryStringParameters"] = query
        event["multiValueHeaders"] = headers
    else:
        event["queryStringParameters"] = {k: vs[-1] for k, vs in query.items()}
        event["headers"] = {k: vs[-1] for k, vs in headers.items()}
    return event


@pytest.fixture(scope="module")
def lambda_paths() -> dict[str, Callable[[Spec], Answer]]:
    from portafn_aws.entry import lambda_handler

    handler = lambda_handler(app)

    def run(make: Callable[[Spec], dict[str, Any]]) -> Callable[[Spec], Answer]:
        return lambda spec: _lambda_answer(handler(make(spec), _LambdaContext()))

    return {
        "aws-rest-v1": run(rest_v1),
        "aws-http-v2": run(http_v2),
        "aws-function-url": run(lambda s: http_v2(s, function_url=True)),
        "aws-alb-multi": run(lambda s: alb(s, multi=True)),
    }


@pytest.fixture(scope="module")
def alb_single() -> Callable[[Spec], Answer]:
    from portafn_aws.entry import lambda_handler

    handler = lambda_handler(app)
    return lambda spec: _lambda_answer(handler(alb(spec, multi=False), _LambdaContext()))


@pytest.fixture(scope="module")
def azure_path() -> Callable[[Spec], Answer]:
    from azure.functions.http import HttpRequestConverter, HttpResponseConverter
    from azure.functions.meta import Datum
    from portafn_azure.driver import AzureDriver, decode_http_response

    driver = AzureDriver(app)

    def run(spec: Spec) -> Answer:
        # What the host sends the worker: the URL as received, repeated headers joined.
        headers: dict[str, list[str]] = {}
        for k, v in spec.all_headers:
            headers.setdefault(k.lower(), []).append(v)
        query: dict[str, str] = {}
        for k, v in spec.query:
            query[k] = v
        datum = Datum(
            type="http",
            value={
                "method": Datum(spec.method, "string"),
                "url": Datum(f"http://localhost:7071/api{spec.target}", "string"),
                "headers": {k: Datum(", ".join(vs), "string") for k, vs in headers.items()},
                "query": {k: Datum(v, "string") for k, v in query.items()},
                "params": {"value": Datum(spec.segment, "string")},
                "body": Datum(spec.body, "bytes"),
            },
        )
        name = "get_seg" if spec.method == "GET" else "post_seg"
        req = HttpRequestConverter.decode(datum, trigger_metadata={})
        resp = driver.call(name, req)
        out = decode_http_response(HttpResponseConverter.encode(resp, expected_type=None))
        return _answer(
            out.status, [*out.headers.items(), *(("Set-Cookie", c) for c in out.cookies)], out.body
        )

    return run


@pytest.fixture(scope="module")
def gcp_path() -> Callable[[Spec], Answer]:
    import functions_framework

    source = Path(__file__).with_name("gcp_entry.py")
    client = functions_framework.create_app(target="http", source=str(source)).test_client(use_cookies=False)  # type: ignore[no-untyped-call]

    def run(spec: Spec) -> Answer:
        resp = client.open(spec.target, method=spec.method, headers=spec.all_headers, data=spec.body)
        return _answer(resp.status_code, list(resp.headers.items()), resp.get_data())

    return run


# -- generated requests ----------------------------------------------------------------------------

# A chosen alphabet keeps generation cheap (2,000 examples in CI) while covering what matters:
# reserved and percent characters, space, controls, and one-, two-, three- and four-byte UTF-8.
_ALPHABET = list("aZ09-._~") + list("/?#[]@!$&'()*+,;=%") + [" ", "\t", "\n", "\x00", "\x7f"]
_ALPHABET += ["\u00e9", "\u00fc", "\u00a0", "\u4e2d", "\u200b", "\ufeff", "\U0001f600", "\u0301"]
_text = st.text(st.sampled_from(_ALPHABET), max_size=8)
_segments = st.one_of(
    _text.filter(lambda s: s not in ("", ".", "..")),
    st.sampled_from(
        ["a/b", "caf\u00e9", "%2F", "a%b", "..a", " ", "\u00e9/\u00e9", "x+y", "?#", "\U0001f600"]
    ),
)
_tokens = st.text(st.sampled_from(_TOKEN), min_size=1, max_size=6)
_query = st.lists(st.tuples(st.sampled_from(["q", "tag", "e", "x y"]), _text), max_size=5)
_headers = st.lists(st.tuples(st.sampled_from(["X-H-A", "x-h-b", "X-h-a"]), _tokens), max_size=4)
_cookies = st.lists(
    st.tuples(
        st.sampled_from(["sid", "theme", "a"]), st.text(st.sampled_from("abcXYZ019"), min_size=1, max_size=6)
    ),
    max_size=3,
    unique_by=lambda c: c[0],
)
_bodies = st.one_of(
    st.just(b""), st.binary(max_size=64), st.just(LARGE), st.text(max_size=20).map(str.encode)
)


@st.composite
def specs(draw: st.DrawFn) -> Spec:
    method = draw(st.sampled_from(["GET", "POST"]))
    body = draw(_bodies) if method == "POST" else b""
    return Spec(method, draw(_segments), draw(_query), draw(_headers), draw(_cookies), body)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(spec=specs())
def test_every_path_gives_the_same_request_and_answer(
    spec: Spec,
    served_port: int,
    lambda_paths: dict[str, Callable[[Spec], Answer]],
    alb_single: Callable[[Spec], Answer],
    azure_path: Callable[[Spec], Answer],
    gcp_path: Callable[[Spec], Answer],
) -> None:
    reference = via_serve(served_port, spec)
    assert reference.status == 200, reference.body[:300]
    assert reference.seen() == expected(spec)
    answers = {**{name: run(spec) for name, run in lambda_paths.items()}}
    answers["azure"] = azure_path(spec)
    gcp = gcp_path(spec)
    if "\n" in spec.segment:
        # functions-framework routes ``/<path:path>`` on the decoded path, and werkzeug's path
        # converter does not match a newline: flask answers its own 404 before portafn runs
        # (docs/concepts/http.md, "What a provider cannot carry").
        assert gcp.status == 404
    else:
        answers["gcp"] = gcp
    for name, answer in answers.items():
        assert answer.seen() == expected(spec), name
        assert answer.comparable() == reference.comparable(), name
    single = alb_single(spec)
    assert single.seen() == expected(spec, last_only=True)
    # ALB single-value mode carries one value per header name; status and type still agree.
    assert single.status == reference.status
    assert single.headers.get("content-type") == reference.headers.get("content-type")


def test_encoded_slash_stays_in_its_parameter_on_every_path(
    served_port: int,
    lambda_paths: dict[str, Callable[[Spec], Answer]],
    azure_path: Callable[[Spec], Answer],
    gcp_path: Callable[[Spec], Answer],
) -> None:
    spec = Spec("GET", "a/b", [], [], [])
    assert spec.raw_path == "/seg/a%2Fb"
    paths = {
        "serve": lambda s: via_serve(served_port, s),
        **lambda_paths,
        "azure": azure_path,
        "gcp": gcp_path,
    }
    for name, run in paths.items():
        answer = run(spec)
        assert answer.status == 200, name
        assert answer.seen()["value"] == "a/b", name


def test_unicode_is_decoded_once_on_every_path(
    served_port: int,
    lambda_paths: dict[str, Callable[[Spec], Answer]],
    azure_path: Callable[[Spec], Answer],
    gcp_path: Callable[[Spec], Answer],
) -> None:
    # "%25C3%25A9" is the text "%C3%A9": decoding twice would give "é".
    for segment in ("caf\u00e9", "%C3%A9"):
        spec = Spec("GET", segment, [], [], [])
        paths = {
            "serve": lambda s: via_serve(served_port, s),
            **lambda_paths,
            "azure": azure_path,
            "gcp": gcp_path,
        }
        for name, run in paths.items():
            assert run(spec).seen()["value"] == segment, name

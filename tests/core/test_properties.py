"""Property tests: random paths, headers and bodies never produce a 500 or a traceback."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, Field

from portafn import App, Context, HttpRequest
from portafn.http import Headers
from portafn.runtime import Runtime


class Payload(BaseModel):
    name: str = Field(max_length=50)
    count: int
    tags: list[str] = []


app = App("props", max_body_bytes=4096)


@app.http("POST", "/things/{thing_id}")
def create(thing_id: int, body: Payload, ctx: Context, mode: str = "a", n: int = 1) -> dict[str, Any]:
    return {"id": thing_id, "name": body.name, "mode": mode, "n": n}


@app.http("GET", "/things/{thing_id}")
def read(thing_id: str, request: HttpRequest) -> dict[str, Any]:
    return {"id": thing_id, "cookies": request.cookies, "q": request.query}


@app.http("PUT", "/raw/{name}")
def raw(name: str, body: bytes) -> bytes:
    return body


runtime = Runtime(app)
methods = st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"])
segment = st.text(min_size=0, max_size=12)
paths = st.one_of(
    st.lists(segment, max_size=5).map(lambda parts: "/" + "/".join(parts)),
    st.builds(lambda s: f"/things/{s}", segment),
    st.text(max_size=40),
)
header_names = st.text(
    alphabet=st.characters(min_codepoint=33, max_codepoint=126, exclude_characters=":"),
    min_size=1,
    max_size=20,
)
header_values = st.text(max_size=60)
headers = st.lists(
    st.tuples(
        st.one_of(
            header_names,
            st.sampled_from(["content-type", "cookie", "traceparent", "x-correlation-id"]),
        ),
        header_values,
    ),
    max_size=8,
)
bodies = st.one_of(
    st.binary(max_size=5000),
    st.dictionaries(
        st.text(max_size=10), st.one_of(st.integers(), st.text(max_size=20), st.none()), max_size=5
    ).map(lambda d: repr(d).encode()),
    st.builds(
        lambda n, c: f'{{"name": {n!r}, "count": {c}}}'.replace("'", '"').encode(),
        st.text(max_size=60),
        st.integers(),
    ),
)
queries = st.text(max_size=60)


def assert_clean(resp_status: int, text: str) -> None:
    assert resp_status < 500, text
    assert "Traceback" not in text
    assert 'File "' not in text


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(method=methods, path=paths, hdrs=headers, body=bodies, query=queries)
def test_random_requests_never_500(
    method: str, path: str, hdrs: list[tuple[str, str]], body: bytes, query: str
) -> None:
    resp = runtime.handle_http(HttpRequest(method, path, query=query, headers=Headers(hdrs), body=body))
    assert_clean(resp.status, resp.text())


@settings(max_examples=200, deadline=None)
@given(
    thing_id=st.text(max_size=20),
    name=st.text(max_size=80),
    count=st.one_of(st.integers(), st.text(max_size=5), st.none()),
    ctype=st.sampled_from(
        [
            "application/json",
            "application/json; charset=utf-8",
            "text/plain",
            "",
            "application/cloudevents+json",
        ]
    ),
)
def test_random_json_bodies_are_200_400_or_415(thing_id: str, name: str, count: Any, ctype: str) -> None:
    import json

    body = json.dumps({"name": name, "count": count}).encode()
    resp = runtime.handle_http(
        HttpRequest(
            "POST",
            f"/things/{thing_id}",
            headers={"content-type": ctype} if ctype else None,
            body=body,
        )
    )
    assert resp.status in (200, 400, 404, 415), resp.text()
    assert_clean(resp.status, resp.text())

"""Client-controlled parameters: constraints honoured (400 naming the parameter) or refused at
registration; a garbage cursor is a 400 problem, never a 500."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import pytest
from pydantic import Field

from portafn import App, HttpRequest
from portafn.errors import RegistrationError
from portafn.runtime import Runtime
from portafn.store.registry import set_default_store
from tests.hostile.apps import app

runtime = Runtime(app)


def get(path: str, **query: str) -> Any:
    return runtime.handle_http(HttpRequest("GET", path, query={k: [v] for k, v in query.items()}))


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"limit": "-5"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"code": "ABC"}, "code"),
        ({"code": "abcd"}, "code"),
        ({"code": "a\nb"}, "code"),
        ({"page": "0"}, "page"),
    ],
)
def test_a_query_constraint_is_a_400_naming_the_parameter(query: dict[str, str], param: str) -> None:
    resp = get("/items", **query)
    assert resp.status == 400
    assert resp.content_type == "application/problem+json"
    assert [e["loc"] for e in resp.json()["errors"]] == [["query", param]]


def test_values_inside_the_constraints_pass() -> None:
    resp = get("/items", limit="100", code="xyz", page="3")
    assert resp.status == 200
    assert resp.json() == {"limit": 100, "code": "xyz", "page": 3}
    assert get("/items").json() == {"limit": 10, "code": "abc", "page": 1}


def tenant(headers: list[tuple[str, str]]) -> Any:
    return runtime.handle_http(HttpRequest("GET", "/tenant", headers=headers))


def test_header_parameters_are_bound_with_their_constraints() -> None:
    ok = tenant([("X-Tenant", "t-1"), ("Accept", "a/b, c/d"), ("Accept", "e/f"), ("X-Page-Size", "5")])
    assert ok.status == 200
    assert ok.json() == {"tenant": "t-1", "accept": ["a/b", "c/d", "e/f"], "page_size": 5}


@pytest.mark.parametrize(
    ("headers", "loc"),
    [
        ([], ["header", "x-tenant"]),
        ([("X-Tenant", "t-1\r\nX: y")], ["header", "x-tenant"]),
        ([("X-Tenant", "other")], ["header", "x-tenant"]),
        ([("X-Tenant", "t-1"), ("X-Page-Size", "0")], ["header", "x-page-size"]),
        ([("X-Tenant", "t-1"), ("Accept", "a, b, c, d")], ["header", "accept"]),
    ],
)
def test_a_header_constraint_is_a_400_naming_the_header(
    headers: list[tuple[str, str]], loc: list[str]
) -> None:
    resp = tenant(headers)
    assert resp.status == 400
    assert [e["loc"][:2] for e in resp.json()["errors"]] == [loc]


@pytest.mark.parametrize("item", ["0", "-1"])
def test_a_path_constraint_is_a_400_naming_the_parameter(item: str) -> None:
    resp = get(f"/items/{item}")
    assert resp.status == 400
    assert resp.json()["errors"][0]["loc"] == ["path", "item_id"]


def test_constraints_work_through_serve(served_port: int) -> None:
    from tests.hostile.test_serve import exchange

    status, headers, body = exchange(
        served_port, b"GET /items?limit=0 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    assert status == 400
    assert b'"limit"' in body
    assert headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    ("annotation", "message"),
    [
        (Annotated[int, Field(pattern="^x$")], "'pattern' cannot apply to int"),
        (Annotated[bool, Field(ge=1)], "'ge' cannot apply to bool"),
        (Annotated[str, Field(gt=3)], "'gt' cannot apply to str"),
        (Annotated[int, Field(max_length=3)], "'max_length' cannot apply to int"),
        (Annotated[int, Field(alias="n")], "Field(alias=...) is not supported"),
    ],
)
def test_a_constraint_that_cannot_apply_fails_registration(annotation: Any, message: str) -> None:
    other = App("refused")

    def handler(n: int) -> None:
        return None

    # Set at run time: the module's postponed annotations would otherwise be a name to resolve.
    handler.__annotations__ = {"n": annotation, "return": None}

    with pytest.raises(RegistrationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        other.http("GET", "/x")(handler)


def test_list_query_parameters_take_length_and_element_constraints() -> None:
    other = App("lists")

    @other.http("GET", "/tags")
    def tags(tag: Annotated[list[Annotated[str, Field(max_length=3)]], Field(max_length=2)]) -> list[str]:
        return tag

    rt = Runtime(other)
    ok = rt.handle_http(HttpRequest("GET", "/tags", query="tag=a&tag=b"))
    assert ok.json() == ["a", "b"]
    assert rt.handle_http(HttpRequest("GET", "/tags", query="tag=a&tag=b&tag=c")).status == 400
    assert rt.handle_http(HttpRequest("GET", "/tags", query="tag=abcd")).status == 400


def _orders_page(url: str, cursor: str) -> Any:
    from portafn.store.registry import open_store
    from samples.orders.app import app as orders_app

    set_default_store(open_store(url))
    try:
        return Runtime(orders_app).handle_http(
            HttpRequest("GET", "/customers/c1/orders", query={"cursor": [cursor]})
        )
    finally:
        set_default_store(None)


def test_an_invalid_cursor_is_a_400_problem_without_the_cursor() -> None:
    from portafn.store.cursor import decode_cursor

    other = App("cursors")

    @other.http("GET", "/page")
    def page(cursor: str) -> None:
        decode_cursor(cursor, scope=("t",), store="memory", table="t")

    resp = Runtime(other).handle_http(HttpRequest("GET", "/page", query={"cursor": ["<forged>"]}))
    assert resp.status == 400
    assert resp.content_type == "application/problem+json"
    doc = resp.json()
    assert doc["title"] == "Bad Request"
    assert doc["detail"].startswith("Invalid cursor")
    assert "<forged>" not in resp.text()
    assert doc["correlation_id"] == resp.headers.get("X-Correlation-Id")


@pytest.mark.parametrize("store", ["memory", "sqlite"])
@pytest.mark.parametrize("cursor", ["garbage", "", "eyJ4IjoxfQ", "%00", "A" * 5000])
def test_a_garbage_cursor_on_the_orders_sample_is_400(store: str, cursor: str, tmp_path: Path) -> None:

    url = "memory://" if store == "memory" else f"sqlite:///{tmp_path / 'orders.db'}"
    resp = _orders_page(url, cursor)
    if cursor == "":
        assert resp.status in (200, 400)  # an empty cursor may mean the first page
        return
    assert resp.status == 400
    assert resp.content_type == "application/problem+json"
    doc = resp.json()
    assert doc["title"] == "Bad Request"
    assert doc["status"] == 400
    assert doc["detail"].startswith("Invalid cursor")
    assert cursor not in doc["detail"]


def test_a_ttl_no_store_can_keep_is_a_400_naming_no_value() -> None:
    from pydantic import BaseModel

    from portafn.store.registry import open_store

    class Session(BaseModel):
        id: str
        expires_at: float

    ttl_app = App("ttl")
    sessions = ttl_app.table(Session, partition_key="id", ttl="expires_at")

    @ttl_app.http("PUT", "/sessions/{id}")
    def put_session(id: str, expires_at: float) -> None:
        sessions.put(Session(id=id, expires_at=expires_at))

    set_default_store(open_store("memory://"))
    try:
        for value in ("nan", "inf", "1e20"):
            resp = Runtime(ttl_app).handle_http(
                HttpRequest("PUT", "/sessions/s1", query={"expires_at": [value]})
            )
            assert resp.status == 400, value
            assert resp.json()["detail"] == "Invalid value."
            assert value not in resp.body.decode()
    finally:
        set_default_store(None)

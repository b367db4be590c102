"""Dependencies: compiled at registration, refused when they cannot work, run after validation."""

# No ``from __future__ import annotations``: these handlers name local dependencies, which only
# eagerly evaluated annotations can see (the same holds for any local type in an annotation).
from collections.abc import AsyncIterator, Iterator
from typing import Annotated

import pytest

from portafn import App, Context, Depends, RegistrationError
from portafn.testing import Client


def cyclic_a(x: Annotated[int, Depends(lambda: 0)]) -> int:
    return x


def cyclic_b(y: Annotated[int, Depends(cyclic_a)]) -> int:
    return y


cyclic_a.__annotations__["x"] = Annotated[int, Depends(cyclic_b)]


def test_a_cycle_is_refused_at_registration() -> None:
    app = App("d")
    with pytest.raises(RegistrationError, match="cycle"):

        @app.http("GET", "/x")
        def x(v: Annotated[int, Depends(cyclic_a)]) -> int:
            return v


def test_unsupported_dependencies_are_refused_by_name() -> None:
    def opened() -> Iterator[int]:
        yield 1

    async def streamed() -> AsyncIterator[int]:
        yield 1

    def needs_query(limit: int) -> int:
        return limit

    app = App("d")
    for dep, why in ((opened, "not a generator"), (streamed, "not a generator"), (needs_query, "'limit'")):
        with pytest.raises(RegistrationError, match=why):
            app.http("GET", f"/{dep.__name__}")(_handler_with(dep))


async def pooled() -> int:
    return 7


def through(v: Annotated[int, Depends(pooled)]) -> int:
    return v + 1


def test_an_async_dependency_needs_an_async_handler() -> None:
    app = App("d")
    for dep in (pooled, through):  # directly, or further down the tree
        with pytest.raises(
            RegistrationError, match="dependency pooled is async def: only an async def handler"
        ):
            app.http("GET", f"/{dep.__name__}")(_handler_with(dep))


def test_async_dependencies_are_awaited_for_async_handlers() -> None:
    app = App("d")

    @app.http("GET", "/v")
    async def v(a: Annotated[int, Depends(pooled)], b: Annotated[int, Depends(through)]) -> list[int]:
        return [a, b]

    assert Client(app).get("/v").json() == [7, 8]


def _handler_with(dep: object) -> object:
    def handler(v: int) -> int:
        return v

    handler.__annotations__["v"] = Annotated[int, Depends(dep)]  # type: ignore[arg-type]
    handler.__name__ = f"h_{getattr(dep, '__name__', 'x')}"
    return handler


def test_dependencies_do_not_run_for_an_invalid_request() -> None:
    ran: list[str] = []

    def expensive(ctx: Context) -> str:
        ran.append(ctx.request_id)
        return "value"

    app = App("d")

    @app.http("GET", "/x")
    def x(limit: int, v: Annotated[str, Depends(expensive)]) -> str:
        return v

    client = Client(app)
    assert client.get("/x", query={"limit": ["nope"]}).status == 400
    assert ran == []
    assert client.get("/x", query={"limit": ["3"]}).text() == "value"
    assert len(ran) == 1


def test_a_failing_dependency_is_a_500_without_detail() -> None:
    def broken() -> str:
        raise RuntimeError("db password wrong")

    app = App("d")

    @app.http("GET", "/x")
    def x(v: Annotated[str, Depends(broken)]) -> str:
        return v

    resp = Client(app).get("/x")
    assert resp.status == 500
    assert "password" not in resp.text()

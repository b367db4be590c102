"""Middleware, event middleware and exception handlers: the edges the inventory sample does not walk."""

from __future__ import annotations

from typing import Any

import pytest

from portafn import App, Context, Event, HttpRequest, HttpResponse, Message, RegistrationError
from portafn.middleware import CallNext, EventCallNext
from portafn.testing import Client


class Base(Exception):
    pass


class Child(Base):
    pass


def make_app() -> App:
    app = App("mw")

    @app.http("GET", "/raise/{which}")
    def raiser(which: str) -> str:
        if which == "child":
            raise Child()
        if which == "base":
            raise Base()
        raise RuntimeError("secret detail")

    return app


def test_an_app_without_hooks_has_no_chain() -> None:
    app = make_app()
    assert app.hooks.http is None
    assert app.hooks.event is None


def test_most_specific_exception_handler_wins() -> None:
    app = make_app()

    @app.exception_handler(Base)
    def base(request: HttpRequest, exc: Base, ctx: Context) -> HttpResponse:
        return HttpResponse("base", status=418)

    @app.exception_handler(Child)
    def child(request: HttpRequest, exc: Child, ctx: Context) -> HttpResponse:
        return HttpResponse("child", status=422)

    client = Client(app)
    assert (client.get("/raise/child").status, client.get("/raise/child").text()) == (422, "child")
    assert client.get("/raise/base").status == 418
    other = client.get("/raise/other")
    assert other.status == 500
    assert "secret" not in other.text()


def test_a_failing_exception_handler_is_a_plain_500() -> None:
    app = make_app()

    @app.exception_handler(Base)
    def broken(request: HttpRequest, exc: Base, ctx: Context) -> HttpResponse:
        raise ValueError("handler bug with a secret")

    resp = Client(app).get("/raise/base")
    assert resp.status == 500
    assert resp.headers.get("content-type") == "application/problem+json"
    assert "secret" not in resp.text()


def test_middleware_raising_goes_through_exception_handlers() -> None:
    app = make_app()

    @app.middleware
    def guard(request: HttpRequest, ctx: Context, call_next: CallNext) -> HttpResponse:
        raise Child()

    @app.exception_handler(Child)
    def child(request: HttpRequest, exc: Child, ctx: Context) -> HttpResponse:
        return HttpResponse("refused", status=403)

    assert Client(app).get("/nowhere").status == 403


def test_middleware_returning_no_response_is_a_500() -> None:
    app = make_app()

    @app.middleware
    def sloppy(request: HttpRequest, ctx: Context, call_next: CallNext) -> HttpResponse:
        call_next(request)
        return None  # type: ignore[return-value]

    assert Client(app).get("/raise/base").status == 500


def test_unrouted_request_gets_a_context_named_after_the_app() -> None:
    app = make_app()
    seen: list[str] = []

    @app.middleware
    def record(request: HttpRequest, ctx: Context, call_next: CallNext) -> HttpResponse:
        seen.append(ctx.function_name)
        return call_next(request)

    Client(app).get("/nowhere")
    Client(app).get("/raise/base")
    assert seen == ["mw", "raiser"]


def test_event_middleware_order_and_result() -> None:
    app = App("ev")
    order: list[str] = []

    @app.queue("q")
    def consume(msg: Message[dict[str, Any]], ctx: Context) -> str:
        order.append("handler")
        return "done"

    def tracer(tag: str) -> Any:
        def mw(event: Event[Any], ctx: Context, call_next: EventCallNext) -> Any:
            order.append(f"{tag}:before")
            result = call_next(event)
            order.append(f"{tag}:after")
            return result

        return mw

    app.event_middleware(tracer("outer"))
    app.event_middleware(tracer("inner"))
    delivery = Client(app).send("q", {"a": 1})
    assert delivery.ok
    assert delivery[0].result == "done"
    assert order == ["outer:before", "inner:before", "handler", "inner:after", "outer:after"]


def test_exception_handler_takes_only_exception_classes() -> None:
    app = App("bad")
    with pytest.raises(RegistrationError):
        app.exception_handler("ValueError")(lambda r, e, c: HttpResponse())  # type: ignore[arg-type]

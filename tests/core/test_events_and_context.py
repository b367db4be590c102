"""Typed events, correlation, start-up hooks, cold start and JSON logging."""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import pytest
from pydantic import BaseModel

from portafn import App, Context, Event, EventDataError, Message, Runtime, Schedule
from portafn.events import Change, StorageEvent
from portafn.factories import make_message
from portafn.log import JsonFormatter, redact
from portafn.testing import LocalClient


class Order(BaseModel):
    id: str
    total: int


def test_message_data_is_validated_into_the_declared_type() -> None:
    app = App("e")
    seen: list[Message[Order]] = []

    @app.queue("orders")
    def on_order(msg: Message[Order]) -> None:
        seen.append(msg)

    LocalClient(app).send("orders", {"id": "a", "total": "3"}, attributes={"k": "v"})
    assert isinstance(seen[0].data, Order)
    assert seen[0].data.total == 3
    assert seen[0].attributes == {"k": "v"}
    assert seen[0].queue == "orders"


def test_invalid_message_data_raises_event_data_error_before_the_handler() -> None:
    app = App("e")
    calls: list[object] = []

    @app.queue("orders")
    def on_order(msg: Message[Order]) -> None:
        calls.append(msg)

    delivery = LocalClient(app).send("orders", {"id": "a"})
    assert not delivery.ok
    assert delivery.errors == ["EventDataError"]
    with pytest.raises(EventDataError) as err:
        Runtime(app).handle_event("on_order", make_message({"id": "a"}, queue="orders"))
    assert err.value.function == "on_order"
    assert err.value.errors[0]["loc"] == ["data", "total"]
    assert calls == []


@pytest.mark.parametrize(
    ("annotation", "payload", "expected"),
    [(bytes, b"\x00\xff", b"\x00\xff"), (str, "plain words", "plain words"), (int, "42", 42)],
)
def test_message_scalar_payloads(annotation: Any, payload: Any, expected: Any) -> None:
    app = App("e")
    got: list[Any] = []

    def handler(msg: Message[annotation]) -> None:  # type: ignore[valid-type]
        got.append(msg.data)

    handler.__annotations__["msg"] = Message[annotation]
    app.queue("q")(handler)
    LocalClient(app).send("q", payload)
    assert got == [expected]


def test_change_old_and_new_are_typed() -> None:
    app = App("e")
    table = app.table(Order, partition_key="id")
    got: list[Change[Order]] = []

    @app.changes(table)
    def on_change(c: Change[Order]) -> None:
        got.append(c)

    change = Change[Any](
        id="7",
        source="s",
        type="t",
        kind="modify",
        table="orders",
        key={"id": "a"},
        old={"id": "a", "total": 1},
        new={"id": "a", "total": 2},
    )
    Runtime(app).handle_event("on_change", change)
    assert got[0].old == Order(id="a", total=1)
    assert got[0].new == Order(id="a", total=2)
    assert got[0].kind == "modify"


def test_event_and_storage_and_schedule_delivery() -> None:
    app = App("e")
    got: dict[str, Any] = {}

    @app.event("com.example.ping")
    def ping(ev: Event[Order]) -> None:
        got["ping"] = ev.data

    @app.storage("uploads")
    def upload(ev: StorageEvent) -> None:
        got["upload"] = (ev.bucket, ev.key, ev.action)

    @app.schedule("0 2 * * *")
    def nightly(ev: Schedule) -> None:
        got["nightly"] = ev.cron

    client = LocalClient(app)
    client.emit(
        "ping",
        Event[Any](id="1", source="s", type="com.example.ping", data={"id": "x", "total": 5}),
    )
    client.drop("uploads", "a/b c.txt")
    client.fire("nightly")
    assert got == {
        "ping": Order(id="x", total=5),
        "upload": ("uploads", "a/b c.txt", "created"),
        "nightly": "0 2 * * *",
    }


def test_start_hooks_run_once_before_first_invocation_and_cold_start_flags_first() -> None:
    app = App("e")
    calls: list[str] = []
    colds: list[bool] = []

    @app.on_start
    def warm() -> None:
        calls.append("start")

    @app.http("GET", "/")
    def index(ctx: Context) -> None:
        calls.append("call")
        colds.append(ctx.cold_start)

    client = LocalClient(app)
    assert calls == []
    for _ in range(3):
        client.get("/")
    assert calls == ["start", "call", "call", "call"]
    assert colds == [True, False, False]


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"X-Correlation-Id": "abc-1"}, "abc-1"),
        (
            {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
            "0af7651916cd43dd8448eb211c80319c",
        ),
        ({"X-Correlation-Id": "bad value\n"}, None),
    ],
)
def test_http_correlation_id(headers: dict[str, str], expected: str | None) -> None:
    app = App("e")

    @app.http("GET", "/")
    def index(ctx: Context) -> str:
        return ctx.correlation_id

    resp = LocalClient(app).get("/", headers=headers)
    if expected is None:
        assert resp.text() != "bad value\n"
        assert len(resp.text()) == 36
    else:
        assert resp.text() == expected
    assert resp.headers.get("X-Correlation-Id") == resp.text()


def test_event_correlation_id_is_the_cloudevent_id_or_trace() -> None:
    app = App("e")
    seen: list[str] = []

    @app.queue("q")
    def q(msg: Message[str], ctx: Context) -> None:
        seen.append(ctx.correlation_id)

    runtime = Runtime(app)
    msg = make_message("x", queue="q")
    runtime.handle_event("q", msg)
    msg.extensions["traceparent"] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    runtime.handle_event("q", msg)
    assert seen == [msg.id, "4bf92f3577b34da6a3ce929d0e0e4736"]


def test_context_remaining_time_comes_from_the_platform() -> None:
    ctx = Context(
        request_id="r",
        correlation_id="c",
        provider="aws",
        function_name="f",
        remaining_time=lambda: 1.25,
    )
    assert ctx.remaining_time() == 1.25
    default = Context(request_id="r", correlation_id="c", provider="local", function_name="f")
    assert 0 < default.remaining_time() <= 300


def test_logger_writes_one_json_object_a_line_with_the_invocation_fields() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("portafn.app")
    logger.addHandler(handler)
    try:
        ctx = Context(
            request_id="req-1",
            correlation_id="corr-1",
            provider="gcp",
            function_name="fn",
            cold_start=True,
        )
        ctx.logger.info("hello %s", "world", extra={"order_id": "o1", "password": "hunter2"})
    finally:
        logger.removeHandler(handler)
    lines = stream.getvalue().strip().splitlines()
    assert len(lines) == 1
    entry = json.loads(lines[0])
    assert entry["message"] == "hello world"
    assert entry["request_id"] == "req-1"
    assert entry["correlation_id"] == "corr-1"
    assert entry["provider"] == "gcp"
    assert entry["function"] == "fn"
    assert entry["cold_start"] is True
    assert entry["order_id"] == "o1"
    assert entry["password"] == "[redacted]"
    assert "hunter2" not in lines[0]


def test_redaction_of_inline_secrets() -> None:
    text = "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=c2VjcmV0;EndpointSuffix=x"
    assert "c2VjcmV0" not in redact(text)
    assert redact({"headers": {"Authorization": "Bearer abc"}}) == {
        "headers": {"Authorization": "[redacted]"}
    }
    assert "abc" not in redact("got Bearer abc.def")

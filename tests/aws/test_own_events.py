"""The project's own AWS events (tests/events/aws) through the handler: routing and translation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from portafn_aws import lambda_handler
from portafn_aws.driver import DriverContext
from portafn_aws.entry import NoFunctionFor
from pydantic import BaseModel

from portafn import App, Change, Context, HttpResponse, Message, Schedule

EVENTS = Path(__file__).resolve().parents[2] / "tests" / "events" / "aws"


def load(name: str) -> Any:
    return json.loads((EVENTS / name).read_text())


class Order(BaseModel):
    customer_id: str
    order_id: str
    total_cents: int
    status: str


class StatusChange(BaseModel):
    customer_id: str
    order_id: str
    status: str


def make_app() -> tuple[App, dict[str, list[Any]]]:
    seen: dict[str, list[Any]] = {"queue": [], "changes": [], "nightly": [], "weekly": [], "ctx": []}
    app = App("own")
    orders = app.table(Order, partition_key="customer_id", sort_key="order_id", name="orders")

    @app.queue("order-events")
    def on_event(msg: Message[StatusChange], ctx: Context) -> None:
        if msg.data is None or msg.data.status == "boom":
            raise ValueError("bad status")
        seen["queue"].append(msg)
        seen["ctx"].append(ctx)

    @app.changes(orders)
    def on_change(change: Change[Order]) -> None:
        seen["changes"].append(change)

    @app.schedule("0 2 * * *")
    def nightly(ev: Schedule) -> None:
        seen["nightly"].append(ev)

    @app.schedule("0 3 * * 0")
    def weekly(ev: Schedule) -> None:
        seen["weekly"].append(ev)

    return app, seen


def test_sqs_batch_reports_the_message_that_failed_validation() -> None:
    app, seen = make_app()
    event = load("sqs-order-events.json")
    ctx = DriverContext("own-fn", timeout_s=12)
    out = lambda_handler(app)(event, ctx)
    assert out == {"batchItemFailures": [{"itemIdentifier": event["Records"][1]["messageId"]}]}
    (msg,) = seen["queue"]
    assert msg.data == StatusChange(customer_id="c-1", order_id="o-1", status="paid")
    assert msg.traceparent == "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    (context,) = seen["ctx"]
    assert context.request_id == ctx.aws_request_id
    assert context.correlation_id == "0af7651916cd43dd8448eb211c80319c"  # from traceparent
    assert context.cold_start is True
    assert 0 < context.remaining_time() <= 12


def test_fifo_batch_stops_at_the_first_failure() -> None:
    _app, seen = make_app()
    event = load("sqs-order-events.json")
    first, second = event["Records"]
    first["body"] = json.dumps({"customer_id": "c", "order_id": "o", "status": "boom"})
    second["body"] = json.dumps({"customer_id": "c", "order_id": "o", "status": "paid"})
    for r in event["Records"]:
        r["eventSourceARN"] = "arn:aws:sqs:us-east-1:123456789012:order-events.fifo"
    app2 = App("fifo")

    @app2.queue("order-events.fifo")
    def on_event(msg: Message[StatusChange]) -> None:
        if msg.data is not None and msg.data.status == "boom":
            raise ValueError("boom")
        seen["queue"].append(msg)

    with pytest.raises(Exception, match="all 2 records"):
        lambda_handler(app2)(event, None)
    assert seen["queue"] == []  # the neighbour after the failure was not run out of order


def test_stream_record_of_a_portafn_table_becomes_a_typed_change(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORTAFN_STORE", "dynamodb://?region=us-east-1&prefix=dev-")  # table dev-orders
    app, seen = make_app()
    event = load("dynamodb-stream-order.json")
    out = lambda_handler(app)(event, None)
    assert out == {"batchItemFailures": []}
    (change,) = seen["changes"]
    assert change.kind == "modify"
    assert change.key == {"customer_id": "c-1", "order_id": "o-1"}
    assert isinstance(change.old, Order)
    assert change.old.status == "new"
    assert isinstance(change.new, Order)
    assert change.new.status == "paid"
    assert change.table == "orders"


def test_stream_routing_uses_the_store_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    app, _ = make_app()
    event = load("dynamodb-stream-order.json")  # table dev-orders
    monkeypatch.setenv("PORTAFN_STORE", "dynamodb://?region=us-east-1&prefix=prod-")
    with pytest.raises(Exception, match="all 1 records") as info:
        lambda_handler(app)(event, None)
    assert isinstance(info.value.__cause__, NoFunctionFor)
    monkeypatch.setenv("PORTAFN_STORE", "dynamodb://?region=us-east-1&prefix=dev-")
    assert lambda_handler(app)(event, None) == {"batchItemFailures": []}


def test_schedule_routes_by_rule_name_suffix() -> None:
    app, seen = make_app()
    event = load("scheduled-nightly.json")  # rule orders-prod-nightly
    lambda_handler(app)(event, None)
    (ev,) = seen["nightly"]
    assert ev.cron == "0 2 * * *"
    assert ev.subject == "orders-prod-nightly"
    assert seen["weekly"] == []
    event["resources"] = ["arn:aws:events:us-east-1:123456789012:rule/unrelated"]
    with pytest.raises(NoFunctionFor, match="unrelated"):
        lambda_handler(app)(event, None)
    lambda_handler(app, "weekly")(event, None)  # one function per Lambda: the rule name is moot
    assert len(seen["weekly"]) == 1


def test_http_binary_and_cookies_round_trip_through_v2() -> None:
    app = App("http")

    @app.http("POST", "/echo")
    def echo(body: bytes) -> HttpResponse:
        resp = HttpResponse(body[::-1], headers={"Content-Type": "image/png"})
        resp.cookies.append("seen=1; Path=/")
        return resp

    event = load("apigw-v2-post.json")
    event["rawPath"] = event["requestContext"]["http"]["path"] = "/echo"
    event["headers"]["content-type"] = "application/octet-stream"
    event["body"], event["isBase64Encoded"] = "AAEC", True  # bytes 00 01 02
    out = lambda_handler(app)(event, None)
    assert out["statusCode"] == 200
    assert out["isBase64Encoded"] is True
    assert out["body"] == "AgEA"
    assert out["cookies"] == ["seen=1; Path=/"]

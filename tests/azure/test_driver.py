"""The Azure driver delivers every trigger kind the adapter claims through the built ``FunctionApp``,
with each trigger object made by the azure-functions library's own converter."""

from __future__ import annotations

from typing import Any

import pytest
from azure.functions import EventGridEvent, InputStream
from portafn_azure.driver import AzureDriver
from pydantic import BaseModel

from portafn import App, Context, Event, StorageEvent
from portafn.events import Message
from portafn.factories import make_message, make_storage_event
from portafn.reliability.outcomes import DeadLetter


class Shipped(BaseModel):
    order_id: str
    carrier: str


def _app(seen: list[Any]) -> App:
    app = App("driver-kinds")

    @app.storage("uploads")
    def on_upload(ev: StorageEvent, ctx: Context) -> None:
        seen.append(ev)

    @app.storage("uploads", on="deleted")
    def on_removed(ev: StorageEvent, ctx: Context) -> None:
        seen.append(ev)

    @app.event("com.example.order.shipped")
    def on_shipped(ev: Event[Shipped], ctx: Context) -> None:
        seen.append(ev)

    @app.queue("jobs")
    def on_job(msg: Message[dict[str, Any]], ctx: Context) -> None:
        seen.append(msg)
        if msg.data and msg.data.get("give_up"):
            raise DeadLetter("cannot ever succeed")

    return app


def test_blob_created_arrives_as_input_stream() -> None:
    seen: list[Any] = []
    driver = AzureDriver(_app(seen))
    assert driver.binding_type("on_upload") == "blobTrigger"
    ev = make_storage_event("uploads", "dir/report 1.csv", size=42, content_type="text/csv")
    native = driver.native(driver.app.function("on_upload"), ev)
    assert isinstance(native, InputStream)
    assert (native.name, native.length) == ("uploads/dir/report 1.csv", 42)
    delivery = driver.deliver(driver.app.function("on_upload"), ev)
    assert delivery.ok, delivery.error
    (got,) = seen
    assert isinstance(got, StorageEvent)
    assert (got.bucket, got.key, got.action, got.type) == (
        "uploads",
        "dir/report 1.csv",
        "created",
        "Microsoft.Storage.BlobCreated",
    )
    assert got.data is not None
    assert (got.data.size, got.data.content_type) == (42, "text/csv")
    assert isinstance(got.raw, InputStream)


def test_blob_deleted_arrives_as_event_grid_event() -> None:
    seen: list[Any] = []
    driver = AzureDriver(_app(seen))
    assert driver.binding_type("on_removed") == "eventGridTrigger"
    ev = make_storage_event("uploads", "old.bin", action="deleted")
    native = driver.native(driver.app.function("on_removed"), ev)
    assert isinstance(native, EventGridEvent)
    assert native.event_type == "Microsoft.Storage.BlobDeleted"
    assert driver.deliver(driver.app.function("on_removed"), ev).ok
    (got,) = seen
    assert isinstance(got, StorageEvent)
    assert (got.id, got.bucket, got.key, got.action) == (ev.id, "uploads", "old.bin", "deleted")
    assert got.subject == "/blobServices/default/containers/uploads/blobs/old.bin"


def test_blob_trigger_with_event_grid_source_still_gets_input_stream() -> None:
    seen: list[Any] = []
    driver = AzureDriver(_app(seen), storage_source="EventGrid")
    assert driver.binding_type("on_upload") == "blobTrigger"
    assert driver.deliver(driver.app.function("on_upload"), make_storage_event("uploads", "a.txt")).ok
    assert seen[0].key == "a.txt"


@pytest.mark.parametrize("schema", ["eventgrid", "cloudevents"])
def test_custom_event_through_event_grid(schema: str) -> None:
    seen: list[Any] = []
    driver = AzureDriver(_app(seen), event_schema=schema)
    fn = driver.app.function("on_shipped")
    ev = Event[Any](
        id="evt-1",
        source="/orders",
        type="com.example.order.shipped",
        subject="orders/o-1",
        data={"order_id": "o-1", "carrier": "ups"},
        extensions={"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
    )
    delivery = driver.deliver(fn, ev)
    assert delivery.ok, delivery.error
    (got,) = seen
    assert (got.id, got.type, got.subject) == ("evt-1", "com.example.order.shipped", "orders/o-1")
    assert got.data == Shipped(order_id="o-1", carrier="ups")
    if schema == "cloudevents":
        assert got.source == "/orders"
        assert got.traceparent == ev.extensions["traceparent"]


def test_event_of_another_type_is_acknowledged_not_handled() -> None:
    seen: list[Any] = []
    driver = AzureDriver(_app(seen))
    other = Event[Any](id="x", source="/s", type="com.example.other", data={})
    assert driver.deliver(driver.app.function("on_shipped"), other).ok
    assert seen == []


def test_dead_letter_is_reported_not_retried() -> None:
    seen: list[Any] = []
    driver = AzureDriver(_app(seen))
    delivery = driver.deliver(driver.app.function("on_job"), make_message({"give_up": True}, queue="jobs"))
    assert (delivery.ok, delivery.error, delivery.retry, delivery.dead_letter) == (
        False,
        "DeadLetter",
        False,
        True,
    )


def test_servicebus_queue_gets_a_servicebus_message() -> None:
    seen: list[Any] = []
    driver = AzureDriver(_app(seen), messaging="servicebus")
    assert driver.binding_type("on_job") == "serviceBusTrigger"
    msg = make_message({"n": 1}, queue="jobs", attributes={"tenant": "t1"}, delivery_attempt=3)
    assert driver.deliver(driver.app.function("on_job"), msg).ok
    (got,) = seen
    assert (got.id, got.body, got.attributes, got.delivery_attempt) == (msg.id, msg.body, {"tenant": "t1"}, 3)

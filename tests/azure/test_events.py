"""Every claimed Azure fixture kind goes through the adapter's translation, decoded by the library."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from azure.functions.blob import BlobConverter, InputStream
from azure.functions.cosmosdb import CosmosDBConverter
from azure.functions.eventgrid import EventGridEventInConverter
from azure.functions.meta import Datum
from azure.functions.queue import QueueMessageInConverter
from azure.functions.servicebus import ServiceBusMessageInConverter
from azure.functions.timer import TimerRequestConverter
from portafn_azure import events

from portafn.errors import EventFormatError
from portafn.events import StorageEvent
from tests.support.fixtures import OWN_EVENTS, fixture_params, load


def _queue(payload: dict[str, Any]) -> Any:
    meta = payload["Metadata"]
    body = next(iter(payload["Data"].values()))
    trigger = {k: Datum(str(v), "string") for k, v in meta.items() if k != "sys"}
    return QueueMessageInConverter.decode(Datum(body.encode(), "bytes"), trigger_metadata=trigger), meta, body


@pytest.mark.parametrize(
    "path", [*fixture_params("azure", "queue"), OWN_EVENTS / "azure" / "queue-order-event.json"]
)
def test_queue_fixture(path: Path) -> None:
    msg, meta, body = _queue(load(path))
    ev = events.queue_message(msg, "order-events")
    assert ev.id == meta["Id"]
    assert ev.body == body.encode()
    assert ev.delivery_attempt == meta["DequeueCount"]
    assert ev.queue == "order-events"
    assert ev.raw is msg


@pytest.mark.parametrize("path", fixture_params("azure", "servicebus"))
def test_servicebus_fixture(path: Path) -> None:
    props = load(path)
    trigger = {
        "MessageId": Datum("m-1", "string"),
        "DeliveryCount": Datum("2", "string"),
        "UserProperties": Datum(json.dumps(props), "json"),
        "ApplicationProperties": Datum(json.dumps(props), "json"),
        "EnqueuedTimeUtc": Datum("2024-05-01T10:00:00Z", "string"),
    }
    msg = ServiceBusMessageInConverter.decode(Datum(b'{"a": 1}', "bytes"), trigger_metadata=trigger)
    ev = events.servicebus_message(msg, "orders")
    assert (ev.id, ev.body, ev.delivery_attempt) == ("m-1", b'{"a": 1}', 2)
    assert ev.attributes == {k: str(v) for k, v in props.items()}


@pytest.mark.parametrize("path", fixture_params("azure", "timer"))
def test_timer_fixture(path: Path) -> None:
    raw = load(path)
    timer = TimerRequestConverter.decode(Datum(json.dumps(raw), "json"), trigger_metadata={})
    ev = events.timer_request(timer, "nightly", "0 2 * * *")
    assert ev.past_due is raw["IsPastDue"]
    assert ev.cron == "0 2 * * *"
    assert ev.extensions["last"] == raw["ScheduleStatus"]["Last"]


@pytest.mark.parametrize("path", fixture_params("azure", "blob"))
def test_blob_fixture(path: Path) -> None:
    props = load(path)
    # The host's trigger metadata for a blob trigger, decoded by the library's own converter.
    blob = BlobConverter.decode(
        Datum(b"hello world!", "bytes"),
        trigger_metadata={
            "BlobTrigger": Datum("uploads/dir/file.bin", "string"),
            "Uri": Datum("https://a.blob.core.windows.net/uploads/dir/file.bin", "string"),
            "Properties": Datum(json.dumps(props), "json"),
        },
    )
    assert isinstance(blob, InputStream)
    ev = events.blob_stream(blob, "uploads")
    assert (ev.bucket, ev.key, ev.action) == ("uploads", "dir/file.bin", "created")
    assert ev.data is not None
    assert (ev.data.size, ev.data.etag, ev.data.content_type) == (
        int(props["ContentLength"]),
        props["ETag"],
        props["ContentType"],
    )
    assert ev.id == props["ETag"]
    assert ev.time is not None
    assert ev.time.isoformat() == props["LastModified"]
    assert ev.subject == "/blobServices/default/containers/uploads/blobs/dir/file.bin"
    assert ev.raw is blob


def _grid_events(raw: Any) -> list[dict[str, Any]]:
    return raw if isinstance(raw, list) else [raw]


@pytest.mark.parametrize(
    "path",
    [*fixture_params("azure", "eventgrid"), OWN_EVENTS / "azure" / "eventgrid-blob-created-cloudevent.json"],
)
def test_eventgrid_fixture(path: Path) -> None:
    for body in _grid_events(load(path)):
        if "specversion" in body:  # the library's converter takes the CloudEvents schema too
            decoded: Any = EventGridEventInConverter.decode(
                Datum(json.dumps(body), "json"), trigger_metadata={}
            )
        elif "eventType" in body:
            decoded = EventGridEventInConverter.decode(Datum(json.dumps(body), "json"), trigger_metadata={})
        else:
            decoded = body  # the spec examples spell specVersion in camelCase: translated from the dict
        ev = events.event_grid(decoded)
        assert ev.id == body["id"]
        assert ev.type == (body.get("eventType") or body.get("type"))
        assert ev.subject == (body.get("subject") or None)
        if ev.type in events.BLOB_TYPES:
            assert isinstance(ev, StorageEvent)
            assert ev.action == events.BLOB_TYPES[ev.type]
            assert ev.key
            assert ev.bucket
            assert body["subject"].endswith(f"/containers/{ev.bucket}/blobs/{ev.key}")


@pytest.mark.parametrize("path", fixture_params("azure", "cosmosdb"))
def test_cosmosdb_fixture(path: Path) -> None:
    raw = load(path)
    docs = CosmosDBConverter.decode(Datum(json.dumps(raw), "json"), trigger_metadata={})
    changes = events.cosmos_changes(docs, "orders", "customer_id", "order_id")
    expected = raw if isinstance(raw, list) else [raw]
    assert [c.key for c in changes] == [{"id": d["id"]} for d in expected]
    for change, doc in zip(changes, expected, strict=True):
        assert change.new == {k: v for k, v in doc.items() if not k.startswith("_")}


def test_store_shaped_documents_give_table_keys() -> None:
    docs = CosmosDBConverter.decode(
        Datum(
            json.dumps(
                [{"id": "sc-1~so-1", "pk": "c-1", "sk": "o-1", "doc": {"customer_id": "c-1"}, "m": True}]
            ),
            "json",
        ),
        trigger_metadata={},
    )
    (change,) = events.cosmos_changes(docs, "orders", "customer_id", "order_id")
    assert (change.kind, change.key, change.new) == (
        "modify",
        {"customer_id": "c-1", "order_id": "o-1"},
        {"customer_id": "c-1"},
    )


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: events.queue_message(object(), "q"), "QueueMessage.body"),
        (lambda: events.timer_request(object(), "f", None), "TimerRequest.past_due"),
        (lambda: events.event_grid({"id": "x"}), "eventType"),
        (lambda: events.cosmos_changes({"id": "x"}, "t", "pk", None), "DocumentList"),
        (lambda: events.blob_stream(object(), "c"), "InputStream.name"),
    ],
)
def test_wrong_shape_raises_event_format_error(call: Any, field: str) -> None:
    with pytest.raises(EventFormatError) as info:
        call()
    assert info.value.provider == "azure"
    assert info.value.field == field

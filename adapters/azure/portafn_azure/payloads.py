"""What the Functions host sends the Python worker for each trigger: a ``Datum`` and its metadata.

The contract driver builds one ``Payload`` per neutral event (``portafn_azure.driver``) and either
decodes it in process with the azure-functions library's own converter for the binding
(``decode``), as the worker does, or sends it to the real worker over gRPC as protobuf
``TypedData`` (``typed_data``; see ``portafn_azure.dev.worker_driver``). One shape, two paths.
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from portafn.app import Function
from portafn.events import ATTACHED_CHANGE_TYPE, Change, Event, Message, Schedule, StorageEvent
from portafn.http import HttpRequest
from portafn_azure.publish import TRACE_PROPERTIES, envelope_bytes


@dataclass(frozen=True)
class Payload:
    """One trigger's input: ``data`` (an ``azure.functions.meta.Datum``) and its trigger metadata."""

    data: Any
    metadata: dict[str, Any] = field(default_factory=dict)


# The library's input converter for each trigger binding type, as the worker picks it.
CONVERTERS = {
    "httpTrigger": "azure.functions.http:HttpRequestConverter",
    "queueTrigger": "azure.functions.queue:QueueMessageInConverter",
    "serviceBusTrigger": "azure.functions.servicebus:ServiceBusMessageInConverter",
    "timerTrigger": "azure.functions.timer:TimerRequestConverter",
    "cosmosDBTrigger": "azure.functions.cosmosdb:CosmosDBConverter",
    "blobTrigger": "azure.functions.blob:BlobConverter",
    "eventGridTrigger": "azure.functions.eventgrid:EventGridEventInConverter",
}


def decode(binding_type: str, payload: Payload) -> Any:
    """The trigger object the worker's converter makes of ``payload`` for ``binding_type``."""
    from portafn.plugins import load

    converter = load(CONVERTERS[binding_type])
    return converter.decode(payload.data, trigger_metadata=payload.metadata)


def typed_data(datum: Any) -> dict[str, Any]:
    """A ``Datum`` as the protobuf JSON mapping of ``TypedData`` (what the host puts on the wire)."""
    kind, value = datum.type, datum.value
    if kind == "bytes":
        return {"bytes": base64.b64encode(value).decode("ascii")}
    if kind in ("string", "json"):
        return {kind: value}
    if kind == "http":
        http: dict[str, Any] = {
            "method": value["method"].value,
            "url": value["url"].value,
            "headers": {k: d.value for k, d in value["headers"].items()},
            "query": {k: d.value for k, d in value["query"].items() if d.value},
            "params": {k: d.value for k, d in value["params"].items()},
        }
        if value["body"].value:
            http["body"] = typed_data(value["body"])
        return {"http": http}
    raise TypeError(f"no TypedData for a {kind} Datum")


def http_datum(request: HttpRequest, route_prefix: str = "api") -> Any:
    """The ``Datum`` the host sends for an HTTP trigger."""
    from urllib.parse import urlencode

    from azure.functions.meta import Datum

    query = urlencode([(k, v) for k, vs in request.query.items() for v in vs])
    url = f"http://localhost:7071/{route_prefix}{request.path}" + (f"?{query}" if query else "")
    return Datum(
        type="http",
        value={
            "method": Datum(request.method, "string"),
            "url": Datum(url, "string"),
            "headers": {k: Datum(v, "string") for k, v in request.headers.to_single().items()},
            "query": {k: Datum(vs[-1], "string") for k, vs in request.query.items()},
            "params": {k: Datum(v, "string") for k, v in request.path_params.items()},
            "body": Datum(request.body, "bytes"),
        },
    )


def timer_payload(event: Schedule) -> Payload:
    """The TimerInfo JSON of a timer trigger."""
    from azure.functions.meta import Datum

    info = {"Schedule": {"AdjustForDST": True}, "ScheduleStatus": {}, "IsPastDue": event.past_due}
    return Payload(Datum(json.dumps(info), "json"))


def blob_payload(event: StorageEvent) -> Payload:
    """A blob trigger's content and metadata (polling or Event Grid source alike)."""
    from azure.functions.meta import Datum

    obj = event.data
    assert obj is not None
    props: dict[str, Any] = {
        "ContentLength": obj.size or 0,
        "ContentType": obj.content_type or "application/octet-stream",
        "ETag": obj.etag or f'"0x{uuid.uuid4().hex[:15].upper()}"',
        "LastModified": (event.time or datetime.now(UTC)).isoformat(),
        "BlobType": "BlockBlob",
    }
    metadata = {
        "BlobTrigger": Datum(f"{obj.bucket}/{obj.key}", "string"),
        "Uri": Datum(blob_url(obj.bucket, obj.key), "string"),
        "Properties": Datum(json.dumps(props), "json"),
        "Metadata": Datum("{}", "json"),
    }
    # The content is not part of a StorageEvent: the blob's bytes stand in as zeros of its size.
    return Payload(Datum(bytes(obj.size or 0), "bytes"), metadata)


def event_grid_payload(body: dict[str, Any]) -> Payload:
    """An Event Grid trigger's event (either schema) as JSON."""
    from azure.functions.meta import Datum

    return Payload(Datum(json.dumps(body), "json"))


def documents_payload(function: Function, change: Change[Any]) -> Payload:
    """The changed item (or the attached outbox record) as the Cosmos store writes it (latest
    version), in the JSON array a Cosmos DB trigger gets."""
    from azure.functions.meta import Datum

    from portafn.store.port import Key
    from portafn_azure.cosmos_keys import attached_id, item_id

    if change.type == ATTACHED_CHANGE_TYPE:
        name = str(change.key["name"])
        doc = {"id": attached_id(name), "pk": change.key["partition"], "on": name, "ob": change.new}
        return Payload(Datum(json.dumps([doc]), "json"))
    new: Any = change.new
    if hasattr(new, "model_dump"):
        new = new.model_dump(mode="json")
    spec = function.trigger.table.spec  # type: ignore[union-attr]
    key = Key(change.key[spec.partition_key], change.key.get(spec.sort_key) if spec.sort_key else None)
    item = {"id": item_id(key), "pk": key.pk, "doc": new, "m": change.kind == "modify", "_etag": change.id}
    if key.sk is not None:
        item["sk"] = key.sk
    return Payload(Datum(json.dumps([item]), "json"))


def queue_payload(message: Message[Any]) -> Payload:
    """A Storage queue message as ``ctx.publish`` sends it, after the host's base64 decoding."""
    now = datetime.now(UTC)
    return queue_message_payload(
        envelope_bytes(message, message.body, message.attributes),
        id=str(uuid.uuid4()),
        dequeue_count=message.delivery_attempt,
        insertion_time=now,
        expiration_time=now,
        next_visible_time=now,
        pop_receipt="AgAAAAMAAAAAAAAA",
    )


def queue_message_payload(
    content: bytes,
    *,
    id: str,
    dequeue_count: int,
    insertion_time: datetime,
    expiration_time: datetime,
    next_visible_time: datetime,
    pop_receipt: str,
) -> Payload:
    """A Storage queue trigger's content and the metadata the queue extension gives."""
    from azure.functions.meta import Datum

    metadata = {
        "Id": Datum(id, "string"),
        "DequeueCount": Datum(str(dequeue_count), "string"),
        "InsertionTime": Datum(insertion_time.isoformat(), "string"),
        "ExpirationTime": Datum(expiration_time.isoformat(), "string"),
        "NextVisibleTime": Datum(next_visible_time.isoformat(), "string"),
        "PopReceipt": Datum(pop_receipt, "string"),
    }
    return Payload(Datum(content, "bytes"), metadata)


def servicebus_payload(message: Message[Any]) -> Payload:
    """A Service Bus message as ``ctx.publish`` sends it: the CloudEvent JSON body, attributes as
    application properties."""
    from azure.functions.meta import Datum

    props = dict(message.attributes)
    props.update({k: str(message.extensions[k]) for k in TRACE_PROPERTIES if message.extensions.get(k)})
    metadata = {
        "MessageId": Datum(message.id, "string"),
        "DeliveryCount": Datum(str(message.delivery_attempt), "string"),
        "EnqueuedTimeUtc": Datum(datetime.now(UTC).isoformat(), "string"),
        "ContentType": Datum("application/cloudevents+json; charset=utf-8", "string"),
        "UserProperties": Datum(json.dumps(props), "json"),
        "ApplicationProperties": Datum(json.dumps(props), "json"),
    }
    if message.extensions.get("correlationid"):
        metadata["CorrelationId"] = Datum(str(message.extensions["correlationid"]), "string")
    if message.ordering_key:
        metadata["SessionId"] = Datum(message.ordering_key, "string")
    return Payload(Datum(envelope_bytes(message, message.body), "bytes"), metadata)


ACCOUNT = "devstoreaccount1"


def blob_url(container: str, key: str) -> str:
    from urllib.parse import quote

    return f"http://127.0.0.1:10000/{ACCOUNT}/{container}/{quote(key)}"


def when(event: Event[Any]) -> str:
    return (event.time or datetime.now(UTC)).isoformat().replace("+00:00", "Z")


def plain(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    return value


def blob_grid_event(event: StorageEvent) -> dict[str, Any]:
    """A ``Microsoft.Storage.Blob{Created,Deleted}`` event in the Event Grid schema."""
    obj = event.data
    assert obj is not None
    created = event.action == "created"
    return {
        "id": event.id,
        "topic": f"/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/local"
        f"/providers/Microsoft.Storage/storageAccounts/{ACCOUNT}",
        "subject": f"/blobServices/default/containers/{obj.bucket}/blobs/{obj.key}",
        "eventType": "Microsoft.Storage.BlobCreated" if created else "Microsoft.Storage.BlobDeleted",
        "eventTime": when(event),
        "data": {
            "api": "PutBlob" if created else "DeleteBlob",
            "contentType": obj.content_type or "application/octet-stream",
            "contentLength": obj.size,
            "eTag": obj.etag,
            "blobType": "BlockBlob",
            "url": blob_url(obj.bucket, obj.key),
        },
        "dataVersion": "",
        "metadataVersion": "1",
    }


def grid_event(event: Event[Any]) -> dict[str, Any]:
    """A neutral event in the Event Grid event schema."""
    return {
        "id": event.id,
        "topic": event.source,
        "subject": event.subject or "",
        "eventType": event.type,
        "eventTime": when(event),
        "data": plain(event.data),
        "dataVersion": event.dataschema or "",
        "metadataVersion": "1",
    }


def cloud_event(event: Event[Any]) -> dict[str, Any]:
    """A neutral event in the CloudEvents 1.0 schema (as Event Grid delivers it)."""
    body: dict[str, Any] = {
        "specversion": "1.0",
        "id": event.id,
        "source": event.source,
        "type": event.type,
        "time": when(event),
        "data": plain(event.data),
        **{k: v for k, v in event.extensions.items() if isinstance(v, str | int | bool)},
    }
    for name in ("subject", "datacontenttype", "dataschema"):
        value = getattr(event, name, None)
        if value:
            body[name] = value
    return body

"""The contract-suite driver for Azure: requests and events go through the built ``FunctionApp``.

Each neutral request or event is written as the host would send it to the worker (a ``Datum``
plus trigger metadata), decoded by the azure-functions library's own converter, passed to the
function the ``FunctionApp`` indexed, and (for HTTP) the answer encoded by the library's response
converter and read back. Only the Functions host itself is left out; it cannot run here.

Messages are delivered as ``ctx.publish`` sends them (the CloudEvent in the JSON format, with
attributes as Service Bus application properties or, on Storage queues, the ``portafnattributes``
extension). Messages a Storage queue function dead-letters are kept in ``poisoned`` instead of
being sent to ``<queue>-poison`` (pass ``poison_sink=`` to send them somewhere real).
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from portafn.app import App, Function
from portafn.events import ATTACHED_CHANGE_TYPE, Change, Event, Message, Schedule, StorageEvent
from portafn.http import Headers, HttpRequest, HttpResponse
from portafn.testing.drivers import Delivery
from portafn_azure import outcomes
from portafn_azure.entry import function_app
from portafn_azure.publish import TRACE_PROPERTIES, envelope_bytes


class _Context:
    """What the worker passes as ``context`` (the fields portafn reads)."""

    def __init__(self, name: str) -> None:
        self.invocation_id = str(uuid.uuid4())
        self.function_name = name


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


def decode_http_response(datum: Any) -> HttpResponse:
    """A portafn response from the ``Datum`` the library's ``HttpResponseConverter`` made."""
    value = datum.value
    headers = Headers([(k, v.value) for k, v in value["headers"].items()])
    cookies = [m.OutputString() for jar in (value.get("cookies") or []) for m in jar.values()]
    body = value["body"].value
    return HttpResponse(
        body if isinstance(body, bytes) else str(body).encode(),
        status=int(value["status_code"].value),
        headers=headers,
        cookies=cookies,
    )


class AzureDriver:
    """Runs an app through ``function_app(app)`` and the library's converters.

    ``event_schema`` picks the schema Event Grid deliveries use: ``"eventgrid"`` (the Event Grid
    event schema, the default on Azure) or ``"cloudevents"`` (CloudEvents 1.0); other options go to
    ``function_app``.
    """

    provider = "azure"

    def __init__(self, app: App, *, event_schema: str = "eventgrid", **options: Any) -> None:
        if event_schema not in ("eventgrid", "cloudevents"):
            raise ValueError(f"event_schema={event_schema!r}: use 'eventgrid' or 'cloudevents'")
        self.app = app
        self.event_schema = event_schema
        self.poisoned: list[outcomes.Poisoned] = []
        options.setdefault("poison_sink", self.poisoned.append)
        self.function_app = function_app(app, **options)
        self.functions = {f.get_function_name(): f for f in self.function_app.get_functions()}

    def _user(self, name: str) -> Any:
        return self.functions[name].get_user_function()

    def call(self, name: str, trigger: Any) -> Any:
        """Call the indexed function ``name`` with a trigger object (as the worker does, with a
        fresh ``context``); what it raises is what the host would see."""
        return self._user(name)(trigger, _Context(name))

    def binding_type(self, name: str) -> str:
        """The trigger binding type the worker indexed for a function (``blobTrigger``, ...)."""
        bindings = json.loads(self.functions[name].get_function_json())["bindings"]
        trigger = next(b for b in bindings if str(b.get("type", "")).endswith("Trigger"))
        return str(trigger["type"])

    def http(self, request: HttpRequest) -> HttpResponse:
        """Route like the host (by route template and method), then decode, call and encode."""
        from azure.functions.http import HttpRequestConverter, HttpResponseConverter

        from portafn.routing import PathDecodeError

        try:
            found = self.app.router.match(request.method, request.path)
        except PathDecodeError:
            found = None
        target = found.target if found is not None else None
        if found is None or target is None:
            # The host routes on the raw segment and the entry's runtime answers a path that is not
            # UTF-8 with 400, an unknown route with 404, in problem+json: the runtime gives both.
            from portafn.runtime import Runtime

            return Runtime(self.app, "azure").handle_http(request)
        request.path_params = dict(found.params)
        req = HttpRequestConverter.decode(http_datum(request), trigger_metadata={})
        resp = self._user(target.name)(req, _Context(target.name))
        datum = HttpResponseConverter.encode(resp, expected_type=None)
        return decode_http_response(datum)

    def deliver(self, function: Function, event: Event[Any]) -> Delivery:
        """Deliver one event as the host would and report what the entry made of it: a raise is a
        failed delivery (retried where the host retries that trigger); a Storage queue message the
        entry moved to its poison queue is a dead letter (the host sees success and deletes it)."""
        arg = self.native(function, event)
        before = len(self.poisoned)
        try:
            result = self.call(function.name, arg)
        except Exception as exc:
            binding = self.binding_type(function.name)
            return Delivery(
                ok=False,
                error=type(exc).__name__,
                retry=outcomes.is_retried(function.kind, servicebus=binding == "serviceBusTrigger"),
            )
        if len(self.poisoned) > before:
            return Delivery(ok=False, error=self.poisoned[-1].error, dead_letter=True)
        return Delivery(ok=True, result=result)

    def native(self, function: Function, event: Event[Any]) -> Any:
        """The trigger object the worker would pass ``function`` for ``event``, made by the
        library's converter from the payload and trigger metadata the host sends."""
        from azure.functions.meta import Datum

        kind = function.kind
        if kind in ("queue", "topic") and isinstance(event, Message):
            if self.binding_type(function.name) == "serviceBusTrigger":
                return self._servicebus_input(event)
            return self._queue_input(event)
        if kind == "schedule" and isinstance(event, Schedule):
            from azure.functions.timer import TimerRequestConverter

            payload = {"Schedule": {"AdjustForDST": True}, "ScheduleStatus": {}, "IsPastDue": event.past_due}
            return TimerRequestConverter.decode(Datum(json.dumps(payload), "json"), trigger_metadata={})
        if kind == "changes" and isinstance(event, Change):
            return self._documents(function, event)
        if kind == "storage" and isinstance(event, StorageEvent):
            if self.binding_type(function.name) == "blobTrigger":
                return self._blob_input(event)
            return self._event_grid_input(_blob_grid_event(event))
        if kind == "event":
            body = _cloud_event(event) if self.event_schema == "cloudevents" else _grid_event(event)
            return self._event_grid_input(body)
        raise TypeError(f"cannot deliver {type(event).__name__} to a {kind} function on Azure")

    def _blob_input(self, event: StorageEvent) -> Any:
        """The ``InputStream`` of a blob trigger (polling or Event Grid source alike)."""
        from azure.functions.blob import BlobConverter
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
            "Uri": Datum(_blob_url(obj.bucket, obj.key), "string"),
            "Properties": Datum(json.dumps(props), "json"),
            "Metadata": Datum("{}", "json"),
        }
        # The content is not part of a StorageEvent: the blob's bytes stand in as zeros of its size.
        return BlobConverter.decode(Datum(bytes(obj.size or 0), "bytes"), trigger_metadata=metadata)

    def _event_grid_input(self, body: dict[str, Any]) -> Any:
        from azure.functions.eventgrid import EventGridEventInConverter
        from azure.functions.meta import Datum

        return EventGridEventInConverter.decode(Datum(json.dumps(body), "json"), trigger_metadata={})

    def _documents(self, function: Function, change: Change[Any]) -> Any:
        """A ``DocumentList`` holding the item (or the attached outbox record) as the Cosmos store
        writes it (latest version)."""
        from azure.functions.cosmosdb import CosmosDBConverter
        from azure.functions.meta import Datum

        from portafn.store.port import Key
        from portafn_azure.cosmos_keys import attached_id, item_id

        if change.type == ATTACHED_CHANGE_TYPE:
            name = str(change.key["name"])
            doc = {"id": attached_id(name), "pk": change.key["partition"], "on": name, "ob": change.new}
            return CosmosDBConverter.decode(Datum(json.dumps([doc]), "json"), trigger_metadata={})
        new: Any = change.new
        if hasattr(new, "model_dump"):
            new = new.model_dump(mode="json")
        spec = function.trigger.table.spec  # type: ignore[union-attr]
        key = Key(change.key[spec.partition_key], change.key.get(spec.sort_key) if spec.sort_key else None)
        item = {
            "id": item_id(key),
            "pk": key.pk,
            "doc": new,
            "m": change.kind == "modify",
            "_etag": change.id,
        }
        if key.sk is not None:
            item["sk"] = key.sk
        return CosmosDBConverter.decode(Datum(json.dumps([item]), "json"), trigger_metadata={})

    def _queue_input(self, message: Message[Any]) -> Any:
        now = datetime.now(UTC)
        return queue_trigger_input(
            envelope_bytes(message, message.body, message.attributes),
            id=str(uuid.uuid4()),
            dequeue_count=message.delivery_attempt,
            insertion_time=now,
            expiration_time=now,
            next_visible_time=now,
            pop_receipt="AgAAAAMAAAAAAAAA",
        )

    def _servicebus_input(self, message: Message[Any]) -> Any:
        from azure.functions.meta import Datum
        from azure.functions.servicebus import ServiceBusMessageInConverter

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
        body = envelope_bytes(message, message.body)
        return ServiceBusMessageInConverter.decode(Datum(body, "bytes"), trigger_metadata=metadata)


def queue_trigger_input(
    content: bytes,
    *,
    id: str,
    dequeue_count: int,
    insertion_time: datetime,
    expiration_time: datetime,
    next_visible_time: datetime,
    pop_receipt: str,
) -> Any:
    """The ``azure.functions.QueueMessage`` a queue trigger function gets for a Storage queue
    message: ``content`` is the message after the host's base64 decoding, the rest its trigger
    metadata, decoded by the library's ``QueueMessageInConverter`` as the worker does."""
    from azure.functions.meta import Datum
    from azure.functions.queue import QueueMessageInConverter

    metadata = {
        "Id": Datum(id, "string"),
        "DequeueCount": Datum(str(dequeue_count), "string"),
        "InsertionTime": Datum(insertion_time.isoformat(), "string"),
        "ExpirationTime": Datum(expiration_time.isoformat(), "string"),
        "NextVisibleTime": Datum(next_visible_time.isoformat(), "string"),
        "PopReceipt": Datum(pop_receipt, "string"),
    }
    return QueueMessageInConverter.decode(Datum(content, "bytes"), trigger_metadata=metadata)


ACCOUNT = "devstoreaccount1"


def _blob_url(container: str, key: str) -> str:
    from urllib.parse import quote

    return f"http://127.0.0.1:10000/{ACCOUNT}/{container}/{quote(key)}"


def _when(event: Event[Any]) -> str:
    return (event.time or datetime.now(UTC)).isoformat().replace("+00:00", "Z")


def _plain(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    return value


def _blob_grid_event(event: StorageEvent) -> dict[str, Any]:
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
        "eventTime": _when(event),
        "data": {
            "api": "PutBlob" if created else "DeleteBlob",
            "contentType": obj.content_type or "application/octet-stream",
            "contentLength": obj.size,
            "eTag": obj.etag,
            "blobType": "BlockBlob",
            "url": _blob_url(obj.bucket, obj.key),
        },
        "dataVersion": "",
        "metadataVersion": "1",
    }


def _grid_event(event: Event[Any]) -> dict[str, Any]:
    """A neutral event in the Event Grid event schema."""
    return {
        "id": event.id,
        "topic": event.source,
        "subject": event.subject or "",
        "eventType": event.type,
        "eventTime": _when(event),
        "data": _plain(event.data),
        "dataVersion": event.dataschema or "",
        "metadataVersion": "1",
    }


def _cloud_event(event: Event[Any]) -> dict[str, Any]:
    """A neutral event in the CloudEvents 1.0 schema (as Event Grid delivers it)."""
    body: dict[str, Any] = {
        "specversion": "1.0",
        "id": event.id,
        "source": event.source,
        "type": event.type,
        "time": _when(event),
        "data": _plain(event.data),
        **{k: v for k, v in event.extensions.items() if isinstance(v, str | int | bool)},
    }
    for name in ("subject", "datacontenttype", "dataschema"):
        value = getattr(event, name, None)
        if value:
            body[name] = value
    return body

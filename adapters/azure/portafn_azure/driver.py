"""The contract-suite driver for Azure: requests and events go through the built ``FunctionApp``.

Each neutral request or event is written as the host would send it to the worker (a ``Datum``
plus trigger metadata), decoded by the azure-functions library's own converter, passed to the
function the ``FunctionApp`` indexed, and (for HTTP) the answer encoded by the library's response
converter and read back. Only the Functions host itself is left out; it cannot run here.

Messages are delivered as ``ctx.publish`` sends them (the CloudEvent in the JSON format, with
attributes as Service Bus application properties or, on Storage queues, the ``portafnattributes``
extension). Messages a Storage queue function dead-letters are kept in ``poisoned`` instead of
being sent to ``<queue>-poison`` (pass ``poison_sink=`` to send them somewhere real).

With ``PORTAFN_AZURE_DRIVER=worker`` the contract suite uses ``make_driver``'s other mode: the
same payloads go to the real Azure Functions Python worker over gRPC, running the packaged app
(``portafn_azure.dev.worker_driver``).
"""

from __future__ import annotations

import json
import os
import uuid
from datetime import datetime
from typing import Any

from portafn.app import App, Function
from portafn.events import Change, Event, Message, Schedule, StorageEvent
from portafn.http import Headers, HttpRequest, HttpResponse
from portafn.lazy import Lazy
from portafn.runtime import Runtime
from portafn.testing.drivers import Delivery, Driver
from portafn_azure import outcomes
from portafn_azure.entry import function_app
from portafn_azure.payloads import (
    Payload,
    blob_grid_event,
    blob_payload,
    cloud_event,
    decode,
    documents_payload,
    event_grid_payload,
    grid_event,
    http_datum,
    queue_message_payload,
    queue_payload,
    servicebus_payload,
    timer_payload,
)

__all__ = ["AzureDriver", "decode_http_response", "http_datum", "make_driver", "queue_trigger_input"]


class _Context:
    """What the worker passes as ``context`` (the fields portafn reads)."""

    def __init__(self, name: str) -> None:
        self.invocation_id = str(uuid.uuid4())
        self.function_name = name


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
        # Answers the requests no function is routed for, made on the first one and then kept.
        self._unrouted = Lazy(lambda: Runtime(app, "azure"))

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
            return self._unrouted.get().handle_http(request)
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
        return decode(self.binding_type(function.name), self.payload(function, event))

    def payload(self, function: Function, event: Event[Any]) -> Payload:
        """What the host sends the worker for ``event``: the trigger's data and its metadata."""
        kind = function.kind
        if kind in ("queue", "topic") and isinstance(event, Message):
            if self.binding_type(function.name) == "serviceBusTrigger":
                return servicebus_payload(event)
            return queue_payload(event)
        if kind == "schedule" and isinstance(event, Schedule):
            return timer_payload(event)
        if kind == "changes" and isinstance(event, Change):
            return documents_payload(function, event)
        if kind == "storage" and isinstance(event, StorageEvent):
            if self.binding_type(function.name) == "blobTrigger":
                return blob_payload(event)
            return event_grid_payload(blob_grid_event(event))
        if kind == "event":
            body = cloud_event(event) if self.event_schema == "cloudevents" else grid_event(event)
            return event_grid_payload(body)
        raise TypeError(f"cannot deliver {type(event).__name__} to a {kind} function on Azure")


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
    payload = queue_message_payload(
        content,
        id=id,
        dequeue_count=dequeue_count,
        insertion_time=insertion_time,
        expiration_time=expiration_time,
        next_visible_time=next_visible_time,
        pop_receipt=pop_receipt,
    )
    return decode("queueTrigger", payload)


WORKER_MODE = "PORTAFN_AZURE_DRIVER"


def make_driver(app: App) -> Driver:
    """The contract suite's Azure driver: in process (default), or through the real Python worker
    over gRPC when ``PORTAFN_AZURE_DRIVER=worker`` (``portafn_azure.dev.worker_driver``)."""
    mode = os.environ.get(WORKER_MODE, "inprocess")
    if mode == "worker":
        from portafn_azure.dev.worker_driver import AzureWorkerDriver

        return AzureWorkerDriver(app)
    if mode != "inprocess":
        raise ValueError(f"{WORKER_MODE}={mode!r}: use 'worker' or 'inprocess'")
    return AzureDriver(app)

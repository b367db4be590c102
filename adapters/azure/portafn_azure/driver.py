"""The contract-suite driver for Azure: requests and events go through the built ``FunctionApp``.

Each neutral request or event is written as the host would send it to the worker (a ``Datum``
plus trigger metadata), decoded by the azure-functions library's own converter, passed to the
function the ``FunctionApp`` indexed, and (for HTTP) the answer encoded by the library's response
converter and read back. Only the Functions host itself is left out; it cannot run here.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from portafn.app import App, Function
from portafn.events import Change, Event, Message, Schedule
from portafn.http import Headers, HttpRequest, HttpResponse
from portafn.testing.drivers import Delivery
from portafn_azure import batch
from portafn_azure.entry import function_app


class _Context:
    """What the worker passes as ``context`` (the fields portafn reads)."""

    def __init__(self, name: str) -> None:
        import uuid

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
    """Runs an app through ``function_app(app)`` and the library's converters."""

    provider = "azure"

    def __init__(self, app: App, **options: Any) -> None:
        self.app = app
        self.function_app = function_app(app, **options)
        self.functions = {f.get_function_name(): f for f in self.function_app.get_functions()}

    def _user(self, name: str) -> Any:
        return self.functions[name].get_user_function()

    def http(self, request: HttpRequest) -> HttpResponse:
        """Route like the host (by route template and method), then decode, call and encode."""
        from azure.functions.http import HttpRequestConverter, HttpResponseConverter

        found = self.app.router.match(request.method, request.path)
        target = found.target
        if target is None:
            # The host answers 404 for unknown routes; portafn's runtime says the same in problem+json.
            from portafn.runtime import Runtime

            return Runtime(self.app, "azure").handle_http(request)
        request.path_params = dict(found.params)
        req = HttpRequestConverter.decode(http_datum(request), trigger_metadata={})
        resp = self._user(target.name)(req, _Context(target.name))
        datum = HttpResponseConverter.encode(resp, expected_type=None)
        return decode_http_response(datum)

    def deliver(self, function: Function, event: Event[Any]) -> Delivery:
        """Deliver one event as the host would; a raise is a failed delivery the host retries."""
        from azure.functions.meta import Datum

        kind = function.kind
        try:
            if kind in ("queue", "topic") and isinstance(event, Message):
                arg = self._queue_input(event)
            elif kind == "schedule" and isinstance(event, Schedule):
                from azure.functions.timer import TimerRequestConverter

                payload = {
                    "Schedule": {"AdjustForDST": True},
                    "ScheduleStatus": {},
                    "IsPastDue": event.past_due,
                }
                arg = TimerRequestConverter.decode(Datum(json.dumps(payload), "json"), trigger_metadata={})
            elif kind == "changes" and isinstance(event, Change):
                arg = self._documents(function, event)
            else:
                raise NotImplementedError(f"the Azure driver does not deliver {kind} events yet")
            result = self._user(function.name)(arg, _Context(function.name))
        except NotImplementedError:
            raise
        except Exception as exc:
            return Delivery(ok=False, error=type(exc).__name__, retry=batch.is_retried(kind))
        return Delivery(ok=True, result=result)

    def _documents(self, function: Function, change: Change[Any]) -> Any:
        """A ``DocumentList`` holding the item as the Cosmos store writes it (latest version)."""
        from azure.functions.cosmosdb import CosmosDBConverter
        from azure.functions.meta import Datum

        from portafn.store.port import Key
        from portafn_azure.cosmos_keys import item_id

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
        from azure.functions.meta import Datum
        from azure.functions.queue import QueueMessageInConverter

        now = datetime.now(UTC).isoformat()
        metadata = {
            "Id": Datum(message.id, "string"),
            "DequeueCount": Datum(str(message.delivery_attempt), "string"),
            "InsertionTime": Datum(now, "string"),
            "ExpirationTime": Datum(now, "string"),
            "NextVisibleTime": Datum(now, "string"),
            "PopReceipt": Datum("AgAAAAMAAAAAAAAA", "string"),
        }
        return QueueMessageInConverter.decode(Datum(message.body, "bytes"), trigger_metadata=metadata)

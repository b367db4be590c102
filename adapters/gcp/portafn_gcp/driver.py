"""The contract suite's way into Cloud Functions: functions-framework's own flask app, in-process.

For each target the driver asks ``functions_framework.create_app`` to load a tiny generated entry
module (the same one line ``portafn package`` writes), then sends requests through flask's test
client: HTTP requests as they are, events as binary-mode CloudEvents built from the neutral
event the way Google would send them. The status is the outcome, as Pub/Sub push reads it.
"""

from __future__ import annotations

import itertools
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from portafn.app import App, Function
from portafn.cloudevents import from_dict, to_binary
from portafn.events import ATTACHED_CHANGE_TYPE, Change, Event, Message, Schedule, StorageEvent
from portafn.http import HttpRequest, HttpResponse
from portafn.reliability.publish import Outgoing
from portafn.testing.drivers import Delivery, no_native_attached
from portafn_gcp import events, outcomes
from portafn_gcp.entry import HTTP_TARGET
from portafn_gcp.publish import pubsub_attributes

_APPS: dict[str, App] = {}
_counter = itertools.count(1)
_lock = threading.Lock()
_ENTRY = "from portafn_gcp import targets; from portafn_gcp.driver import _APPS; globals().update(targets(_APPS[{key!r}]))\n"


class GcpDriver:
    """Sends requests and events to an app through functions-framework."""

    provider = "gcp"

    def __init__(self, app: App) -> None:
        self.app = app
        with _lock:
            self._key = f"app{next(_counter)}"
            _APPS[self._key] = app
        self._dir = Path(tempfile.mkdtemp(prefix="portafn-gcp-"))
        self._source = self._dir / f"portafn_entry_{self._key}.py"
        self._source.write_text(_ENTRY.format(key=self._key))
        self._clients: dict[str, Any] = {}
        self._errors: dict[int, str] = {}

    def _client(self, target: str) -> Any:
        if target not in self._clients:
            import flask
            import functions_framework

            ff_app = functions_framework.create_app(target=target, source=str(self._source))  # type: ignore[no-untyped-call]

            def record(sender: Any, exception: BaseException, **_: Any) -> None:
                # The status tells retry or not; the exception's type is what a test asserts.
                self._errors[threading.get_ident()] = type(exception).__name__

            flask.got_request_exception.connect(record, ff_app, weak=False)
            # No cookie jar: the request's own Cookie header must reach the function untouched.
            self._clients[target] = ff_app.test_client(use_cookies=False)
        return self._clients[target]

    def http(self, request: HttpRequest) -> HttpResponse:
        """Send a request to the HTTP target."""
        client = self._client(HTTP_TARGET)
        resp = client.open(
            request.path,
            method=request.method,
            query_string=[(k, v) for k, vs in request.query.items() for v in vs],
            headers=request.headers.items(),
            data=request.body,
        )
        headers = [(k, v) for k, v in resp.headers.items() if k.lower() != "set-cookie"]
        return HttpResponse(
            resp.get_data(),
            status=resp.status_code,
            headers=headers,
            cookies=resp.headers.getlist("Set-Cookie"),
        )

    def deliver(self, function: Function, event: Event[Any]) -> Delivery:
        """Deliver one event to one function as a binary-mode CloudEvent."""
        if event.type == ATTACHED_CHANGE_TYPE:
            return no_native_attached(self.provider)
        native = self.native(function, event)
        headers, body = to_binary(from_dict(native))
        self._errors.pop(threading.get_ident(), None)
        outcomes.last_outcome()  # forget any earlier delivery's
        resp = self._client(function.name).post("/", headers=headers, data=body)
        outcome = outcomes.last_outcome()
        if outcomes.is_ack(resp.status_code):
            if outcome is not None and outcome[0] == "dead_letter":
                # Acknowledged after the entry published it to the dead-letter topic.
                return Delivery(ok=False, error=outcome[1], dead_letter=True)
            return Delivery(ok=True)
        error = self._errors.pop(threading.get_ident(), None) or f"HTTP {resp.status_code}"
        return Delivery(ok=False, error=error, retry=True)

    def native(self, function: Function, event: Event[Any]) -> dict[str, Any]:
        """The CloudEvent (JSON format) Google would send for a neutral event."""
        for kind, encode in NATIVE:
            if isinstance(event, kind):
                return encode(function, event)
        from portafn.cloudevents import to_dict

        return to_dict(event)


def _message(function: Function, event: Any) -> dict[str, Any]:
    native = events.message_to_cloudevent(event)
    if isinstance(event.raw, Outgoing):
        # A message the app published: what PubSubPublisher would have sent for it.
        native["data"]["message"]["attributes"] = pubsub_attributes(event.raw)
    return native


def _schedule(function: Function, event: Any) -> dict[str, Any]:
    return events.schedule_to_cloudevent(event, job=function.name)


def _storage(function: Function, event: Any) -> dict[str, Any]:
    return events.storage_to_cloudevent(event)


def _change(function: Function, event: Any) -> dict[str, Any]:
    table: Any = getattr(function.trigger, "table", None)
    spec = getattr(table, "spec", None)
    pk = getattr(spec, "partition_key", None) or next(iter(event.key))
    return events.change_to_cloudevent(event, partition_key=pk, sort_key=getattr(spec, "sort_key", None))


NATIVE: tuple[tuple[type[Event[Any]], Callable[[Function, Any], dict[str, Any]]], ...] = (
    (Message, _message),
    (Schedule, _schedule),
    (StorageEvent, _storage),
    (Change, _change),
)
"""Neutral event type -> the Google CloudEvent that carries it (any other event goes as it is)."""

"""The test client: drive an app through a provider driver with neutral requests and events."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import Any

from portafn.app import App, Function
from portafn.changes import pending_changes, receivers, tail_cursor
from portafn.errors import FunctionNotFound
from portafn.events import Event
from portafn.factories import encode_payload, make_message, make_schedule, make_storage_event
from portafn.http import HeaderInput, HttpRequest, HttpResponse
from portafn.reliability.publish import Outgoing, Publisher, to_message, use_publisher
from portafn.testing.drivers import Delivery, Driver, LocalDriver
from portafn.triggers import ScheduleTrigger, StorageTrigger


class Deliveries(list[Delivery]):
    """The deliveries of one event to every function that takes it."""

    @property
    def ok(self) -> bool:
        """True when every delivery succeeded."""
        return all(d.ok for d in self)

    @property
    def errors(self) -> list[str]:
        """The error names of the failed deliveries."""
        return [d.error or "" for d in self if not d.ok]


class Client:
    """Send HTTP requests and deliver messages, schedules, storage events and raw events to an app.

    With no driver it runs in process on the neutral model; the pytest plugin gives it the driver
    of each selected provider, so the same test runs through every adapter.
    """

    def __init__(self, app: App, driver: Driver | None = None) -> None:
        self.app = app
        self.driver: Driver = driver or LocalDriver(app)
        # Changes made before the client existed are history, not this test's to deliver.
        self._change_cursors = {name: tail_cursor(table) for name, table in app.watched_tables().items()}
        self.published: list[Outgoing] = []  # what capture_published() kept

    @property
    def provider(self) -> str:
        """The driver's provider name."""
        return self.driver.provider

    # -- HTTP ---------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        body: bytes | str | None = None,
        headers: HeaderInput = None,
        query: Mapping[str, list[str]] | str | None = None,
    ) -> HttpResponse:
        """Send one request; a ``json`` body sets ``Content-Type: application/json``."""
        request = HttpRequest(method, path, query=query, headers=headers, body=body, client="127.0.0.1")
        if json is not None:
            request.body = encode_payload(json)
            if "content-type" not in request.headers:
                request.headers.set("content-type", "application/json")
        return self.driver.http(request)

    def get(self, path: str, **kwargs: Any) -> HttpResponse:
        """``request("GET", ...)``."""
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> HttpResponse:
        """``request("POST", ...)``."""
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> HttpResponse:
        """``request("PUT", ...)``."""
        return self.request("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> HttpResponse:
        """``request("DELETE", ...)``."""
        return self.request("DELETE", path, **kwargs)

    # -- events -------------------------------------------------------------------------------

    def send(self, queue: str, data: Any, *, attributes: Mapping[str, str] | None = None) -> Deliveries:
        """Deliver one message to every function on queue or topic ``queue``."""
        targets = self.app.consumers(queue)
        if not targets:
            raise FunctionNotFound(f"app {self.app.name!r} has no function on queue or topic {queue!r}")
        message = make_message(data, queue=queue, attributes=attributes)
        return self._deliver(targets, message)

    def fire(self, function: str) -> Delivery:
        """Fire a schedule function now."""
        fn = self.app.function(function)
        if not isinstance(fn.trigger, ScheduleTrigger):
            raise FunctionNotFound(f"{function!r} is a {fn.kind} function, not a schedule")
        return self.driver.deliver(fn, make_schedule(fn))

    def drop(self, bucket: str, key: str, *, action: str = "created", size: int | None = None) -> Deliveries:
        """Deliver a storage event to every function watching ``bucket`` for ``action``."""
        targets = [
            fn
            for fn in self.app.by_kind("storage")
            if isinstance(fn.trigger, StorageTrigger)
            and fn.trigger.bucket == bucket
            and fn.trigger.on == action
        ]
        if not targets:
            raise FunctionNotFound(f"app {self.app.name!r} has no function on {action} objects in {bucket!r}")
        return self._deliver(targets, make_storage_event(bucket, key, action=action, size=size))

    def emit(self, function: str, event: Event[Any]) -> Delivery:
        """Deliver any neutral event to one function by name."""
        return self.driver.deliver(self.app.function(function), event)

    def deliver_published(self, *, limit: int = 1000) -> Deliveries:
        """Deliver what the app's functions published (``ctx.publish``) to its own topic and queue
        functions, through the driver, as the provider's broker would; messages published while
        delivering are delivered too, in order, up to ``limit``. Messages are kept while
        ``capture_published()`` is active (the pytest plugin does it for every provider but
        ``local``, whose bus delivers at once, leaving nothing here)."""
        out = Deliveries()
        while self.published and len(out) < limit:
            outgoing = self.published.pop(0)
            targets = self.app.consumers(outgoing.topic)
            message = to_message(outgoing)
            out.extend(self.driver.deliver(fn, message) for fn in targets)
        return out

    def capture_published(self) -> AbstractContextManager[None]:
        """A context manager in which whatever the app publishes is kept in ``published`` for
        ``deliver_published`` instead of going to a broker."""
        return use_publisher(lambda runtime: _Capture(self.published))

    def deliver_changes(self) -> Deliveries:
        """Deliver the tables' pending changes to the ``@app.changes`` functions, in order, through
        the driver, as the store's change source (Streams, change feed, document events) would."""
        out = Deliveries()
        for name, table in self.app.watched_tables().items():
            functions = self.app.change_functions(table)
            cursor = self._change_cursors.get(name)
            for event, after in pending_changes(table, cursor):
                if event is not None:
                    out.extend(self.driver.deliver(fn, event) for fn in receivers(functions, event))
                cursor = after
            self._change_cursors[name] = cursor
        return out

    def _deliver(self, targets: list[Function], event: Event[Any]) -> Deliveries:
        return Deliveries(self.driver.deliver(fn, event) for fn in targets)


class LocalClient(Client):
    """A ``Client`` on the neutral model, in process, with no provider in between."""

    def __init__(self, app: App) -> None:
        super().__init__(app, LocalDriver(app))

    @property
    def runtime(self) -> Any:
        """The runtime the local driver calls (for the CLI and low-level tests)."""
        assert isinstance(self.driver, LocalDriver)
        return self.driver.runtime


class _Capture(Publisher):
    """A publisher that keeps messages for the client to deliver through its driver."""

    def __init__(self, sink: list[Outgoing]) -> None:
        self.sink = sink

    def publish(self, message: Outgoing) -> None:
        self.sink.append(message)

"""In-process invocation on the neutral model: what tests, the CLI and the local server use.

``LocalClient(app)`` sends HTTP requests and delivers messages, schedules and storage events to an
app's functions through the same ``Runtime`` the adapters use, with no provider in between.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel
from pydantic_core import to_json

from portafn.app import App, Function
from portafn.errors import FunctionNotFound
from portafn.events import Event, Message, Schedule, StorageEvent, StorageObject, now_utc
from portafn.http import HeaderInput, HttpRequest, HttpResponse
from portafn.runtime import Runtime
from portafn.triggers import QueueTrigger, ScheduleTrigger, StorageTrigger, TopicTrigger


def encode_payload(data: Any) -> bytes:
    """A message payload as bytes: bytes pass, str is UTF-8, anything else is JSON."""
    if isinstance(data, bytes):
        return data
    if isinstance(data, str):
        return data.encode()
    if isinstance(data, BaseModel):
        return data.model_dump_json().encode()
    return to_json(data)


def make_message(
    data: Any, *, queue: str, attributes: Mapping[str, str] | None = None, delivery_attempt: int = 1
) -> Message[Any]:
    """A neutral message as a local queue would deliver it."""
    body = encode_payload(data)
    decoded: Any
    try:
        decoded = json.loads(body)
    except ValueError:
        decoded = body.decode("utf-8", errors="replace")
    return Message[Any](
        id=str(uuid.uuid4()),
        source=f"portafn://local/queues/{queue}",
        type="portafn.message",
        time=now_utc(),
        datacontenttype="application/json",
        data=decoded,
        body=body,
        attributes=dict(attributes or {}),
        delivery_attempt=delivery_attempt,
        queue=queue,
    )


def make_schedule(fn: Function) -> Schedule:
    """A neutral schedule firing for ``fn`` now."""
    trigger = fn.trigger
    cron = trigger.cron.expression if isinstance(trigger, ScheduleTrigger) else None
    return Schedule(
        id=str(uuid.uuid4()),
        source=f"portafn://local/schedules/{fn.name}",
        type="portafn.schedule",
        time=now_utc(),
        cron=cron,
    )


def make_storage_event(
    bucket: str, key: str, *, action: str = "created", size: int | None = None, content_type: str | None = None
) -> StorageEvent:
    """A neutral storage event about ``bucket/key``."""
    return StorageEvent(
        id=str(uuid.uuid4()),
        source=f"portafn://local/buckets/{bucket}",
        type=f"portafn.storage.{action}",
        subject=key,
        time=now_utc(),
        data=StorageObject(bucket=bucket, key=key, size=size, content_type=content_type),
        action=action,  # type: ignore[arg-type]
    )


class LocalClient:
    """Drive an app in process: HTTP requests, messages, schedules and storage events."""

    def __init__(self, app: App, *, provider: str = "local") -> None:
        self.app = app
        self.runtime = Runtime(app, provider)

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
        """Send one request; a JSON body sets ``Content-Type: application/json``."""
        request = HttpRequest(method, path, query=query, headers=headers, body=body, client="127.0.0.1")
        if json is not None:
            request.body = encode_payload(json)
            if "content-type" not in request.headers:
                request.headers.set("content-type", "application/json")
        return self.runtime.handle_http(request)

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

    def send(self, queue: str, data: Any, *, attributes: Mapping[str, str] | None = None) -> list[Any]:
        """Deliver one message to every function on queue or topic ``queue``; returns their results."""
        targets = [
            fn
            for fn in self.app.functions.values()
            if (isinstance(fn.trigger, QueueTrigger) and fn.trigger.queue == queue)
            or (isinstance(fn.trigger, TopicTrigger) and fn.trigger.topic == queue)
        ]
        if not targets:
            raise FunctionNotFound(f"app {self.app.name!r} has no function on queue or topic {queue!r}")
        message = make_message(data, queue=queue, attributes=attributes)
        return [self.runtime.handle_event(fn, message) for fn in targets]

    def fire(self, function: str) -> Any:
        """Fire a schedule function now."""
        fn = self.app.function(function)
        if not isinstance(fn.trigger, ScheduleTrigger):
            raise FunctionNotFound(f"{function!r} is a {fn.kind} function, not a schedule")
        return self.runtime.handle_event(fn, make_schedule(fn))

    def drop(self, bucket: str, key: str, *, action: str = "created", size: int | None = None) -> list[Any]:
        """Deliver a storage event to every function watching ``bucket`` for ``action``."""
        targets = [
            fn
            for fn in self.app.by_kind("storage")
            if isinstance(fn.trigger, StorageTrigger) and fn.trigger.bucket == bucket and fn.trigger.on == action
        ]
        if not targets:
            raise FunctionNotFound(f"app {self.app.name!r} has no function on {action} objects in {bucket!r}")
        event = make_storage_event(bucket, key, action=action, size=size)
        return [self.runtime.handle_event(fn, event) for fn in targets]

    def emit(self, function: str, event: Event[Any]) -> Any:
        """Deliver any neutral event to one function by name."""
        return self.runtime.handle_event(function, event)

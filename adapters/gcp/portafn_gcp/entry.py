"""functions-framework targets built from an ``App`` in one line.

``targets(app)`` returns ``{"http": <HTTP target>, "<event function name>": <CloudEvent target>,
...}``; an entry module does ``globals().update(targets(app))`` and functions-framework finds each
by ``--target``. The HTTP target routes every ``http`` function of the app; each CloudEvent target
is registered with functions-framework's ``cloud_event`` decorator, so ``--signature-type`` may be
omitted.

A CloudEvent target reads the flask request itself (binary or structured CloudEvent, a legacy
background event, or a raw Pub/Sub push) so that nothing functions-framework's own conversion
drops (ordering key, delivery attempt, protobuf data) is lost.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

from portafn.app import App, Function
from portafn.cloudevents import from_dict, from_http, is_cloudevent
from portafn.errors import EventFormatError, RegistrationError
from portafn.events import Event
from portafn.runtime import Invocation, Runtime, on_platform
from portafn_gcp import events, outcomes
from portafn_gcp.http import to_flask, to_request

HTTP_TARGET = "http"
# Set by Cloud Run functions (and Cloud Functions) in the function's container.
PLATFORM_ENV = ("K_SERVICE", "FUNCTION_TARGET")


def targets(app: App, runtime: Runtime | None = None) -> dict[str, Callable[..., Any]]:
    """Every functions-framework target of ``app``, by target name."""
    import functions_framework

    rt = runtime or Runtime(app, "gcp")
    if on_platform(*PLATFORM_ENV):
        rt.prepare()  # while the framework loads the source, before the first request
    out: dict[str, Callable[..., Any]] = {}
    if app.by_kind("http"):
        out[HTTP_TARGET] = functions_framework.http(_named(http_target(rt), HTTP_TARGET))
    for fn in app.functions.values():
        if fn.kind == "http":
            continue
        if fn.name == HTTP_TARGET:
            raise RegistrationError(fn.name, f"the name {HTTP_TARGET!r} is the HTTP target's on GCP")
        out[fn.name] = functions_framework.cloud_event(_named(event_target(rt, fn), fn.name))
    return out


def _named(func: Callable[..., Any], name: str) -> Callable[..., Any]:
    # functions-framework keys its signature registry by __name__.
    func.__name__ = name
    func.__qualname__ = name
    return func


def http_target(runtime: Runtime) -> Callable[[Any], Any]:
    """The HTTP target: flask request in, flask response out, routed by the app's router."""

    def target(request: Any) -> Any:
        response = runtime.handle_http(to_request(request), _invocation(request))
        return to_flask(response)

    return target


def event_target(runtime: Runtime, fn: Function) -> Callable[[Any], None]:
    """The CloudEvent target of one event function."""

    def target(cloud_event: Any) -> None:
        request = _current_request()
        event = read_event(request) if request is not None else from_sdk(cloud_event)
        outcomes.deliver(runtime, fn, events.translate(fn, event), _invocation(request), native=event)

    return target


def read_event(request: Any) -> Event[Any]:
    """The event a flask request carries, in whichever form it came."""
    headers = dict(request.headers.items())
    body: bytes = request.get_data(cache=True)
    if is_cloudevent(headers):
        return from_http(headers, body)
    try:
        parsed = json.loads(body)
    except ValueError:
        raise EventFormatError(events.PROVIDER, "body", "neither a CloudEvent nor a JSON event") from None
    if not isinstance(parsed, dict):
        raise EventFormatError(events.PROVIDER, "body", "an event body is a JSON object")
    return events.cloudevent(parsed, request.path)


def from_sdk(cloud_event: Any) -> Event[Any]:
    """An ``Event`` from the CloudEvents SDK object functions-framework made (no request at hand)."""
    attrs = dict(cloud_event.get_attributes())
    data = cloud_event.get_data()
    key = "data_base64" if isinstance(data, bytes | bytearray) else "data"
    if key == "data_base64":
        import base64

        data = base64.b64encode(bytes(data)).decode()
    return from_dict({**attrs, key: data})


def _current_request() -> Any:
    import flask

    # The real request object, not the context-local proxy, so it can be kept in ``raw``.
    return flask.request._get_current_object() if flask.has_request_context() else None  # type: ignore[attr-defined]


def _invocation(request: Any) -> Invocation:
    execution_id = None
    if request is not None:
        execution_id = request.headers.get("Function-Execution-Id") or request.headers.get(
            "X-Cloud-Trace-Context"
        )
    if execution_id:
        execution_id = execution_id.split("/", 1)[0]
    return Invocation(
        request_id=execution_id, raw={"request": request, "service": os.environ.get("K_SERVICE")}
    )

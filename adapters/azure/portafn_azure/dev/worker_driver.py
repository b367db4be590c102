"""The contract suite's Azure driver in worker mode (``PORTAFN_AZURE_DRIVER=worker``).

Every request and event goes through the real Azure Functions Python worker (4.34.0) running the
app as ``portafn package`` builds it: the driver writes the payload the host would send
(``portafn_azure.payloads``, the same ones the in-process driver decodes), sends it as one
InvocationRequest over gRPC (``worker_session``) and reads the InvocationResponse back. The
worker runs in its own process and reaches the same store as the test (``PORTAFN_STORE`` set to
the cell's store URL), so ``memory://`` cannot serve this mode. Where the shared runtimes are
absent it skips with the reason (fails under CI).

Still the driver's part, as the host's: route matching (the route params come with the request),
and delivering what the app published (the capture hook in the worker hands it back).
"""

from __future__ import annotations

import base64
import os
import sys
from typing import Any

import pytest

from portafn.app import App, Function
from portafn.events import Event
from portafn.http import Headers, HttpRequest, HttpResponse
from portafn.runtime import Runtime
from portafn.testing.app_env import app_environment
from portafn.testing.drivers import Delivery
from portafn_azure import outcomes
from portafn_azure.dev.worker import PREPARED, Worker, WorkerUnavailable
from portafn_azure.dev.worker_session import WorkerSession, session_for
from portafn_azure.driver import AzureDriver
from portafn_azure.payloads import http_datum, typed_data


def unavailable(reason: str) -> None:
    """Skip with ``reason``, as in a user's clone; under CI (``CI`` set) fail instead."""
    if os.environ.get("CI"):
        pytest.fail(f"CI needs the Azure Functions worker: {reason}", pytrace=False)
    pytest.skip(reason)


def app_reference(app: App) -> str:
    """``module:attribute`` of the module-level name bound to ``app`` (what ``portafn package``
    imports); the defining module is preferred over those that import it (a conftest)."""
    found = [
        (name, attr)
        for name, module in list(sys.modules.items())
        if module is not None and not name.startswith("_")
        for attr, value in list(vars(module).items())
        if value is app
    ]
    own = [f for f in found if not f[0].rsplit(".", 1)[-1].startswith(("conftest", "test_"))]
    if not own:
        raise LookupError(
            f"app {app.name!r} is bound to no module-level name that `portafn package` can import"
        )
    # The module that defines the handlers is the app's own; an entry module only imports it.
    defining = {fn.handler.__module__ for fn in app.functions.values()}
    name, attr = min(own, key=lambda f: (f[0] not in defining, len(f[0])))
    return f"{name}:{attr}"


def error_name(message: str) -> str:
    """The exception type in the worker's ``"<Type>: <message>"`` exception text."""
    return message.split(":", 1)[0].strip() or "Exception"


def http_response(answer: dict[str, Any]) -> HttpResponse:
    """A portafn response from the worker's HTTP return value (500 when the function raised,
    as the host answers)."""
    http = (answer.get("return_value") or {}).get("http")
    if answer["status"] != "Success" or http is None:
        return HttpResponse(b"", status=500)
    body = http.get("body") or {}
    if "bytes" in body:
        raw = base64.b64decode(body["bytes"])
    else:
        raw = str(body.get("string") or body.get("json") or "").encode()
    cookies = [set_cookie(c) for c in http.get("cookies", [])]
    headers = Headers(list(http.get("headers", {}).items()))
    return HttpResponse(raw, status=int(http.get("status_code") or 200), headers=headers, cookies=cookies)


def set_cookie(cookie: dict[str, Any]) -> str:
    """A ``Set-Cookie`` value from the worker's ``RpcHttpCookie`` (protobuf JSON), attributes in
    the order ``http.cookies`` writes them, so both driver modes give the same string."""
    from datetime import datetime
    from email.utils import format_datetime

    attrs: dict[str, str | None] = {}
    if cookie.get("domain", {}).get("value"):
        attrs["Domain"] = cookie["domain"]["value"]
    if "expires" in cookie:
        attrs["Expires"] = format_datetime(datetime.fromisoformat(cookie["expires"]["value"]), usegmt=True)
    if cookie.get("http_only", {}).get("value"):
        attrs["HttpOnly"] = None
    if "max_age" in cookie:
        attrs["Max-Age"] = f"{cookie['max_age']['value']:g}"
    if cookie.get("path", {}).get("value"):
        attrs["Path"] = cookie["path"]["value"]
    if cookie.get("same_site") in ("Lax", "Strict", "ExplicitNone"):
        attrs["SameSite"] = "None" if cookie["same_site"] == "ExplicitNone" else cookie["same_site"]
    if cookie.get("secure", {}).get("value"):
        attrs["Secure"] = None
    parts = [f"{cookie['name']}={cookie.get('value', '')}"]
    parts += [name if value is None else f"{name}={value}" for name, value in attrs.items()]
    return "; ".join(parts)


class AzureWorkerDriver:
    """Sends each request and event through the real worker running the packaged app."""

    provider = "azure"

    def __init__(self, app: App, **options: Any) -> None:
        try:
            self.worker: Worker = PREPARED.get()
        except WorkerUnavailable as exc:
            unavailable(str(exc))
        self.app = app
        self.app_ref = app_reference(app)
        self.inner = AzureDriver(app, **options)  # payloads and the bindings the worker indexes
        self.runtime = Runtime(app, "azure")
        self.poisoned: list[outcomes.Poisoned] = []
        self.last_logs: list[dict[str, Any]] = []  # the RpcLogs of the latest invocation

    def session(self) -> WorkerSession:
        """The worker serving this app on the current store (started on first use)."""
        from portafn.store.registry import current_store

        url = current_store().url
        if url.startswith("memory:"):
            pytest.skip("worker mode: the worker is another process and cannot share a memory:// store")
        # As local.settings.json "Values": what the app declares and what the test set for it.
        settings = app_environment(self.app)
        settings["PORTAFN_STORE"] = url
        return session_for(self.app_ref, self.worker, settings)

    def invoke(self, name: str, data: dict[str, Any], metadata: dict[str, Any]) -> dict[str, Any]:
        """One invocation; what the function published goes on to the test's publisher."""
        from portafn.reliability.publish import Outgoing, resolve_publisher

        answer = self.session().invoke(name, data, metadata)
        self.last_logs = answer["logs"]
        for record in answer["published"]:
            resolve_publisher(self.runtime).publish(Outgoing.from_record(record))
        return answer

    def http(self, request: HttpRequest) -> HttpResponse:
        """Route like the host (by route template and method), then invoke the function."""
        found = self.app.router.match(request.method, request.path)
        if found.target is None:
            return self.runtime.handle_http(request)  # the host's 404/405, in portafn's words
        request.path_params = dict(found.params)
        metadata = {k: {"string": v} for k, v in request.path_params.items()}
        return http_response(self.invoke(found.target.name, typed_data(http_datum(request)), metadata))

    def deliver(self, function: Function, event: Event[Any]) -> Delivery:
        """Deliver one event as the host would; a Failure is a failed delivery (retried where the
        host retries that trigger), a poisoned Storage queue message a dead letter."""
        payload = self.inner.payload(function, event)
        metadata = {k: typed_data(v) for k, v in payload.metadata.items()}
        answer = self.invoke(function.name, typed_data(payload.data), metadata)
        if answer["status"] != "Success":
            servicebus = self.inner.binding_type(function.name) == "serviceBusTrigger"
            return Delivery(
                ok=False,
                error=error_name(answer.get("exception", "")),
                retry=outcomes.is_retried(function.kind, servicebus=servicebus),
            )
        if answer["poisoned"]:
            record = answer["poisoned"][-1]
            self.poisoned.append(outcomes.Poisoned(**{**record, "content": record["content"].encode()}))
            return Delivery(ok=False, error=record["error"], dead_letter=True)
        return Delivery(ok=True)
